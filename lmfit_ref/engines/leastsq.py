"""Levenberg-Marquardt, by MINPACK's lmder through scipy.optimize.leastsq.

The method (More 1978; MINPACK-1, More, Garbow and Hillstrom 1980) solves,
at each step, the damped linearised problem::

    minimise |r(u) + J du|**2  subject to  |diag * du| <= Delta

a trust region of radius Delta around the current u. Large Delta gives a
Gauss-Newton step, small Delta a short gradient step; Delta grows after
steps that reduce the sum of squares as predicted and shrinks after those
that do not. Only improving steps are accepted, so the final u is the best
point visited.

*The Jacobian.* MINPACK's lmdif would build J by forward differences in
its own variable u, with steps relative to |u_j|. Here u is the internal
variable of a bounds transform, and such steps are wrong in both
directions: they vanish where u ~ 0 (the middle of two bounds) and are
huge in P where u is large (far from a single bound). So MINPACK runs as
lmder, given a Jacobian: forward differences in the user's units, chained
through dP/du (``differences.py``, ``objective.Objective.jacobian``), or
the user's ``Dfun``. The cost is the same, n evaluations per Jacobian.

Stopping (MINPACK's ``info``, here ``ier``): 1 the sum of squares changed
by at most ftol (relative), 2 the step changed u by at most xtol
(relative), 3 both, 4 the residual is orthogonal to the columns of J to
gtol; these four are success. 5 maxfev evaluations were used, 6-8 a
tolerance is too small for further progress: failures. 0 is improper
input. Whether the point is a minimum is then decided after the engine,
in units of the standard errors (``certify.py``).

*Initial step bound.* MINPACK bounds the first step by ``factor`` times
the scaled length of u0. The recommended 100 lets the first step fly far
from a poor start: on NIST's BoxBOD from start 1 it lands on a plateau
where the model no longer depends on b2, and the fit stops there.
``factor=1`` keeps the first steps near the start; the trust region still
grows as fast as the steps succeed.

*Non-finite residuals.* A trial step can land where the model overflows
or is undefined; the hot path then raises ``FloatingPointError``. MINPACK
cannot take an exception, so `_Guarded` answers such a step with a huge
residual (`REJECTED`): MINPACK rejects it and shrinks its trust region.
Only at the start is a non-finite residual the user's error.

*Budget.* ``maxfev`` counts every call of the user's function, the
Jacobians' included (lmder alone would count only its trial steps). When
it is spent the run stops at the best point it has accepted.

Notation
--------
u      internal vector, shape (n,)
r      residual vector, shape (N,)
J      Jacobian dr/du, shape (N, n)

References: J. J. More, "The Levenberg-Marquardt algorithm: implementation
and theory", Lecture Notes in Mathematics 630 (1978); MINPACK-1 user guide,
ANL-80-74.

Book: book/fitting.md
"""
import numbers

import numpy as np
from scipy.optimize import leastsq as _scipy_leastsq

from .base import EngineResult

#: Keywords passed on to ``scipy.optimize.leastsq`` (``epsfcn`` and
#: ``col_deriv`` are taken by the Minimizer: they shape the Jacobian).
KEYWORDS = ("xtol", "ftol", "gtol", "maxfev", "factor", "diag")

_ACCEPTED = frozenset(KEYWORDS)

#: MINPACK ``info`` values that mean convergence.
SUCCESS_CODES = (1, 2, 3, 4)

#: What a trial point with a non-finite residual returns to MINPACK: a
#: residual so large that the step is rejected and the trust region shrinks.
REJECTED = 1.0e100


def defaults(nvarys):
    """The manual's defaults (3.5): xtol = ftol = 1e-7, maxfev = 1000*(nvar+1); factor = 1.

    >>> defaults(4)
    {'xtol': 1e-07, 'ftol': 1e-07, 'maxfev': 5000, 'factor': 1.0}
    """
    # deviation: MINPACK's (and lmfit 0.5's) initial step bound is
    # factor=100; 1 keeps the first step near the start (module docstring).
    return {"xtol": 1.0e-7, "ftol": 1.0e-7, "maxfev": 1000 * (nvarys + 1), "factor": 1.0}


def run(residual, u0, jacobian=None, box=None, evaluations=None, **kws):
    """Minimise ``sum(residual(u)**2)`` from `u0` with Levenberg-Marquardt.

    Parameters
    ----------
    residual : callable
        ``residual(u) -> ndarray, shape (N,)`` with N >= n.
    u0 : ndarray, shape (n,)
        Starting internal vector.
    jacobian : callable or None
        ``jacobian(u, r) -> ndarray, shape (N, n)``, dr/du at u, where r is
        ``residual(u)``. None: MINPACK's own forward differences in u.
    box : ignored
        (A search region, used by annealing only.)
    evaluations : callable or None
        ``evaluations() -> int``, all calls of the user's function so far
        (the Jacobian's included), to keep within ``maxfev``.
    **kws
        Any of `KEYWORDS`, passed to ``scipy.optimize.leastsq``; unset ones
        take the values of `defaults`.

    Returns
    -------
    EngineResult
        With ``info = {'ier': int, 'lmdif_message': str, 'nonfinite': int}``.

    Raises
    ------
    TypeError
        For a keyword leastsq does not take, or a tolerance or ``maxfev``
        that is not a number of the right kind.

    Examples
    --------
    >>> res = run(lambda u: np.array([u[0] - 1.0, 10.0 * (u[1] - u[0]**2)]), np.zeros(2))
    >>> res.success, np.round(res.u, 6).tolist(), res.info['ier'] in SUCCESS_CODES
    (True, [1.0, 1.0], True)
    """
    unknown = kws.keys() - _ACCEPTED
    if unknown:
        raise TypeError(f"leastsq got unexpected keyword(s) {sorted(unknown)}; "
                        f"it takes {', '.join(KEYWORDS)}, epsfcn, col_deriv and Dfun")
    options = defaults(len(u0))
    options.update(kws)
    for name in ("xtol", "ftol", "gtol", "factor"):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                  or not value >= 0):
            raise TypeError(f"leastsq: {name} must be a non-negative number, got {value!r}")
    maxfev = options.pop("maxfev")
    if isinstance(maxfev, bool) or not isinstance(maxfev, numbers.Integral) or maxfev < 1:
        raise TypeError(f"leastsq: maxfev must be a positive integer, got {maxfev!r}")
    guarded = _Guarded(residual, evaluations, maxfev)
    # (MINPACK's own count, of its trial steps only, is bounded too: it
    # cannot exceed ours, which includes the Jacobians.)
    result = _minpack(guarded, u0, jacobian, {**options, "maxfev": maxfev})
    return guarded.report(result)


def minimize_tightly(residual, u0, jacobian, trials, tol, scale):
    """MINPACK from `u0` with xtol = ftol = `tol`, gtol = 0, at most `trials` trial steps.

    The polish of ``certify.py``: near a minimum, with an accurate
    ``jacobian(u)``, MINPACK runs until no step improves the sum of squares.
    MINPACK measures its first step and its xtol test relative to |x|, which
    for u means nothing (u ~ 0 at the middle of two bounds, or for a start
    at 1e-20). So it is given ``x = u - u0 + scale`` instead, with `scale`
    (shape (n,), > 0) the size of a step that matters for each variable, a
    standard error: its trust region starts at about that size, and xtol is
    relative to it.
    """
    guarded = _Guarded(lambda x: residual(x + shift), None, None)
    shift = np.asarray(u0, dtype=float) - scale
    options = {"xtol": tol, "ftol": tol, "gtol": 0.0, "factor": 1.0, "maxfev": trials}
    result = _minpack(guarded, np.array(scale, dtype=float),
                      lambda x, r=None: jacobian(x + shift, r), options)
    result.u = result.u + shift
    if result.info["ier"] == 5:
        result.message = f"stopped after {trials} trial steps."
    return guarded.report(result)


class _Exhausted(Exception):
    """maxfev evaluations are spent (raised through MINPACK, caught in `_minpack`)."""


class _Guarded:
    """The residual as MINPACK sees it: non-finite values become `REJECTED`.

    The hot path raises ``FloatingPointError`` for a residual that is not
    finite. At the first evaluation (the start) that is the user's error
    and propagates. Later it is a trial step into a region where the model
    overflows or is undefined: answering with a huge residual makes MINPACK
    reject the step and shrink its trust region, as
    ``scipy.optimize.least_squares`` does with a non-finite trial.

    It also remembers the last point and residual (SciPy evaluates the
    start once to check shapes, MINPACK again; the Jacobian wants the
    residual at the point MINPACK just accepted), the best point so far,
    and stops the run when ``maxfev`` evaluations are spent.
    """

    def __init__(self, residual, evaluations, maxfev):
        self.residual, self.evaluations, self.maxfev = residual, evaluations, maxfev
        self.calls = 0        # trial evaluations
        self.nonfinite = 0    # of them, those whose residual was not finite
        self.length = None
        self.last = (None, None)
        self.best = (None, None, np.inf)

    # deviation: lmfit 0.5 passed a NaN or inf residual on to MINPACK, which
    # then returned NaN values or stopped; here a non-finite trial step is
    # rejected, and only a non-finite start is an error (a FitError).
    def __call__(self, u):
        key = u.tolist()
        if key == self.last[0]:
            return self.last[1]
        if self.maxfev is not None and self.evaluations is not None \
                and self.evaluations() >= self.maxfev:
            raise _Exhausted
        self.calls += 1
        try:
            r = self.residual(u)
        except FloatingPointError:
            self.nonfinite += 1
            if self.length is None:
                raise
            return np.full(self.length, REJECTED)
        if self.length is None:
            self.length = len(r)
        self.last = (key, r)
        with np.errstate(over="ignore"):
            chi2 = float(r @ r)
        if chi2 < self.best[2]:
            self.best = (np.array(u, dtype=float), r, chi2)
        return r

    def residual_at(self, u):
        """r at u if it was the last point evaluated, else None."""
        return self.last[1] if u.tolist() == self.last[0] else None

    def report(self, result):
        """Add how many evaluations gave a non-finite residual to `result`."""
        result.info["nonfinite"] = self.nonfinite
        if self.nonfinite:
            stop = "" if result.message.endswith(".") else "."
            result.message += (f"{stop} {self.nonfinite} trial step(s) gave a non-finite "
                               "residual and were rejected.")
        return result


def _minpack(guarded, u0, jacobian, options):
    """One run of lmder (lmdif without a `jacobian`) through ``scipy.optimize.leastsq``."""
    memo = [None, None]

    def dfun(u):
        key = u.tolist()
        if key != memo[0]:  # (SciPy asks at u0 twice: once to check the shape)
            # Handed over transposed, shape (n, N) (col_deriv): the
            # differences build J by columns, and MINPACK stores it so too.
            memo[:] = [key, jacobian(u, guarded.residual_at(u)).T]
        return memo[1]

    try:
        u, _, infodict, mesg, ier = _scipy_leastsq(
            guarded, u0, Dfun=None if jacobian is None else dfun, full_output=True,
            col_deriv=jacobian is not None, **options)
        fvec = infodict["fvec"]
        mesg = " ".join(mesg.split())
    except _Exhausted:
        u, fvec, _ = guarded.best
        ier = 5
        mesg = f"Stopped: maxfev = {guarded.maxfev} evaluations used (the Jacobians' included)."
    return EngineResult(u=np.array(u, dtype=float), success=ier in SUCCESS_CODES, message=mesg,
                        nfev=guarded.calls, fvec=np.array(fvec, dtype=float),
                        info={"ier": int(ier), "lmdif_message": mesg})
