"""Levenberg-Marquardt, by MINPACK's lmdif/lmder through scipy.optimize.leastsq.

The method (More 1978; MINPACK-1, More, Garbow and Hillstrom 1980) solves,
at each step, the damped linearised problem::

    minimise |r(u) + J du|**2  subject to  |diag * du| <= Delta

a trust region of radius Delta around the current u. Large Delta gives a
Gauss-Newton step, small Delta a short gradient step; Delta grows after
steps that reduce the sum of squares as predicted and shrinks after those
that do not. Only improving steps are accepted, so the final u is the best
point visited. Without an analytic Jacobian (``Dfun``), lmdif builds J by
forward differences with step ``sqrt(epsfcn) * |u_j|``.

At the solution MINPACK returns the QR factorisation of J, from which
scipy forms ``cov_x = (J^T J)^-1`` (``None`` if singular); ``covariance.py``
turns it into error bars.

Stopping (MINPACK's ``info``, here ``ier``): 1 the sum of squares changed
by at most ftol (relative), 2 the step changed u by at most xtol
(relative), 3 both, 4 the residual is orthogonal to the columns of J to
gtol; these four are success. 5 maxfev evaluations were used, 6-8 a
tolerance is too small for further progress: failures. 0 is improper input.

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
import functools
import numbers

import numpy as np
from scipy.optimize import leastsq as _scipy_leastsq

from .base import EngineResult

#: Keywords passed on to ``scipy.optimize.leastsq``.
KEYWORDS = ("xtol", "ftol", "gtol", "maxfev", "epsfcn", "factor", "diag", "col_deriv")

_ACCEPTED = frozenset(KEYWORDS)

#: MINPACK ``info`` values that mean convergence.
SUCCESS_CODES = (1, 2, 3, 4)


def defaults(nvarys):
    """The manual's defaults (3.5): xtol = ftol = 1e-7, maxfev = 1000*(nvar+1).

    >>> defaults(4)
    {'xtol': 1e-07, 'ftol': 1e-07, 'maxfev': 5000}
    """
    return {"xtol": 1.0e-7, "ftol": 1.0e-7, "maxfev": 1000 * (nvarys + 1)}


def normal_matrix(fjac, ipvt):
    """``J^T J`` from MINPACK's QR factorisation ``J P = Q R``.

    ``fjac`` is SciPy's ``infodict['fjac']`` (shape (n, N), R in the upper
    triangle of its transpose) and ``ipvt`` the column permutation: column
    j of ``J P`` is column ``ipvt[j]`` of J (MINPACK counts from 1, recent
    SciPy from 0; ``argsort`` gives the same order either way). Then
    ``J^T J = (R P^T)^T (R P^T)``; SciPy's ``cov_x`` is its inverse.

    >>> J = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]])
    >>> out = _scipy_leastsq(lambda u: J @ u - 1.0, np.zeros(2), full_output=True)
    >>> np.allclose(normal_matrix(out[2]['fjac'], out[2]['ipvt']), J.T @ J)
    True
    """
    n = len(ipvt)
    R = np.triu(np.transpose(fjac)[:n, :])
    RPt = R[:, np.argsort(ipvt)]  # column j of J is column ipvt.index(j) of J P
    return RPt.T @ RPt


def run(residual, u0, jacobian=None, box=None, **kws):
    """Minimise ``sum(residual(u)**2)`` from `u0` with Levenberg-Marquardt.

    Parameters
    ----------
    residual : callable
        ``residual(u) -> ndarray, shape (N,)`` with N >= n.
    u0 : ndarray, shape (n,)
        Starting internal vector.
    jacobian : callable or None
        ``jacobian(u) -> ndarray, shape (N, n)``; None for finite differences.
    box : ignored
        (A search region, used by annealing only.)
    **kws
        Any of `KEYWORDS`, passed to ``scipy.optimize.leastsq``; unset ones
        take the values of `defaults`.

    Returns
    -------
    EngineResult
        With ``info = {'ier': int, 'lmdif_message': str}``.

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
                        f"it takes {', '.join(KEYWORDS)} and Dfun")
    options = defaults(len(u0))
    options.update(kws)
    for name in ("xtol", "ftol", "gtol", "epsfcn", "factor"):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                  or not value >= 0):
            raise TypeError(f"leastsq: {name} must be a non-negative number, got {value!r}")
    maxfev = options["maxfev"]
    if isinstance(maxfev, bool) or not isinstance(maxfev, numbers.Integral) or maxfev < 1:
        raise TypeError(f"leastsq: maxfev must be a positive integer, got {maxfev!r}")
    u, cov_u, infodict, mesg, ier = _scipy_leastsq(
        residual, u0, Dfun=jacobian, full_output=True, **options)
    return EngineResult(
        u=u, success=ier in SUCCESS_CODES, message=mesg,
        nfev=int(infodict["nfev"]), cov_u=cov_u, fvec=infodict["fvec"],
        jtj=functools.partial(normal_matrix, infodict["fjac"], infodict["ipvt"]),
        info={"ier": int(ier), "lmdif_message": mesg})
