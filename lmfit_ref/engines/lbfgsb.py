"""L-BFGS-B, by ``scipy.optimize.fmin_l_bfgs_b``, on the sum of squares.

Levenberg-Marquardt uses the structure of least squares (the Jacobian of
the residual vector). L-BFGS-B (Byrd, Lu, Nocedal and Zhu 1995) is a
general minimiser of one scalar function: here ``f(u) = sum(r(u)**2)``,
divided by its value at the start (L-BFGS-B's stopping tests are absolute,
so the sum of squares is put on a scale of 1 whatever the data's units).
It builds a low-rank approximation of the inverse Hessian from the last
``m`` steps and gradients (limited-memory BFGS), and takes a line search
along the quasi-Newton direction. The gradient is ``2 J^T r``, with the
Jacobian the Minimizer gives every engine (forward differences in the
user's units, or ``Dfun``); called without one, SciPy approximates it by
forward differences of ``f`` with an absolute step ``epsilon``.

Bounds: L-BFGS-B can handle box bounds itself (the "B"), but here it gets
the same internal, unbounded variables as every engine (``bounds.py``), so
that all engines see one problem and one interface; ``book/engines.md``
measures both ways. A ``bounds=`` keyword is therefore refused.

It gives no covariance: the stage after every engine (``certify.py``)
checks its point and computes the error bars.

Notation
--------
u      internal vector, shape (n,)
r      residual vector, shape (N,)
f      sum of squares, ``r @ r``

References: R. H. Byrd, P. Lu, J. Nocedal, C. Zhu, "A limited memory
algorithm for bound constrained optimization", SIAM J. Sci. Comput. 16
(1995); SciPy's ``fmin_l_bfgs_b`` documentation.

Book: book/engines.md
"""
import math

import numpy as np
from scipy.optimize import fmin_l_bfgs_b

from .base import EngineResult

#: Keywords passed on to ``scipy.optimize.fmin_l_bfgs_b`` (manual 3.5).
KEYWORDS = ("m", "factr", "pgtol", "epsilon", "iprint", "maxfun", "maxiter", "disp",
            "callback", "maxls")
_ACCEPTED = frozenset(KEYWORDS)


def run(residual, u0, jacobian=None, box=None, evaluations=None, **kws):
    """Minimise ``sum(residual(u)**2)`` from `u0` with L-BFGS-B.

    Parameters
    ----------
    residual : callable
        ``residual(u) -> ndarray, shape (N,)``.
    u0 : ndarray, shape (n,)
    jacobian : callable or None
        ``jacobian(u, r) -> ndarray, shape (N, n)``; the gradient is then
        ``2 J^T r``. None: SciPy's finite differences.
    box, evaluations : ignored
        (A search region, used by annealing only; L-BFGS-B keeps to its own
        ``maxfun``.)
    **kws
        Any of `KEYWORDS`, passed to ``fmin_l_bfgs_b``.

    Returns
    -------
    EngineResult
        ``u`` is L-BFGS-B's final iterate, the lowest point it accepted;
        ``info = {'warnflag': int, 'nit': int, 'funcalls': int}`` (L-BFGS-B's
        own evaluations; ``nfev`` adds the one at the start that sets the scale).

    Examples
    --------
    >>> import numpy as np
    >>> res = run(lambda u: np.array([u[0] - 1.0, 10.0 * (u[1] - u[0]**2)]), np.zeros(2))
    >>> res.success, np.round(res.u, 4).tolist()
    (True, [1.0, 1.0])
    """
    unknown = kws.keys() - _ACCEPTED
    if unknown:
        hint = " (bounds come from the Parameters' min and max)" if "bounds" in unknown else ""
        raise TypeError(f"lbfgsb got unexpected keyword(s) {sorted(unknown)}{hint}; "
                        f"it takes {', '.join(KEYWORDS)} and Dfun")

    # L-BFGS-B's stopping tests are absolute (pgtol on the gradient): on data
    # of small magnitude it would stop far from the minimum. The objective is
    # therefore the sum of squares relative to its value at the start.
    r0 = residual(u0)
    f0 = float(r0 @ r0)
    scale = 1.0 / f0 if f0 > 0 and math.isfinite(f0) else 1.0

    # (errstate: a residual past 1e154 overflows r @ r to inf, which is
    # the right value here, not a reason for a warning)
    if jacobian is None:
        def objective(u):
            r = residual(u)
            with np.errstate(over="ignore"):
                return float(r @ r) * scale
    else:
        def objective(u):
            r = residual(u)
            with np.errstate(over="ignore"):
                f = float(r @ r) * scale
            return f, 2.0 * scale * (jacobian(u, r).T @ r)

    u, f, info = fmin_l_bfgs_b(objective, u0, approx_grad=jacobian is None, **kws)
    # (the start was evaluated once more, above: count it)
    message = info["task"]
    message = message.decode() if isinstance(message, bytes) else str(message)
    return EngineResult(u=np.array(u, dtype=float), success=info["warnflag"] == 0,
                        message=f"L-BFGS-B: {message}",
                        nfev=int(info["funcalls"]) + 1,
                        info={"warnflag": int(info["warnflag"]), "nit": int(info["nit"]),
                              "funcalls": int(info["funcalls"])})
