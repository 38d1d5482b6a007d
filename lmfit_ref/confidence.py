"""Confidence intervals by profiling chi-square: the F-test search (manual chapter 4).

The standard errors of ``uncertainty.py`` assume chi-square is a quadratic
bowl around the best fit. When it is not (two exponentials, a parameter
near a bound), a direct search is better: fix one parameter at a value v,
refit all the others, and ask whether the rise of the best chi-square,
``chi2(v)`` against ``chi2_0``, could be chance.

The F-test (manual 4.1). The null model is the best fit, with P varying
parameters and N data; the alternative has ``P_fix`` of them fixed::

    F = (chi2(v) / chi2_0 - 1) * (N - P) / P_fix

follows an F distribution with (P_fix, N - P) degrees of freedom, and the
probability that the fixed model is genuinely worse is its cumulative
distribution at F (``f_compare``). The interval at probability ``s`` is
where that probability reaches s on each side of the best value.

The likelihood ratio (the manual's "log-likelihood method, added soon"):
for Gaussian errors, ``chi2(v) - chi2_0`` in units of the noise variance,
estimated as ``chi2_0 / (N - P)``, follows a chi-square distribution with
``P_fix`` degrees of freedom (``chi2_compare``). For large N the two agree;
for few data the F-test is wider (its denominator is itself uncertain).

The search (``conf_interval``): from the best value, step outwards, by at
most one standard error, extrapolating the near-linear rise of
``sqrt(chi2(v) - chi2_0)``, until each level is passed (or a bound, or
``maxiter`` steps); then find the level by Brent's method inside that
bracket, lowest level first, each search starting from the previous root. Every profile sub-fit starts from
the solution at the nearest value already solved. All fits run on a deep
copy of the Parameters, so the caller's Parameters and Minimizer are never
touched.

Notation
--------
v        a value at which one parameter is held fixed
chi2_0   the best fit's chi-square;  chi2(v) the profile
N, P     ndata and nvarys of the best fit;  P_fix the number held fixed

References: manual chapter 4; W. H. Press et al., *Numerical Recipes*,
15.6 (confidence limits on estimated parameters).

Book: book/confidence.md
"""
import copy
import math
import warnings

import numpy as np
from scipy import optimize, stats

from .constraints import ConstraintPlan
from .minimizer import Minimizer
from .objective import FitError

__all__ = ["f_compare", "chi2_compare", "conf_interval", "conf_interval2d"]


def f_compare(ndata, nparas, new_chi, best_chi, nfix=1):
    """Probability, by the F-test, that holding `nfix` parameters fixed made the fit worse.

    ``F = (new_chi/best_chi - 1) * (ndata - nparas) / nfix``, and the result
    is the F distribution's CDF at F with (nfix, ndata - nparas) degrees of
    freedom.

    >>> round(f_compare(100, 4, 1.0, 1.0), 6), round(f_compare(100, 4, 1.1, 1.0), 4)  # F = 0, 9.6
    (0.0, 0.9974)
    """
    nfree = ndata - nparas
    F = (new_chi / best_chi - 1.0) * nfree / nfix
    return float(stats.f.cdf(F, nfix, nfree))


def chi2_compare(ndata, nparas, new_chi, best_chi, nfix=1):
    """Probability by the likelihood ratio: delta chi-square against chi2(nfix).

    The rise ``new_chi - best_chi`` is divided by the noise variance
    estimated from the best fit, ``best_chi / (ndata - nparas)``.

    >>> round(chi2_compare(100, 4, 1.0 + 1 / 96, 1.0), 4)  # delta = 1 sigma^2: 68.27 %
    0.6827
    """
    scale = best_chi / (ndata - nparas)
    return float(stats.chi2.cdf((new_chi - best_chi) / scale, nfix))


# Tolerances (xtol = ftol) of the profile sub-fits. Looser than a fit's
# 1e-7: each sub-fit starts next to its answer, and a chi-square good to
# ~1e-6 moves a limit by far less than 1e-4 of itself; a grid for contours
# needs less still. (The book measures both against tight sub-fits.)
_TOL_1D = 1e-6
_TOL_2D = 1e-5

_PROB_FUNCS = {"f_test": f_compare, "ftest": f_compare, "likelihood": chi2_compare}


def _prob_func(prob_func):
    if prob_func is None:
        return f_compare
    if callable(prob_func):
        return prob_func
    try:
        return _PROB_FUNCS[prob_func]
    except (KeyError, TypeError):
        raise ValueError(f"prob_func must be a callable or one of {sorted(_PROB_FUNCS)}, "
                         f"got {prob_func!r}") from None


def _chisqr_now(minimizer):
    """Chi-square of the residual at the Parameters' current values (one evaluation)."""
    if any(p.expr for p in minimizer.params.values()):
        ConstraintPlan(minimizer.params, minimizer.asteval)  # evaluates the constraints
    r = np.asarray(minimizer.userfcn(minimizer.params, *minimizer.userargs,
                                     **minimizer.userkws), dtype=float).ravel()
    chi = float(r @ r)
    if not math.isfinite(chi):
        raise ValueError("the residual is not finite")
    return chi


def _check_fitted(minimizer):
    """Refuse a Minimizer that has not been fitted, or whose Parameters moved since."""
    if minimizer.chisqr is None or minimizer.userfcn is None:
        raise ValueError("conf_interval needs a Minimizer that has been fitted "
                         "(call minimize(...) or .leastsq() first)")
    # on a copy: evaluating the constraints writes values into the Parameters
    now = _chisqr_now(Minimizer(minimizer.userfcn, copy.deepcopy(minimizer.params),
                                fcn_args=minimizer.userargs, fcn_kws=minimizer.userkws))
    if abs(now - minimizer.chisqr) > 1e-6 * minimizer.chisqr:
        raise ValueError(f"the Parameters have changed since the fit (chi-square now {now!r}, "
                         f"the fit's {minimizer.chisqr!r}): refit before asking for intervals")


class _Profile:
    """Sub-fits of one Minimizer's problem with some parameters held fixed.

    It owns a deep copy of the Parameters, so that nothing the caller holds
    changes; it keeps every solved point for warm starts and traces, and
    turns a failed sub-fit into NaN.
    """

    def __init__(self, minimizer, fixed, prob, nfix, tol):
        self.params = copy.deepcopy(minimizer.params)
        for name in fixed:
            self.params[name].vary = False
        self.fixed = fixed
        self.free = any(p.vary for p in self.params.values())
        self.fitter = Minimizer(minimizer.userfcn, self.params, fcn_args=minimizer.userargs,
                                fcn_kws=minimizer.userkws, scale_covar=minimizer.scale_covar)
        self.best = {name: par.value for name, par in minimizer.params.items()}
        self.spread = {name: par.stderr or abs(par.value or 0.0) or 1.0
                       for name, par in minimizer.params.items()}
        self.best_chi, self.ndata, self.nvarys = minimizer.chisqr, minimizer.ndata, minimizer.nvarys
        self.prob, self.nfix = prob, nfix
        self.solved = []  # (fixed values, {name: value}, chisqr)
        self.lower_found = None
        self.tol = tol

    def _start_from(self, point):
        """Warm start from the solutions nearest to `point`.

        With two solved points, the free parameters are extrapolated
        linearly from them (a predictor along the profile or grid line);
        with one, taken from it; with none, from the best fit.
        """
        scale = [abs(self.best[n]) or 1.0 for n in self.fixed]
        here = np.array(point) / scale
        start = dict(self.best)
        if self.solved:
            near = sorted(self.solved, key=lambda s: float(np.sum((np.array(s[0]) / scale - here) ** 2)))
            start = dict(near[0][1])
            if len(near) > 1:
                x1, x2 = np.array(near[0][0]) / scale, np.array(near[1][0]) / scale
                e = x1 - x2
                if e @ e > 0:
                    t = min(max(float((here - x1) @ e / (e @ e)), -2.0), 2.0)
                    guess = {n: v + t * (v - near[1][1][n]) for n, v in near[0][1].items()}
                    # Trust the prediction only for modest moves (a few standard
                    # errors): a large one means the solutions left the best
                    # fit's valley, and extrapolating would carry on into nowhere.
                    if all(abs(guess[n] - start[n]) <= 3.0 * self.spread[n] for n in guess):
                        start = guess
        for name, par in self.params.items():
            if par.vary and par.expr is None:
                value = start[name]
                # a start exactly on (or past) a bound is refused: step inside
                if par.min is not None and value <= par.min:
                    value = par.min + 1e-9 * (abs(par.min) + 1.0)
                if par.max is not None and value >= par.max:
                    value = par.max - 1e-9 * (abs(par.max) + 1.0)
                par.value = value

    def chisqr_at(self, point):
        """Best chi-square with the fixed parameters at `point` (NaN if the sub-fit fails)."""
        self._start_from(point)
        for name, value in zip(self.fixed, point):
            self.params[name].value = value
        try:
            if self.free:
                # Only the chi-square is needed, and near a minimum it is
                # accurate to the square of the values' error: the loose
                # tolerance suffices, and the final stage (a Jacobian for
                # the certificate and error bars, perhaps a polish) would
                # add evaluations for numbers nobody reads.
                self.fitter._fit("leastsq", {"xtol": self.tol, "ftol": self.tol},
                                 final_stage=False)
                chi = self.fitter.chisqr
            else:  # nothing left to fit: the chi-square of the model as it stands
                chi = _chisqr_now(self.fitter)
        except (FitError, ValueError):
            return math.nan
        self.solved.append((tuple(point), {n: p.value for n, p in self.params.items()}, chi))
        # below the best fit by more than its own tolerance (ftol = 1e-7)
        if chi < self.best_chi * (1.0 - 1e-6) and (self.lower_found is None
                                                   or chi < self.lower_found[1]):
            self.lower_found = (tuple(point), chi)
        return chi

    def prob_at(self, point):
        chi = self.chisqr_at(point)
        if chi != chi:
            return math.nan
        return max(self.prob(self.ndata, self.nvarys, chi, self.best_chi, self.nfix), 0.0)

    def warn_if_lower(self):
        if self.lower_found is not None:
            point, chi = self.lower_found
            where = ", ".join(f"{n}={v!r}" for n, v in zip(self.fixed, point))
            warnings.warn(f"a profile sub-fit at {where} found chi-square {chi!r}, below the best "
                          f"fit's {self.best_chi!r}: the best fit was not a minimum; refit from "
                          "there", stacklevel=3)


def _target_chi(profile, level):
    """The chi-square at which the probability function reaches `level` (no fits needed)."""
    def excess(chi):
        return profile.prob(profile.ndata, profile.nvarys, chi, profile.best_chi, profile.nfix) - level
    hi = profile.best_chi * 2.0
    while excess(hi) < 0:
        hi = profile.best_chi + 2.0 * (hi - profile.best_chi)
        if hi > 1e12 * profile.best_chi:
            raise ValueError(f"conf_interval: the probability function never reaches {level}")
    return optimize.brentq(excess, profile.best_chi, hi, xtol=1e-14 * profile.best_chi)


def _search(profile, name, best, step, direction, levels, bound, maxiter, verbose):
    """Values of `name` where the profile's probability reaches each level, on one side.

    Each level is a target chi-square (``_target_chi``). Near the best fit
    ``sqrt(chi2(v) - chi2_0)`` is close to linear in v, so the root is sought
    in that variable: the first guess, from the quadratic approximation
    with the standard error, usually lands close, and Brent's method then
    needs only a few sub-fits inside the bracket.
    """
    xtol = 1e-5 * step  # roots to a hundred-thousandth of a standard error
    best_chi = profile.best_chi
    redchi = best_chi / (profile.ndata - profile.nvarys)
    known = [(best, 0.0)]  # (value, sqrt(chi2(v) - chi2_0)), moving outwards
    limits = []
    steps = 0

    cache = {}

    def rise(v):
        """sqrt(chi2(v) - chi2_0), each value fitted once (NaN if the sub-fit fails)."""
        if v not in cache:
            chi = profile.chisqr_at((v,))
            cache[v] = chi if chi != chi else math.sqrt(max(chi - best_chi, 0.0))
        return cache[v]

    def root_between(a, b, goal):
        """The v in [a, b] where rise(v) = goal: Brent's method, or bisection if a
        sub-fit inside fails (a failed point then counts as beyond the goal)."""
        try:
            return optimize.brentq(lambda v: rise(v) - goal, a, b, xtol=xtol)
        except ValueError:  # NaN from a failed sub-fit
            while abs(b - a) > xtol:
                mid = (a + b) / 2.0
                g = rise(mid)
                if g == g and g < goal:
                    a = mid
                else:
                    b = mid
            return (a + b) / 2.0

    for level in levels:
        goal = math.sqrt(_target_chi(profile, level) - best_chi)
        # Bracket: the last known point below the goal and the first above it.
        while known[-1][1] < goal:
            if steps >= maxiter or (bound is not None and known[-1][0] == bound):
                break
            # Steps of at most one standard error: the interval is bounded by
            # the *first* crossing, and a long jump could pass over it into
            # another valley (two exponentials can swap their roles).
            if len(known) == 1:  # quadratic guess: chi2 - chi2_0 ~ redchi ((v - best)/step)**2
                jump = min(goal / math.sqrt(redchi) * 1.05, 1.0) * step
            else:  # extrapolate the near-linear rise, a little beyond the goal
                (v1, g1), (v2, g2) = known[-2], known[-1]
                slope = (g2 - g1) / (v2 - v1) if g2 > g1 else 0.0
                jump = abs((goal - g2) / slope * 1.2) if slope * direction > 0 else step
                jump = min(max(jump, 1e-3 * step), step)
            v = known[-1][0] + direction * jump
            if bound is not None and (v - bound) * direction >= 0:
                v = bound
            g = rise(v)
            tries = 0
            while g != g and tries < 5:  # a failed sub-fit: come back half way
                v = (known[-1][0] + v) / 2.0
                g = rise(v)
                tries += 1
            steps += 1
            if g != g:
                break
            known.append((v, g))
        if known[-1][1] < goal:
            # deviation: an unreachable level is reported as +/-inf with a
            # warning, never dropped from the list or left as a bare error.
            reason = (f"its bound {bound}" if bound is not None and known[-1][0] == bound
                      else f"maxiter={maxiter} steps" if steps >= maxiter else "failed sub-fits")
            warnings.warn(f"conf_interval: {name!r} does not reach probability {level} on the "
                          f"{'upper' if direction > 0 else 'lower'} side before {reason}; "
                          "reported as infinite", stacklevel=3)
            limits.append(direction * math.inf)
            continue
        i = next(k for k, (_, g) in enumerate(known) if g >= goal)
        (a, _), (b, _) = known[i - 1], known[i]
        root = root_between(a, b, goal)
        known.insert(i, (root, goal))
        limits.append(root)
        if verbose:
            print(f"{name}: probability {level} at {root!r}")
    return limits


def conf_interval(minimizer, p_names=None, sigmas=(0.674, 0.95, 0.997), trace=False,
                  maxiter=200, verbose=False, prob_func=None):
    """Confidence intervals of parameters by the F-test profile search (manual 4.4).

    Parameters
    ----------
    minimizer : Minimizer
        Already fitted. It and its Parameters are left exactly as they are.
    p_names : list of str, optional
        The parameters to profile; None: every varying parameter.
    sigmas : sequence of float
        Probabilities (1 - alpha) to find. 0.674 is the manual's default;
        the probability of one standard deviation is 0.6827.
    trace : bool
        Also return, for each profiled parameter, the values of every
        parameter along its profile and the probability ('prob').
    maxiter : int
        Most outward steps on each side.
    verbose : bool
        Print each limit as it is found.
    prob_func : callable, 'f_test' or 'likelihood', optional
        ``prob_func(ndata, nvarys, new_chi, best_chi, nfix)``; None: `f_compare`.

    Returns
    -------
    ci : dict
        ``{name: [(prob, value), ...]}``: lower limits from the largest
        probability down, ``(0, best)``, then upper limits up. A level
        that cannot be reached is ``-inf``/``inf``, with a warning.
    trace : dict
        Only with ``trace=True``.
    """
    prob = _prob_func(prob_func)
    _check_fitted(minimizer)
    varying = [n for n, p in minimizer.params.items() if p.vary]
    # deviation: lmfit 0.5 took p_names=None as every parameter, fixed and
    # constrained ones too; only a varying parameter has an interval to find.
    names = (varying if p_names is None else [p_names] if isinstance(p_names, str)
             else list(p_names))
    for name in names:
        if name not in varying:
            raise ValueError(f"conf_interval: {name!r} is not a varying parameter of the fit "
                             f"(varying: {', '.join(varying)})")
    levels = sorted(float(s) for s in sigmas)
    if not levels or not all(0 < s < 1 for s in levels):  # NaN fails too
        raise ValueError(f"conf_interval: sigmas must be probabilities in (0, 1), got {sigmas!r}")
    ci, traces = {}, {}
    for name in names:
        par = minimizer.params[name]
        best = par.value
        step = par.stderr if par.stderr else 0.1 * (abs(best) or 1.0)
        profile = _Profile(minimizer, [name], prob, 1, tol=_TOL_1D)
        lower = _search(profile, name, best, step, -1.0, levels, par.min, maxiter, verbose)
        upper = _search(profile, name, best, step, 1.0, levels, par.max, maxiter, verbose)
        ci[name] = ([(s, v) for s, v in zip(levels[::-1], lower[::-1])] + [(0.0, best)]
                    + list(zip(levels, upper)))
        profile.warn_if_lower()
        if trace:
            points = sorted(profile.solved, key=lambda s: s[0][0])
            traces[name] = {n: np.array([s[1][n] for s in points]) for n in minimizer.params}
            traces[name]["prob"] = np.array([max(prob(profile.ndata, profile.nvarys, s[2],
                                                      profile.best_chi, 1), 0.0) for s in points])
    return (ci, traces) if trace else ci


def conf_interval2d(minimizer, x_name, y_name, nx=10, ny=10, limits=None, prob_func=None):
    """Probability on a grid of two fixed parameters, the others refitted (manual 4.4).

    Parameters
    ----------
    minimizer : Minimizer
        Already fitted; left exactly as it is.
    x_name, y_name : str
        Two varying parameters.
    nx, ny : int
        Grid points along x and y.
    limits : ((x1, x2), (y1, y2)), optional
        Ends of the grid in either order; default: best value +/- 5 stderr,
        kept inside the parameters' bounds.
    prob_func : callable, 'f_test' or 'likelihood', optional

    Returns
    -------
    x : ndarray, shape (nx,)
    y : ndarray, shape (ny,)
    grid : ndarray, shape (ny, nx)
        ``grid[j, i]`` is the probability at ``(x[i], y[j])``, so that
        ``plt.contourf(x, y, grid)`` is right. NaN where a sub-fit failed
        (with a warning counting them).
    """
    prob = _prob_func(prob_func)
    _check_fitted(minimizer)
    varying = [n for n, p in minimizer.params.items() if p.vary]
    for name in (x_name, y_name):
        if name not in varying:
            raise ValueError(f"conf_interval2d: {name!r} is not a varying parameter of the fit "
                             f"(varying: {', '.join(varying)})")
    if x_name == y_name:
        raise ValueError("conf_interval2d: x_name and y_name must differ")
    axes = []
    for name, n, given in ((x_name, nx, None if limits is None else limits[0]),
                           (y_name, ny, None if limits is None else limits[1])):
        par = minimizer.params[name]
        if given is None:
            if not par.stderr:
                raise ValueError(f"conf_interval2d: {name!r} has no stderr; give limits")
            lo, hi = par.value - 5 * par.stderr, par.value + 5 * par.stderr
        else:
            lo, hi = sorted(given)
        lo = lo if par.min is None else max(lo, par.min)
        hi = hi if par.max is None else min(hi, par.max)
        if not lo <= hi:
            raise ValueError(f"conf_interval2d: the limits of {name!r}, {given}, lie outside its "
                             f"bounds [{par.min}, {par.max}]")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"conf_interval2d: grid sizes must be positive integers, got {n!r}")
        # one point: the best value (or the middle of given limits), not an end
        mid = par.value if given is None else (lo + hi) / 2.0
        axes.append(np.linspace(lo, hi, n) if n > 1 else np.array([mid]))
    x, y = axes
    profile = _Profile(minimizer, [x_name, y_name], prob, 2, tol=_TOL_2D)
    # deviation: the manual documents grid as (nx, ny); (ny, nx) is the
    # shape plt.contourf(x, y, grid) expects when nx != ny.
    grid = np.full((ny, nx), np.nan)
    # Outwards from the best fit: each cell's nearest solved neighbour is
    # closer to the best fit, so a warm start never comes from further out.
    sx = minimizer.params[x_name].stderr or (x[-1] - x[0]) or 1.0
    sy = minimizer.params[y_name].stderr or (y[-1] - y[0]) or 1.0
    bx, by = minimizer.params[x_name].value, minimizer.params[y_name].value
    cells = sorted(((i, j) for j in range(ny) for i in range(nx)),
                   key=lambda c: ((x[c[0]] - bx) / sx) ** 2 + ((y[c[1]] - by) / sy) ** 2)
    for i, j in cells:
        grid[j, i] = profile.prob_at((x[i], y[j]))
    failed = int(np.isnan(grid).sum())
    if failed:
        warnings.warn(f"conf_interval2d: {failed} of {nx * ny} sub-fits failed; NaN there",
                      stacklevel=2)
    profile.warn_if_lower()
    return x, y, grid
