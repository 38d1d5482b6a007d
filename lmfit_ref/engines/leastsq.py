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

*Polishing.* With the manual's tolerances (1e-7) and a forward-difference
Jacobian (about 8 correct digits), MINPACK stops with about 6 correct
digits in the values, and its covariance inherits the Jacobian's error.
So, once it has converged, the fit is run a second time from its solution
with a central-difference Jacobian (``differences.py``, about 10 digits;
the user's ``Dfun`` if there is one) and tolerances of a few units of
machine epsilon (`POLISH_TOL`), where MINPACK stops because no step can
improve the sum of squares. Near the solution this takes a few iterations
of 2n + 1 evaluations each, and the covariance comes from that run's
Jacobian. ``polish=False`` skips it.

*Initial step bound.* MINPACK bounds the first step by ``factor`` times
the scaled length of u0. The recommended 100 lets the first step fly far
from a poor start: on NIST's BoxBOD from start 1 it lands on a plateau
where the model no longer depends on b2, and the fit stops there.
``factor=1`` keeps the first steps near the start; the trust region still
grows as fast as the steps succeed. Measured on the 54 NIST cases (book:
nist.md), it fails none that 100 solves and needs fewer evaluations in all.

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
import math
import numbers

import numpy as np
from scipy.optimize import leastsq as _scipy_leastsq

from .base import EngineResult
from .differences import central_differences, forward_differences

#: Tolerance (xtol and ftol) of the polishing run: about 5 eps, where
#: MINPACK stops because nothing is left to improve.
POLISH_TOL = 1.0e-15

#: Keywords passed on to ``scipy.optimize.leastsq``.
KEYWORDS = ("xtol", "ftol", "gtol", "maxfev", "epsfcn", "factor", "diag", "col_deriv")

_ACCEPTED = frozenset(KEYWORDS)

#: MINPACK ``info`` values that mean convergence.
SUCCESS_CODES = (1, 2, 3, 4)


def defaults(nvarys):
    """The manual's defaults (3.5): xtol = ftol = 1e-7, maxfev = 1000*(nvar+1); factor = 1.

    >>> defaults(4)
    {'xtol': 1e-07, 'ftol': 1e-07, 'maxfev': 5000, 'factor': 1.0}
    """
    # deviation: MINPACK's (and lmfit 0.5's) initial step bound is
    # factor=100; 1 keeps the first step near the start (module docstring).
    return {"xtol": 1.0e-7, "ftol": 1.0e-7, "maxfev": 1000 * (nvarys + 1), "factor": 1.0}


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


def run(residual, u0, jacobian=None, box=None, polish=True, **kws):
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
    polish : bool, optional
        After MINPACK converges, run it again from its solution with a
        central-difference Jacobian (or `jacobian`) and tolerances
        `POLISH_TOL`. Both runs share the budget ``maxfev``.
    **kws
        Any of `KEYWORDS`, passed to ``scipy.optimize.leastsq``; unset ones
        take the values of `defaults`.

    Returns
    -------
    EngineResult
        With ``info = {'ier': int, 'lmdif_message': str}`` from the first
        run, and, if it was polished, ``'polish_ier'``, ``'polish_message'``
        and ``'polish_nfev'`` (residual evaluations of the polish, those of
        its difference Jacobians included).

    Raises
    ------
    TypeError
        For a keyword leastsq does not take, or a tolerance or ``maxfev``
        that is not a number of the right kind, or a `polish` that is not a bool.

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
    if not isinstance(polish, bool):
        raise TypeError(f"leastsq: polish must be True or False, got {polish!r}")
    budget = _Budget(residual, maxfev)
    epsfcn = options.pop("epsfcn", None)
    if jacobian is None:
        step = math.sqrt(max(epsfcn or 0.0, _EPS))
        first_jacobian = budget.forward_differences(step)
    else:
        first_jacobian = budget.counted(jacobian)
    run1 = _minpack(budget, u0, first_jacobian, options)
    # deviation: lmfit 0.5 stopped at MINPACK's first convergence with the
    # manual's tolerances; here the fit is polished (module docstring), so
    # the default fit meets NIST's certified values (book: nist.md).
    if run1.info["ier"] not in SUCCESS_CODES or not polish or budget.left() == 0:
        return _report_nonfinite(run1, budget)
    # Polish: same budget, an accurate Jacobian, tolerances near eps.
    accurate = budget.counted(jacobian) if jacobian is not None else budget.central_differences()
    tight = {**options, "xtol": POLISH_TOL, "ftol": POLISH_TOL, "gtol": 0.0}
    run2 = _minpack(budget, run1.u, accurate, tight)
    polished = {"polish_ier": run2.info["ier"], "polish_message": run2.message,
                "polish_nfev": run2.nfev}
    if run2.info["ier"] == 5:
        # Out of budget while polishing: keep the first run's point and
        # covariance (the polish's last iterate has no Jacobian of its own).
        run1.info.update(polished)
        run1.nfev += run2.nfev
        run1.message += " Polishing ran out of evaluations."
        return _report_nonfinite(run1, budget)
    run2.info = {**run1.info, **polished}
    run2.nfev += run1.nfev
    run2.success = True
    run2.message = f"{run1.message} Polished: {run2.message}"
    return _report_nonfinite(run2, budget)


def _report_nonfinite(result, budget):
    """Say how many evaluations gave a non-finite residual (steps rejected, sides avoided)."""
    result.info["nonfinite"] = budget.nonfinite
    if budget.nonfinite:
        result.message += (f" {budget.nonfinite} evaluation(s) gave a non-finite residual;"
                           " those trial steps were rejected and those difference steps"
                           " taken on the other side.")
    return result


_EPS = float(np.finfo(float).eps)

#: What a trial point with a non-finite residual returns to MINPACK: a
#: residual so large that the step is rejected and the trust region shrinks.
REJECTED = 1.0e100


class _OutOfBudget(Exception):
    """Raised inside a MINPACK callback when maxfev evaluations are spent."""


class _Budget:
    """Counts residual evaluations against maxfev; remembers the last ones.

    MINPACK (lmder) calls ``trial(u)`` at the start and at each trial step,
    and the Jacobian at each new iterate. Every residual evaluation, of
    either kind, counts against maxfev, as in lmdif; when none is left the
    callback raises `_OutOfBudget` and `_minpack` ends the run at the
    current iterate. A trial step whose residual is not finite (the hot path
    raises ``FloatingPointError``) is answered with `REJECTED`, so MINPACK
    shrinks its step instead of stopping; at the starting point it is an
    error.

    SciPy calls the residual and the Jacobian once at u0 to check their
    shapes before MINPACK starts, then MINPACK calls both at u0 again. The
    last residual and the last Jacobian are remembered with their u, so a
    repeated call costs no evaluation.
    """

    def __init__(self, residual, maxfev):
        self.residual, self.maxfev = residual, maxfev
        self.used = 0
        self.nonfinite = 0  # evaluations whose residual was not finite
        self.last_u = self.last_r = None      # the last finite trial
        self.iterate = self.iterate_r = None  # where the Jacobian was last taken
        self.last_J = None

    def left(self):
        return self.maxfev - self.used

    def evaluate(self, u):
        if self.used >= self.maxfev:
            raise _OutOfBudget
        self.used += 1
        try:
            return self.residual(u)
        except FloatingPointError:
            self.nonfinite += 1
            raise

    # deviation: lmfit 0.5 passed a NaN or inf residual on to MINPACK, which
    # then returned NaN values or stopped at once; here a non-finite trial
    # step is rejected (as scipy.optimize.least_squares does) and a
    # difference step is taken on the other side.
    def trial(self, u):
        if self.last_u is not None and np.array_equal(u, self.last_u):
            return self.last_r
        if self.last_u is None:          # the first call: faults propagate
            r = np.array(self.evaluate(u), dtype=float)
        else:
            try:
                r = np.array(self.evaluate(u), dtype=float)
            except FloatingPointError:
                return np.full(len(self.last_r), REJECTED)
        self.last_u, self.last_r = np.array(u, dtype=float), r
        return r

    def jacobian(self, compute):
        """Wrap ``compute(u, r) -> J`` (r the residual at u) for MINPACK."""
        def jacobian(u):
            if self.iterate is not None and np.array_equal(u, self.iterate):
                return self.last_J
            r = self.trial(u)  # normally the last trial: no evaluation
            self.iterate, self.iterate_r = np.array(u, dtype=float), r
            self.last_J = compute(self.iterate, r)
            return self.last_J
        return jacobian

    def forward_differences(self, step):
        return self.jacobian(lambda u, r: forward_differences(self.evaluate, u, r, step))

    def central_differences(self):
        return self.jacobian(lambda u, r: central_differences(self.evaluate, u))

    def counted(self, user_jacobian):
        return self.jacobian(lambda u, r: user_jacobian(u))


def _minpack(budget, u0, jacobian, options):
    """One lmder run through ``scipy.optimize.leastsq``, within `budget`."""
    start = budget.used
    budget.iterate = None  # each run computes its own Jacobians (the polish's are central)
    try:
        u, cov_u, infodict, mesg, ier = _scipy_leastsq(
            budget.trial, u0, Dfun=jacobian, full_output=True, **options)
    except _OutOfBudget:
        # lmdif's end at maxfev: the current iterate, not the last trial.
        u = budget.iterate if budget.iterate is not None else np.array(u0, dtype=float)
        fvec = budget.iterate_r if budget.iterate is not None else None
        mesg = (f"Number of calls to function has reached maxfev = {budget.maxfev}.")
        return EngineResult(u=u, success=False, message=mesg, nfev=budget.used - start,
                            cov_u=None, fvec=fvec, info={"ier": 5, "lmdif_message": mesg})
    mesg = " ".join(mesg.split())
    return EngineResult(
        u=u, success=ier in SUCCESS_CODES, message=mesg, nfev=budget.used - start,
        cov_u=cov_u, fvec=infodict["fvec"],
        jtj=functools.partial(normal_matrix, infodict["fjac"], infodict["ipvt"]),
        info={"ier": int(ier), "lmdif_message": mesg})
