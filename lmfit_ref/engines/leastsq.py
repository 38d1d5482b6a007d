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
nist.md), it fails none that 100 solves and needs fewer evaluations over
the 54 together (not in every case).

*Non-finite residuals.* A trial step can land where the model overflows
or is undefined; the hot path then raises ``FloatingPointError``. MINPACK
cannot take an exception, so `_Guarded` answers such a step with a huge
residual (`REJECTED`): MINPACK rejects it and shrinks its trust region.
Only at the start is a non-finite residual the user's error. If every
step was rejected, MINPACK's step-size test fires at the start and it
reports convergence there; that is caught and reported as a failure.

*Cost.* The polish takes a few iterations of 2n + 1 evaluations on a
well-behaved problem. It can take many more where the first run stopped
early (a trust region collapsed by rejected steps) or where a parameter
sits on its bound, where the bounds map folds flat and the polish's steps
in that variable keep being rejected: there the polish stops after
`POLISH_STEPS` trial steps, with what it has gained. The first run is
MINPACK's and, like lmdif, may pass ``maxfev`` by about a Jacobian's n
evaluations (it checks after each trial step); the polish gets the trial steps that fit in what
is left, counting a Jacobian for each, so it never takes the total past
``maxfev``. A polish cut short keeps its better point with MINPACK's
last covariance.

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
from .differences import central_differences, with_floored_steps

#: Tolerance (xtol and ftol) of the polishing run: about 5 eps, where
#: MINPACK stops because nothing is left to improve.
POLISH_TOL = 1.0e-15

#: Trial steps the polish may take (unless the first run never left its
#: start, when the polish is the whole fit). Polishing a converged fit
#: takes a few; the hardest NIST problems take about 30. Many more means
#: the polish is crawling, typically along a bound where the bounds map
#: folds flat, and gains nothing for its evaluations.
POLISH_STEPS = 100

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
        `POLISH_TOL`, within what is left of ``maxfev``.
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
    guarded = _Guarded(residual)
    # deviation: lmfit 0.5 stopped at MINPACK's first convergence with the
    # manual's tolerances; here the fit is polished (module docstring), so
    # the default fit meets NIST's certified values (book: nist.md).
    first = _minpack(guarded, u0, jacobian, options)
    if first.success and guarded.nonfinite and np.array_equal(first.u, u0):
        # Every step was rejected: the trust region shrank to nothing around
        # the start and MINPACK's xtol test fired there. That is no minimum;
        # the polish below, whose central differences step around the
        # non-finite region, is then the real fit.
        first.success = False
        first.message += (" No step was ever accepted (the trial steps gave non-finite"
                          " residuals): the fit did not leave its start.")
        stuck = True
    else:
        stuck = False
    if not polish or not (first.success or stuck):
        return guarded.report(first)
    # The polish: the same guard, an accurate Jacobian, tolerances near eps.
    # MINPACK's lmder counts only its trial evaluations (the first included);
    # each of its Jacobians costs 2n more, and SciPy's shape check one, so
    # at most (left - 1) // (2n + 1) trials keep the total within maxfev.
    n = len(u0)
    tight = {**options, "xtol": POLISH_TOL, "ftol": POLISH_TOL, "gtol": 0.0}
    if jacobian is None:
        accurate = _once_per_point(guarded.strict)
        per_iteration = 2 * n + 1
        tight["col_deriv"] = False  # (our differences come as rows = residuals)
    else:
        accurate, per_iteration = jacobian, 1
    trials = (maxfev - first.nfev - 1) // per_iteration
    limit = f"its share of maxfev = {maxfev} ({trials} trial steps)"
    if not stuck and trials > POLISH_STEPS:  # a polish, not a fit: see POLISH_STEPS
        trials, limit = POLISH_STEPS, f"POLISH_STEPS = {POLISH_STEPS} trial steps"
    if trials < 2:
        first.message += " Not polished: no evaluations left (maxfev)."
        return guarded.report(first)
    tight["maxfev"] = trials
    before = guarded.calls
    second = _minpack(guarded, first.u, accurate, tight)
    second.nfev = guarded.calls - before  # the difference Jacobians included
    second.info = {**first.info, "polish_ier": second.info["ier"],
                   "polish_message": second.message, "polish_nfev": second.nfev}
    second.nfev += first.nfev
    # The first run converged (unless it was stuck); the polish only improves on it.
    second.success = not stuck or (second.info["polish_ier"] in SUCCESS_CODES
                                   and not np.array_equal(second.u, u0))
    if second.info["polish_ier"] == 5:
        # Out of trial steps while polishing (a long crawl along a flat
        # valley). MINPACK's own message would count trials only. SciPy
        # gives no covariance then, but the point is at least as good as
        # the first run's and MINPACK's last Jacobian is there.
        second.message = f"{first.message} Polished until {limit} were used."
        if second.cov_u is None:
            second.cov_u = _inverse(second.jtj())
    else:
        second.message = f"{first.message} Polished: {second.message}"
    # The polish's steps keep MINPACK's convention, relative to |u_j|: at a
    # bound's fold (u_j ~ 0) a larger step would let it bounce across the
    # fold. Only its error bars need the floored steps.
    if jacobian is None and maxfev - guarded.calls >= 2 * n + 1 and second.jtj is not None:
        J = with_floored_steps(guarded.strict, second.u, np.diagonal(second.jtj()), second.fvec)
        if J is not None:
            jtj = J.T @ J
            second.cov_u, second.jtj = _inverse(jtj), (lambda: jtj)
    return guarded.report(second)


def _inverse(matrix):
    """``matrix^-1``, or None if it is singular."""
    try:
        return np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        return None


def _once_per_point(residual):
    """Central differences of `residual`, computed once for each point.

    SciPy calls the Jacobian at u0 to check its shape before MINPACK calls
    it there again; the second call reuses the first's 2n evaluations.
    """
    last = [None, None]

    def jacobian(u):
        key = u.tolist()
        if key != last[0]:
            last[:] = [key, central_differences(residual, u)]
        return last[1]
    return jacobian


#: What a trial point with a non-finite residual returns to MINPACK: a
#: residual so large that the step is rejected and the trust region shrinks.
REJECTED = 1.0e100


class _Guarded:
    """The residual as MINPACK sees it: non-finite values become `REJECTED`.

    The hot path raises ``FloatingPointError`` for a residual that is not
    finite. At the first evaluation (the start) that is the user's error
    and propagates. Later it is a trial step into a region where the model
    overflows or is undefined: answering with a huge residual makes MINPACK
    reject the step and shrink its trust region, as
    ``scipy.optimize.least_squares`` does with a non-finite trial.

    lmdif also calls the residual for its forward differences, and this
    wrapper cannot tell those calls from trial steps. A difference step is
    a relative 1.5e-8 from an accepted point whose residual was finite, so
    it rarely meets the edge; where it does, that column of J becomes huge
    and MINPACK takes no step in that variable until the next Jacobian. The
    polish's central differences (``differences.py``) step to the other
    side instead.
    """

    def __init__(self, residual):
        self.residual = residual
        self.calls = 0        # evaluations, of every kind
        self.nonfinite = 0    # of them, those whose residual was not finite
        self.length = None

    # deviation: lmfit 0.5 passed a NaN or inf residual on to MINPACK, which
    # then returned NaN values or stopped; here a non-finite trial step is
    # rejected, and only a non-finite start is an error (a FitError).
    def __call__(self, u):
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
        return r

    def strict(self, u):
        """The residual, counted, with non-finite values raising as in the hot path.

        For the central differences, which step to the other side instead.
        """
        self.calls += 1
        try:
            return self.residual(u)
        except FloatingPointError:
            self.nonfinite += 1
            raise

    def report(self, result):
        """Add how many evaluations gave a non-finite residual to `result`."""
        result.info["nonfinite"] = self.nonfinite
        if self.nonfinite:
            result.message += (f" {self.nonfinite} evaluation(s) gave a non-finite residual;"
                               " those steps were rejected or taken on the other side.")
        return result


def _minpack(residual, u0, jacobian, options):
    """One run of lmdif (or lmder with a `jacobian`) through ``scipy.optimize.leastsq``."""
    start = residual.calls
    u, cov_u, infodict, mesg, ier = _scipy_leastsq(
        residual, u0, Dfun=jacobian, full_output=True, **options)
    mesg = " ".join(mesg.split())
    return EngineResult(
        u=u, success=ier in SUCCESS_CODES, message=mesg, nfev=residual.calls - start,
        cov_u=cov_u, fvec=infodict["fvec"],
        jtj=functools.partial(normal_matrix, infodict["fjac"], infodict["ipvt"]),
        info={"ier": int(ier), "lmdif_message": mesg})
