"""Simulated annealing, written here from the textbook (SciPy's was removed in 0.16).

A local method such as Levenberg-Marquardt goes downhill from its start and
stops in the first valley. Annealing (Kirkpatrick, Gelatt and Vecchi 1983)
also accepts some uphill moves, fewer and fewer as a *temperature* T
falls, so that early on it wanders between valleys and late it settles in
the deepest one it has found. One step:

1. **Propose** ``u_new = u + step``, a random step whose size shrinks with
   T (the schedule decides how), kept inside the search box.
2. **Accept** by the Metropolis rule: always if ``f(u_new) <= f(u)``, else
   with probability ``exp(-(f(u_new) - f(u)) / T)``.
3. After ``dwell`` proposals, **cool**: the next temperature of the schedule.

The three schedules of the old SciPy function, k = 0, 1, 2, ... the
temperature index and n the number of variables:

* ``'boltzmann'`` (classical): ``T_k = T0 / log(k + 2)``, Gaussian steps of
  standard deviation ``learn_rate * sqrt(T_k / T0) * width``. The
  logarithmic cooling is the one with a convergence proof, and very slow.
* ``'cauchy'`` (fast annealing, Szu and Hartley 1987): ``T_k = T0 / (1 + k)``,
  Cauchy steps of scale ``learn_rate * (T_k / T0) * width``: heavy tails keep
  some long jumps while cooling fast.
* ``'fast'`` (very fast annealing, Ingber 1989): ``T_k = T0 exp(-c k**(quench/n))``,
  ``c = m exp(-n_q quench)``; each coordinate steps by
  ``y * width`` with ``y = sign(s) t ((1 + 1/t)**|2s| - 1)``, s uniform in
  [-1/2, 1/2] and t = T_k / T0.

``width`` is the width of the search box in each coordinate. The box is in
the Minimizer's internal coordinates u (``bounds.py``): for a parameter with
two bounds it is the whole interval (u in [3 pi/2, 5 pi/2]), so annealing
searches between the bounds; for others, ``lower``/``upper`` given to
``Minimizer.anneal`` or, by default, the start value plus or minus its
magnitude (at least 1).

The temperature is in units of the sum of squares. Unless ``T0`` is given,
it is set from the spread (standard deviation) of f over random points of
the box, so that at first typical uphill moves are often accepted.

Annealing keeps the best point it has seen and returns it. It has no test
that this point is a minimum, so the stage after every engine
(``certify.py``) decides, and polishes it with Levenberg-Marquardt when it
is not (``polish=True``, the default): annealing finds the valley, the
local method finds its floor and gives the covariance. The book shows what
each stage contributes.

Notation
--------
u      internal vector, shape (n,)
f      sum of squares, ``r(u) @ r(u)``
T      temperature, in units of f

References: S. Kirkpatrick, C. D. Gelatt, M. P. Vecchi, Science 220 (1983)
671; H. Szu, R. Hartley, Phys. Lett. A 122 (1987) 157; L. Ingber, Math.
Comput. Modelling 12 (1989) 967.

Book: book/engines.md
"""
import math

import numpy as np

from .. import bounds
from .base import EngineResult

#: It searches a box (``run``'s `box`), which the Minimizer computes.
USES_BOX = True

#: The cooling schedules, by the names of the old scipy.optimize.anneal.
SCHEDULES = ("fast", "cauchy", "boltzmann")

KEYWORDS = ("schedule", "T0", "Tf", "maxiter", "maxeval", "maxaccept", "dwell", "learn_rate",
            "feps", "quench", "m", "n", "rng")


def _as_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"anneal: rng must be a seed (int) or a numpy.random.Generator, got {rng!r}")


def temperature(schedule, T0, k, n, quench=1.0, m=1.0, n_q=1.0):
    """The temperature after k coolings, for one of `SCHEDULES`.

    >>> [round(temperature(s, 1.0, 9, 2), 4) for s in SCHEDULES]  # exp(-3/e), 1/10, 1/log(11)
    [0.3317, 0.1, 0.417]
    """
    if schedule == "boltzmann":
        return T0 / math.log(k + 2)
    if schedule == "cauchy":
        return T0 / (1.0 + k)
    # Ingber's very fast annealing: T0 exp(-c k**(Q/D)), Q the quench factor
    # and D the number of dimensions.
    # deviation: the old scipy.optimize.anneal used k**quench, not k**(quench/D).
    c = m * math.exp(-n_q * quench)
    return T0 * math.exp(-c * k ** (quench / n))


def propose(schedule, u, t, width, learn_rate, rng):
    """A random step from u at relative temperature t = T/T0 (before clipping)."""
    if schedule == "boltzmann":
        return u + learn_rate * math.sqrt(t) * width * rng.standard_normal(u.size)
    if schedule == "cauchy":
        return u + learn_rate * t * width * rng.standard_cauchy(u.size)
    s = rng.random(u.size) - 0.5
    y = np.sign(s) * t * ((1.0 + 1.0 / t) ** np.abs(2.0 * s) - 1.0)
    return u + learn_rate * y * width


def reflect(u, lower, upper):
    """Fold a proposal back into the box, mirror-wise at its walls.

    Clipping would pile proposals up exactly on the walls, and for a
    parameter with two bounds the walls (u = 2 pi +- pi/2) are where the bounds
    map is flat: a best point there would stall the polish.

    >>> reflect(np.array([1.2, -0.5, 0.5]), np.zeros(3), np.ones(3)).tolist()
    [0.8, 0.5, 0.5]
    """
    width = upper - lower
    x = np.mod(u - lower, 2.0 * width)
    return lower + np.where(x > width, 2.0 * width - x, x)


def run(residual, u0, jacobian=None, box=None, evaluations=None, schedule="fast", T0=None,
        Tf=1e-12, maxiter=400, maxeval=50_000, maxaccept=None, dwell=50, learn_rate=0.5,
        feps=1e-6, quench=1.0, m=1.0, n=1.0, rng=None, **unknown):
    """Minimise ``sum(residual(u)**2)`` by simulated annealing in a box.

    Parameters
    ----------
    residual : callable
        ``residual(u) -> ndarray``.
    u0 : ndarray, shape (nvar,)
        Start, inside `box`.
    jacobian, evaluations : ignored
        (Annealing uses residual values only, and keeps to `maxeval`.)
    box : (ndarray, ndarray)
        Lower and upper ends of the search region in u, shape (nvar,) each.
    schedule : {'fast', 'cauchy', 'boltzmann'}
    T0, Tf : float
        Initial temperature (None: from the spread of f in the box) and the
        temperature at which to stop.
    maxiter : int
        Most temperatures (coolings).
    maxeval : int
        Most evaluations of the residual.
    maxaccept : int or None
        Stop after this many accepted moves.
    dwell : int
        Proposals at each temperature.
    learn_rate : float
        Scale of the steps, relative to the box width.
    feps : float
        Stop when the best f has improved by less than ``feps`` (relative)
        over the last 20 temperatures.
    quench, m, n : float
        Parameters of the ``'fast'`` schedule.
    rng : int, numpy.random.Generator or None
        The random generator, or a seed for one: a run is reproducible.

    Returns
    -------
    EngineResult
        ``success`` is True when the search ran its course: it is no claim
        of a minimum. ``info`` holds ``'anneal_u'``, ``'anneal_chisqr'``
        (the best point), ``'anneal_nfev'``, ``'temperatures'`` and
        ``'best_chisqr'`` (per temperature, for plotting), ``'stop'``, and
        ``'nonfinite'``: points whose residual was not finite, never moved to.

    Examples
    --------
    >>> f = lambda u: np.array([u[0] - 1.0, 2.0 * (u[1] + 0.5)])
    >>> res = run(f, np.zeros(2), box=(-np.full(2, 5.0), np.full(2, 5.0)), rng=1)
    >>> np.round(res.u, 1).tolist()  # near the minimum, not at it
    [1.0, -0.5]
    """
    if unknown:
        raise TypeError(f"anneal got unexpected keyword(s) {sorted(unknown)}; it takes "
                        f"{', '.join(KEYWORDS)}, and lower/upper through Minimizer.anneal")
    if T0 is not None and not (isinstance(T0, (int, float, np.floating)) and 0 < T0 < math.inf):
        raise ValueError(f"anneal: T0 must be a positive number or None, got {T0!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"anneal: unknown schedule {schedule!r}; the schedules are {SCHEDULES}")
    for name, value in (("maxiter", maxiter), ("maxeval", maxeval), ("dwell", dwell)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise TypeError(f"anneal: {name} must be a positive integer, got {value!r}")
    rng = _as_rng(rng)
    lower, upper = (np.asarray(b, dtype=float) for b in box)
    width = upper - lower
    nvar = u0.size

    rejected = [0]  # points whose residual was not finite

    def f(u):
        # A point where the model overflows (a non-finite residual) is not a
        # fault of the search: it is simply a point never to move to.
        try:
            r = residual(u)
        except FloatingPointError:
            rejected[0] += 1
            return math.inf
        with np.errstate(over="ignore"):  # past 1e154, r @ r is rightly inf
            return float(r @ r)

    # Initial temperature: the spread of f over random points of the box.
    u_best = u_cur = np.clip(u0, lower, upper)
    f_best = f_cur = f(u_cur)
    nfev = 1
    if T0 is None:
        samples = [f(lower + width * rng.random(nvar)) for _ in range(10 * nvar)]
        nfev += len(samples)
        # Far from the data r @ r can be enormous, or overflow to inf: use the
        # finite values, and if squaring them in the standard deviation
        # overflows, take it of the values scaled down by the largest.
        finite = np.array([v for v in samples + [f_cur] if math.isfinite(v)])
        with np.errstate(over="ignore", invalid="ignore"):
            spread = float(np.std(finite)) if finite.size > 1 else 0.0
        if not math.isfinite(spread):
            largest = float(np.max(np.abs(finite)))
            spread = float(np.std(finite / largest)) * largest
        T0 = spread if 0 < spread < math.inf else max(abs(f_cur), 1.0)
    temperatures, best_trace = [], []
    accepted, stop = 0, "maxiter temperatures done"
    for k in range(maxiter):
        T = temperature(schedule, T0, k, nvar, quench, m, n)
        t = T / T0
        for _ in range(dwell):
            u_new = reflect(propose(schedule, u_cur, t, width, learn_rate, rng), lower, upper)
            f_new = f(u_new)
            nfev += 1
            # The Metropolis rule: downhill always, uphill with exp(-df/T).
            if f_new <= f_cur or rng.random() < math.exp(-(f_new - f_cur) / T):
                u_cur, f_cur = u_new, f_new
                accepted += 1
                if f_cur < f_best:
                    u_best, f_best = u_cur, f_cur
            if nfev >= maxeval:
                break
        temperatures.append(T)
        best_trace.append(f_best)
        if nfev >= maxeval:
            stop = f"maxeval={maxeval} evaluations used"
            break
        if maxaccept is not None and accepted >= maxaccept:
            stop = f"maxaccept={maxaccept} moves accepted"
            break
        if T < Tf:
            stop = f"temperature fell below Tf={Tf}"
            break
        if k >= 20 and best_trace[-21] - f_best <= feps * abs(f_best):
            stop = f"best sum of squares changed by less than feps={feps} in 20 temperatures"
            break
        # Restart each temperature from the best point with some chance:
        # keeps the walk from drifting far from the best valley as T falls.
        if rng.random() < 0.1:
            u_cur, f_cur = u_best, f_best
    info = {"anneal_u": u_best.copy(), "anneal_chisqr": f_best, "anneal_nfev": nfev,
            "temperatures": np.array(temperatures), "best_chisqr": np.array(best_trace),
            "stop": stop, "T0": T0, "nonfinite": rejected[0]}
    message = f"annealing ({schedule}): {stop}; best sum of squares {f_best:.6g}"
    r_best = None if not math.isfinite(f_best) else np.array(residual(u_best), dtype=float)
    return EngineResult(u=np.array(u_best, dtype=float), success=math.isfinite(f_best),
                        nfev=nfev + (r_best is not None), fvec=r_best, info=info, message=message)


def search_box(maps, u0, varying, lower=None, upper=None):
    """The region annealing searches, in internal coordinates u.

    `maps` are the Minimizer's bounds maps ``(to_external, slope, a, b)``,
    `u0` the start, `varying` the varying Parameters. ``lower``/``upper``:
    in the parameters' units, one value or one per varying parameter (None
    for "not given"); see ``bounds.search_range``.
    """
    n = len(varying)
    ends = []
    for given, name in ((lower, "lower"), (upper, "upper")):
        values = [given] * n if given is None or np.ndim(given) == 0 else list(given)
        if len(values) != n:
            raise ValueError(f"anneal: {name} must have one value per varying parameter "
                             f"({n}: {', '.join(par.name for par in varying)}), got {len(values)}")
        ends.append(values)
    box = [bounds.search_range(u0, a, b, P_lo, P_hi) for (_, _, a, b), u0, P_lo, P_hi
           in zip(maps, np.asarray(u0).tolist(), *ends)]
    for par, (u_lo, u_hi), P_lo, P_hi in zip(varying, box, *ends):
        if not u_lo < u_hi:
            raise ValueError(f"anneal: empty search range for {par.name!r} "
                             f"(lower {P_lo}, upper {P_hi})")
    return np.array([lo for lo, _ in box]), np.array([hi for _, hi in box])
