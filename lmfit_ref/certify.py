"""The final stage of every fit: certify that the engine's answer is a minimum.

An engine stops when its own test says so: MINPACK when a step or a
decrease is small relative to its tolerances, L-BFGS-B when its projected
gradient is small in absolute terms, annealing when it has cooled. None of
these says how far the point is from the minimum in the only units that
matter to the user, the parameters' standard errors. This stage does,
after any engine, in five steps:

1. **A Jacobian in the user's units at the best point.** The engine's last
   one is reused if it is close enough and accurate enough: computed where
   the values differ from the best point's by at most ``REUSE_SHIFT`` of
   their scale (J then differs from the one at the best point by about
   that fraction), and by forward differences only where the condition
   number kappa of J (columns scaled) keeps their error, ``kappa *
   eps**(1/2)``, within ``ACCURACY``. Otherwise a fresh one is taken by
   central differences (2n evaluations). A user's ``Dfun`` is compared
   with central differences here, once (``DFUN_TOL``).
2. **The certificate** (``uncertainty.analyse``): the Gauss-Newton step,
   each component in its parameter's standard error, ``z_j``.
3. **Chord steps.** While ``max z`` lies between ``FINE`` and 1, take the
   Gauss-Newton step with the same J (one evaluation each, at most
   ``CHORD_STEPS``), keeping it only if chi-square does not rise. Near a
   minimum this converges fast (J hardly changes over such a step), and
   it finishes a fit that an engine stopped a little early, as MINPACK's
   relative tolerances do on large data sets.
4. **The verdict.** Certified if every ``z_j <= CERTIFY``.
5. **The polish**, only if not certified (and ``polish=True``): MINPACK
   from the best point, with a central-difference Jacobian in the user's
   units and tolerances near machine epsilon, within what is left of
   ``maxfev``; then steps 1-4 again. A parameter held on its bound whose
   data pull it inward is first moved inside (the bounds map is flat on
   the bound, so no engine could move it from there).

A parameter on its bound (``bounds.near_bound``) is held there: the
others' error bars are those with it fixed, and it counts as converged
only if the data push it against the bound.

Notation
--------
u      internal vector, shape (n,);  P = P(u) the values
r      residual at u, shape (N,)
J      Jacobian dr/dP, shape (N, n)
z      Gauss-Newton step over standard error, shape (n,)

Book: book/certificate.md
"""
import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from . import bounds
from .engines import leastsq
from .uncertainty import CERTIFY, EPS, ROUNDING, analyse
#: Chord steps are taken while the step exceeds this (and is at most 1).
FINE = 1.0e-6
CHORD_STEPS = 2
#: The engine's Jacobian is reused if the values moved by at most this
#: fraction of their scale since it was taken ...
REUSE_SHIFT = 1.0e-4
#: ... and its difference error, times kappa, is at most this (the error
#: bars' relative error) ...
ACCURACY = 1.0e-4
#: ... and the stationary point it defines is within this fraction of
#: every value (6 digits: NIST's customary bar).
VALUES = 1.0e-7
#: Relative disagreement of a Dfun column with central differences that
#: marks it wrong (central differences agree to ~1e-10 on smooth models).
DFUN_TOL = 1.0e-3
#: Trial steps the polish may take.
POLISH_STEPS = 100
#: Tolerances (xtol, ftol) of the polish: MINPACK runs until nothing improves.
POLISH_TOL = 1.0e-15


@dataclass
class Verdict:
    """The outcome of the final stage."""

    u: np.ndarray
    r: np.ndarray
    analysis: object = None
    certified: bool = False
    problems: list = field(default_factory=list)  # why not certified
    notes: list = field(default_factory=list)     # what was done
    on_bound: list = field(default_factory=list)  # a flag per parameter
    jacobian: str = ""                            # 'engine (forward)', 'central', ...


def certify(obj, u, r, names, nfree, polish=True, maxfev=None, scale_covar=True):
    """Certify the point `u` (residual `r`) of a fit, polishing it if needed.

    Parameters
    ----------
    obj : objective.Objective
        The fit's objective (its ``last`` Jacobian may be reused).
    u : ndarray, shape (n,)
    r : ndarray, shape (N,)
    names : sequence of str
    nfree : int
    polish : bool
    maxfev : int or None
        The fit's budget of evaluations; the polish gets what is left.
    scale_covar : bool

    Returns
    -------
    Verdict
    """
    verdict = _assess(obj, u, r, names, nfree, scale_covar)
    if verdict.certified or not polish or any("Dfun" in p for p in verdict.problems):
        return verdict
    trials = POLISH_STEPS
    if maxfev is not None:  # each trial costs a Jacobian (2n) and itself
        trials = min(trials, (maxfev - obj.evaluations() - 1) // (2 * len(u) + 1))
    if trials < 2:
        verdict.problems.append(f"no evaluations were left to polish it (maxfev = {maxfev})")
        return verdict
    start = _unstick(obj, verdict)
    polished = leastsq.minimize_tightly(obj.residual, start, _central(obj), trials, POLISH_TOL,
                                        _sigma_u(obj, start))
    if polished.fvec @ polished.fvec > verdict.r @ verdict.r:  # (never worse than before)
        polished.u, polished.fvec = verdict.u, verdict.r
    again = _assess(obj, polished.u, polished.fvec, names, nfree, scale_covar)
    again.notes = verdict.notes + [f"polished ({polished.message})"] + again.notes
    return again


def _sigma_u(obj, u):
    """A standard error of each u_j: the floor of the differences (sigma with others held), mapped."""
    P = np.array(obj.values(u))
    sigma_P = obj.floor if obj.floor is not None else np.maximum(np.abs(P), 1.0)
    D = np.abs(obj.slopes(u))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = sigma_P / D
    return np.where(np.isfinite(sigma) & (sigma > 0), sigma, 1.0)


def _central(obj):
    """The polish's Jacobian: central differences in P, chained to u, once per point."""
    memo = {}

    def jacobian(u):
        key = tuple(np.asarray(u).tolist())
        if key not in memo:
            memo.clear()
            u = np.array(u, dtype=float)
            P = obj.values(u)
            J = obj.jacobian_P(P, central=True)
            obj.last = (u, J, None, "central")
            memo[key] = J * obj.slopes(u)
        return memo[key]
    return jacobian


def _shift(obj, u, u_J):
    """How far the values moved from u_J to u, relative to their scale (max over j)."""
    P, P_J = np.array(obj.values(u)), np.array(obj.values(u_J))
    scale = np.maximum(np.abs(P), obj.floor if obj.floor is not None else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        moved = np.where(scale > 0, np.abs(P - P_J) / scale, np.where(P == P_J, 0.0, math.inf))
    return float(np.max(moved)) if moved.size else 0.0


def _stale(obj, u, u_J, kind, out, nfree):
    """True if J (taken at u_J by `kind`) could move any value at u by more than ``VALUES`` of its size.

    An error dJ (relative) in J tilts ``J^T r``, whose size is about
    ``sqrt(nfree)`` s per column: the stationary point it defines moves by
    about ``dJ * kappa * sqrt(nfree)`` standard errors. dJ is the
    difference error (eps**(1/2) forward, eps**(2/3) central) plus the
    relative shift of the values since J was taken (J changes with them).
    """
    error = {"forward": math.sqrt(EPS), "central": EPS ** (2.0 / 3.0), "user": 0.0}[kind]
    dJ = error + _shift(obj, u, u_J)
    if dJ > REUSE_SHIFT or out.kappa * error > ACCURACY:
        return True
    P = np.abs(np.array(obj.values(u)))
    moved = dJ * out.kappa * math.sqrt(max(nfree, 1)) * out.sigma
    return bool(np.any(moved > VALUES * P))


def _choose_jacobian(obj, u, r, names, nfree, fresh=False):
    """The Jacobian dr/dP at u: the engine's last, unless `_stale`; else central differences."""
    P = np.array(obj.values(u))
    if not fresh and obj.last is not None and obj.last[1] is not None and obj.last[3] != "user":
        u_J, J, _, kind = obj.last
        if not _stale(obj, u, u_J, kind, analyse(J, r, nfree, names, P), nfree):
            return J, f"the engine's last ({kind} differences), reused"
    J = obj.jacobian_P(P, r, central=True, nfree=nfree)
    obj.last = (np.array(u, dtype=float), J, r, "central")
    return J, "central differences at the best point"


def _check_dfun(obj, u, r, names, nfree):
    """Compare the user's Dfun with central differences at u; return (J, problems)."""
    P = np.array(obj.values(u))
    J_user = obj.dfun(P)
    J_cd = obj.jacobian_P(P, r, central=True, nfree=nfree)
    problems = []
    for j, name in enumerate(names):
        a, b = J_user[:, j], J_cd[:, j]
        size = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
        off = float(np.linalg.norm(a - b)) / size if size > 0 else 0.0
        if off > DFUN_TOL:
            hint = ("wrong sign" if float(a @ b) < 0 else "a wrong factor or a swapped "
                    "column" if off < 1.5 else "a wrong or swapped column")
            problems.append(f"Dfun disagrees with central differences for {name!r} "
                            f"(relative difference {off:.3g}; {hint}?)")
    return (J_cd if problems else J_user), problems


def _held(obj, u, J, r, names, nfree, scale_covar):
    """Which parameters sit on their bound (flags), and on which side (+1 lower, -1 upper)."""
    P = obj.values(u)
    first = analyse(J, r, nfree, names, P, scale_covar=scale_covar)
    sigma_P = np.sqrt(np.abs(np.diagonal(first.cov))) if first.cov is not None else None
    D = obj.slopes(u)
    flags, sides = [], []
    for j, (v, a, b) in enumerate(zip(u.tolist(), obj.lo, obj.hi)):
        sigma_u = None
        if sigma_P is not None and D[j] != 0:
            sigma_u = float(sigma_P[j] / abs(D[j]))
        elif sigma_P is not None:
            sigma_u = math.inf
        flag = (a is not None or b is not None) and bounds.near_bound(v, a, b, sigma_u=sigma_u)
        flags.append(flag)
        if flag:
            lower = b is None or (a is not None and P[j] - a <= b - P[j])
            sides.append(1 if lower else -1)
    return flags, sides


def _assess(obj, u, r, names, nfree, scale_covar):
    """Steps 1-4 at u: choose J, analyse, chord steps, verdict.

    Chord steps move the point away from where J was taken; if they move
    it by more than ``REUSE_SHIFT``, J is taken afresh there and the
    analysis repeated (once), so that the verdict always rests on a
    Jacobian taken at the point it certifies.
    """
    u, r = np.array(u, dtype=float), np.array(r, dtype=float)
    notes, total = [], 0
    for attempt in range(3):
        problems = []
        u_J = u
        if obj.dfun is not None:
            J, problems = _check_dfun(obj, u, r, names, nfree)
            how = "the user's Dfun, checked against central differences"
        else:
            J, how = _choose_jacobian(obj, u, r, names, nfree, fresh=attempt > 0)
        flags, sides = _held(obj, u, J, r, names, nfree, scale_covar)
        held = [j for j, f in enumerate(flags) if f]
        P = obj.values(u)
        # what u can resolve in P: rounding of u, times dP/du
        resolution = ROUNDING * np.finfo(float).eps * np.abs(u * obj.slopes(u))
        out = analyse(J, r, nfree, names, P, held, sides, scale_covar, resolution)
        steps = 0
        while steps < CHORD_STEPS and FINE < out.worst()[1] <= 1.0 and not problems:
            trial = _inside(obj, P, out.step)
            if trial is None:
                break
            try:
                r_new = np.array(obj.residual(trial), dtype=float)
            except FloatingPointError:
                break
            if r_new @ r_new > r @ r:
                break
            steps += 1
            total += 1
            u, r, P = trial, r_new, obj.values(trial)
            step = out.step_for(r)
            z = np.abs(step) / out.sigma
            z[held] = out.z[held]
            out = dataclasses.replace(out, step=step, z=z)
        if obj.dfun is not None or not _stale(obj, u, u_J, obj.last[3], out, nfree):
            break
    if total:
        notes.append(f"{total} Gauss-Newton step(s)")
    j, worst = out.worst()
    if worst > CERTIFY:
        if j in held:
            problems.append(f"{names[j]!r} is on its bound, but the data pull it {worst:.3g} "
                            "standard errors inward: not a minimum")
        else:
            problems.append(f"not at a minimum: {names[j]!r} is {worst:.3g} standard errors "
                            "from a stationary point (the Gauss-Newton step)")
    return Verdict(u=u, r=r, analysis=out, certified=not problems, problems=problems,
                   notes=notes, on_bound=flags, jacobian=how)


def _inside(obj, P, step):
    """u at P + step, or None if that leaves (or touches) a bound."""
    new = [p + d for p, d in zip(P, step.tolist())]
    for v, a, b in zip(new, obj.lo, obj.hi):
        if (a is not None and v <= a) or (b is not None and v >= b):
            return None
    return obj.internal(new)


def _unstick(obj, verdict):
    """u to polish from: held parameters that the data pull inward are moved inside.

    Each moves by its own 1-d Newton step (``Analysis.pull``), but at most
    half way to its other bound: on the bound the map is flat, and no
    engine could move it from there.
    """
    out, u = verdict.analysis, verdict.u.copy()
    P = obj.values(u)
    moved = False
    for j in out.held:
        if out.z[j] > CERTIFY:
            a, b = obj.lo[j], obj.hi[j]
            width = math.inf if a is None or b is None else b - a
            P[j] = P[j] + math.copysign(min(abs(out.pull[j]), 0.5 * width), out.pull[j])
            moved = True
    return obj.internal(P) if moved else u
