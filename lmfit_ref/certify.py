"""The final stage of every fit: certify that the engine's answer is a minimum.

An engine stops when its own test says so: MINPACK when a step or a
decrease is small relative to its tolerances, L-BFGS-B when its projected
gradient is small in absolute terms, annealing when it has cooled. None of
these says how far the point is from the minimum in the only units that
matter to the user, the parameters' standard errors. This stage does,
after any engine, in four steps:

1. **A Jacobian in the user's units at the best point.** The engine's
   last one is reused (no evaluations) if the values moved since it was
   taken by at most ``ERRORBARS`` of their scale, forward differences are
   accurate enough for this J's condition number, and the test it gives
   holds within ``FINISH`` with a margin for its age (``reuse.staleness``):
   the move, in standard errors, times the Gauss-Newton contraction rate,
   estimated from the engine's last two steps. Otherwise J is taken afresh
   at the point: forward differences (n evaluations), or central (2n)
   where forward ones would be too coarse or a last Gauss-Newton step
   looks likely (``reuse.unsettled``). A user's ``Dfun`` is compared
   with central differences, once (``DFUN_TOL``).
2. **The test** (``uncertainty.analyse``): the Gauss-Newton step, each
   component in its parameter's standard error, ``z_j``; plus the margin.
3. **The verdict.** Certified if every ``z_j`` (plus margin) is at most
   ``CERTIFY`` = 1e-3: closer to the minimum than a thousandth of an error
   bar; and if no parameter that acted at the start has stopped acting (a
   plateau of the model is not a minimum).
4. **Finishing** (with ``polish=True``, the default; ``polish.py``). Above
   ``FINISH`` = 1e-5 the polish runs: MINPACK from the best point with an
   accurate Jacobian and tolerances near machine epsilon, within what is
   left of ``maxfev``; then steps 1-3 again. Between FINE and FINISH one
   Gauss-Newton step is taken, unless every value's 7th digit is already
   settled (``DIGITS``). A point still not certified, or certified with a
   direction the data do not determine, is refitted once from the start
   (the engine may have left the minimum's basin); the better is kept.
   A point between FINISH and CERTIFY is already a minimum: it is polished
   because a few evaluations buy the last digits that a comparison with
   certified values (NIST's) expects, on problems whose large residuals
   make MINPACK converge slowly.

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

from . import bounds, differences, polish as finish
from .reuse import changed, staleness, too_coarse, unsettled
from .uncertainty import CERTIFY, EPS, ROUNDING, analyse, condition

#: Above this many standard errors from a stationary point, the polish
#: runs (if allowed), even when the point is certified.
FINISH = 1.0e-5
#: Between FINE and FINISH, one Gauss-Newton step is taken (1 evaluation),
#: unless every value is already within DIGITS of itself at the minimum.
FINE = 1.0e-7
DIGITS = 1.0e-7
#: The engine's Jacobian is reused only if the values moved since it was
#: taken by at most this fraction of their scale: the error bars it gives
#: are then right to about that fraction.
ERRORBARS = 1.0e-6
#: Relative disagreement of a Dfun column with central differences that
#: marks it wrong (central differences agree to ~1e-10 on smooth models).
DFUN_TOL = 1.0e-3


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
    distance: float = 0.0                         # the test: max z, plus staleness
    limits: list = field(default_factory=list)    # what the bounds transforms cannot resolve


def certify(obj, u, r, names, nfree, polish=True, maxfev=None, scale_covar=True, start=None):
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
    start : ndarray or None
        The fit's start u0: if the polish cannot certify the engine's
        point, it runs once more from there (the engine may have left the
        minimum's basin).

    Returns
    -------
    Verdict
    """
    verdict = _assess(obj, u, r, names, nfree, scale_covar)
    if not polish or any("Dfun" in p for p in verdict.problems):
        return verdict
    if verdict.distance > FINISH:
        verdict = _polish(obj, verdict, finish.unstick(obj, verdict), finish.POLISH_STEPS,
                          names, nfree, maxfev, scale_covar, "polished")
    elif verdict.certified and not _digits(obj, verdict) and _left(obj, maxfev):
        if verdict.jacobian.startswith("the engine"):  # (a step needs J at the point)
            verdict = _assess(obj, verdict.u, verdict.r, names, nfree, scale_covar, fresh=True,
                              central=True)
        stepped = (finish.gauss_newton_step(obj, verdict)
                    if verdict.certified and not _digits(obj, verdict) and _left(obj, maxfev)
                    else None)
        if stepped is not None:
            # The verdict and error bars stay those of the point before the
            # step, which was certified; the step only brings it closer.
            verdict = dataclasses.replace(verdict, u=stepped[0], r=stepped[1], notes=verdict.notes
                                          + [f"one Gauss-Newton step (from {verdict.distance:.2g} "
                                             "standard errors)"])
    if start is None or (verdict.certified and not verdict.analysis.undetermined):
        return verdict
    # Not certified even so, or certified where some direction is not
    # determined (two exponentials merged into one, a parameter on a
    # plateau): the engine may have left the basin of the minimum. The
    # polish then runs as a whole fit from the user's start, with what is
    # left of maxfev, and the better outcome is kept.
    obj.floor = None  # (the step floors learnt at the wrong point do not apply)
    again = _polish(obj, verdict, np.array(start, dtype=float), None, names, nfree, maxfev,
                    scale_covar, "refitted from the start", accurate=False)
    if again.distance > FINISH and again is not verdict:
        again = _polish(obj, again, again.u, finish.POLISH_STEPS, names, nfree, maxfev,
                        scale_covar, "polished")
    return max(verdict, again, key=_merit)


def _digits(obj, verdict):
    """True if the distance to the minimum is below FINE, or below DIGITS of every value.

    ``distance * sigma_j`` is how far P_j may still be from its value at
    the minimum; below ``DIGITS * |P_j|`` its first 7 digits are settled.
    """
    if verdict.distance <= FINE:
        return True
    P = np.abs(np.array(obj.values(verdict.u)))
    out = verdict.analysis
    free = [j for j in range(len(P)) if j not in out.held]
    return bool(np.all(verdict.distance * out.sigma[free] <= DIGITS * P[free]))


def _left(obj, maxfev):
    """True if maxfev leaves room for at least one more evaluation."""
    return maxfev is None or obj.evaluations() < maxfev


def _merit(verdict):
    """Order of preference: certified with every direction determined, then lower chi-square.

    (A point certified only in its determined directions loses to a lower
    chi-square found elsewhere: that shows it is not the minimum.)
    """
    chi2 = float(verdict.r @ verdict.r)
    return (verdict.certified and not verdict.analysis.undetermined, -chi2)


def _polish(obj, verdict, u, limit, names, nfree, maxfev, scale_covar, label, accurate=True):
    """`polish.run` from u, then `_assess` at its end (kept only if chi-square fell)."""
    polished = finish.run(obj, verdict, u, limit, maxfev, accurate)
    if polished is None:
        left = f"no evaluations were left to polish it (maxfev = {maxfev})"
        if not verdict.certified and left not in verdict.problems:
            verdict.problems.append(left)
        return verdict
    if polished.fvec @ polished.fvec >= verdict.r @ verdict.r:  # (never worse than before)
        verdict.notes.append(f"{label}, but found no better point ({polished.message})")
        return verdict
    again = _assess(obj, polished.u, polished.fvec, names, nfree, scale_covar)
    again.notes = verdict.notes + [f"{label} ({polished.message})"] + again.notes
    return again


def _analysis(obj, u, r, J, names, nfree, scale_covar):
    """Held flags and the analysis of J at u (``uncertainty.analyse``).

    The analysis with every parameter free decides which sit on their
    bound (in their standard errors); only if some do is J analysed again
    with them held.
    """
    P = obj.values(u)
    # what u can resolve in P: rounding of u, times dP/du
    resolution = ROUNDING * EPS * np.abs(u * obj.slopes(u))
    free = analyse(J, r, nfree, names, P, (), None, scale_covar, resolution)
    flags, sides = _held(obj, u, free)
    if not any(flags):
        return free, flags
    held = [j for j, f in enumerate(flags) if f]
    return analyse(J, r, nfree, names, P, held, sides, scale_covar, resolution), flags


def _check_dfun(obj, u, r, names, nfree):
    """Compare the user's Dfun with central differences at u; return (J, problems)."""
    P = np.array(obj.values(u))
    J_user = obj.dfun(P)
    J_cd = obj.jacobian_P(P, r, central=True, nfree=nfree)
    fine = None
    problems = []
    for j, name in enumerate(names):
        a, b = J_user[:, j], J_cd[:, j]
        off = _disagreement(a, b)
        if off > DFUN_TOL and fine is None:
            # The differences themselves may be off (a step of eps**(1/3)|P|
            # is coarse for a peak's centre far from 0): a step 16 times
            # smaller cuts their truncation error 256-fold. Only a column
            # that disagrees with both is wrong.
            fine = differences.jacobian(obj.at_values, P, obj.floor, obj.lo, obj.hi,
                                        central=True, r0=r, rel=differences.CENTRAL_STEP / 16)
        if off > DFUN_TOL:
            off = min(off, _disagreement(a, fine[:, j]))
        if off > DFUN_TOL:
            hint = ("wrong sign" if float(a @ b) < 0 else "a wrong factor or a swapped "
                    "column" if off < 1.5 else "a wrong or swapped column")
            problems.append(f"Dfun disagrees with central differences for {name!r} "
                            f"(relative difference {off:.3g}; {hint}?)")
    return (J_cd if problems else J_user), problems


def _disagreement(a, b):
    """|a - b| relative to the larger of |a|, |b| (0 if both are 0)."""
    size = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    return float(np.linalg.norm(a - b)) / size if size > 0 else 0.0


def _held(obj, u, free):
    """Which parameters sit on their bound (flags), and on which side (+1 lower, -1 upper).

    `free` is the analysis with none held: "near" is measured in its
    standard errors, mapped to u (``bounds.near_bound``).
    """
    P = obj.values(u)
    sigma_P = np.sqrt(np.abs(np.diagonal(free.cov))) if free.cov is not None else None
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


def _assess(obj, u, r, names, nfree, scale_covar, fresh=False, central=False):
    """Steps 1-3 at u: choose J, analyse it, give the verdict.

    The engine's last Jacobian is used (unless `fresh`) when the values
    moved by at most ``ERRORBARS`` of their scale since it was taken, the
    test it gives plus its ``reuse.staleness`` is within ``FINISH``, and
    forward differences are accurate enough (``reuse.too_coarse``).
    Otherwise J is taken afresh at u, by forward differences where they are
    accurate enough, else (or if `central`) by central ones.
    """
    u, r = np.array(u, dtype=float), np.array(r, dtype=float)
    problems, margin, out = [], None, None
    if obj.dfun is not None:
        J, problems = _check_dfun(obj, u, r, names, nfree)
        how = "the user's Dfun, checked against central differences"
        out, flags = _analysis(obj, u, r, J, names, nfree, scale_covar)
        margin = 0.0
    elif (not fresh and obj.last is not None and obj.last[3] in ("forward", "central")
          and changed(obj, u, obj.last[0]) <= ERRORBARS):
        u_J, J, _, kind = obj.last
        out, flags = _analysis(obj, u, r, J, names, nfree, scale_covar)
        margin = staleness(obj, u, u_J, kind, out, J, r)
        how = f"the engine's last ({kind} differences), reused"
        # (nor if a fresh one would have to be central: see below)
        if (out.worst()[1] + margin > FINISH
                or too_coarse(obj, kind, J, r, u, out.kappa, 0.1 * FINISH)):
            margin = None
    if margin is None:
        # Forward differences (n evaluations) where their error, times
        # kappa, stays well inside FINISH; else central (2n).
        if not central and obj.last is not None and obj.last[3] != "user":
            J = obj.last[1]  # (kappa estimated from the engine's J)
            # A last Gauss-Newton step, if the engine's last steps say one
            # will be wanted, needs J accurate to the last digits: central
            # (forward differences err by ~1e-7 of a column where the data
            # dwarf a parameter's part of the model, as on NIST's Roszman1).
            central = (too_coarse(obj, "forward", J, r, u, condition(J), 0.1 * FINISH)
                       or unsettled(obj, u, DIGITS))
        elif not central:
            central = True
        kind = "central" if central else "forward"
        J = obj.jacobian_P(obj.values(u), r, central=central, nfree=nfree)
        obj.remember(u, J, r, kind)
        how = f"{kind} differences at the best point"
        out, flags = _analysis(obj, u, r, J, names, nfree, scale_covar)
        margin = 0.0
    j, worst = out.worst()
    worst += margin
    held = out.held
    for k, name in enumerate(names):  # a column that died during the fit: a plateau
        if k not in held and obj.live is not None and obj.live[k] and not J[:, k].any():
            problems.append(f"{name!r} has no effect on the residual here, though it had at "
                            "the start: the fit ran onto a plateau of the model, not a minimum")
    notes = []
    if out.cov is not None:  # what the bounds transform cannot resolve, said
        spacing = EPS * np.abs(u * obj.slopes(u))  # about one unit in the last place of u
        sigma = np.sqrt(np.abs(np.diagonal(out.cov)))
        for k, name in enumerate(names):
            if k not in held and spacing[k] > CERTIFY * sigma[k] > 0:
                notes.append(f"{name!r} can be placed no closer than about {spacing[k]:.2g} "
                             f"({spacing[k] / sigma[k]:.2g} standard errors) by its bounds "
                             "transform: bounds this wide cost precision")
    if worst > CERTIFY:
        if j in held:
            problems.append(f"{names[j]!r} is on its bound, but the data pull it {worst:.3g} "
                            "standard errors inward: not a minimum")
        else:
            problems.append(f"not at a minimum: {names[j]!r} is {worst:.3g} standard errors "
                            "from a stationary point (the Gauss-Newton step)")
    return Verdict(u=u, r=r, analysis=out, certified=not problems, problems=problems,
                   limits=notes, on_bound=flags, jacobian=how, distance=worst)


