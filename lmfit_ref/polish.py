"""Finishing a fit: the polish, one Gauss-Newton step, and unsticking a bound.

The final stage (``certify.py``) decides; this module does. Three tools:

* `run`, the polish: MINPACK again from a point, with an accurate
  Jacobian (central differences in the user's units, or the user's
  ``Dfun``) and tolerances near machine epsilon (``POLISH_TOL``), so that
  it stops only when no step improves chi-square. MINPACK measures its
  first step and its xtol test relative to |x|, meaningless for u (u ~ 0
  at a start of 1e-20), so it works in ``x = u - u0 + scale``, with
  `scale` the size of a step that matters in each u (`_sigma_u`). A
  parameter held on its bound stays out: next to the flat point of the
  bounds map its column is ~0 and MINPACK's steps would stall on it.
* `gauss_newton_step`: one step ``d = -(J^T J)^-1 J^T r`` with a J taken
  at the point; near a minimum it shrinks the distance by the method's
  contraction rate, for one evaluation.
* `unstick`: a parameter held on its bound that the data pull inward is
  moved inside by its own 1-d Newton step, for no engine could move it
  from the flat point of the map.

Notation
--------
u      internal vector, shape (n,);  P = P(u) the values
r      residual, shape (N,)
J      Jacobian dr/dP (user's units); chained to dr/du by dP/du

Book: book/certificate.md
"""
import math

import numpy as np

from .engines import leastsq
from .uncertainty import CERTIFY

__all__ = ["POLISH_STEPS", "POLISH_TOL", "run", "gauss_newton_step", "unstick"]

#: Trial steps a polish may take (a refit from the start: as many as maxfev allows).
POLISH_STEPS = 100
#: Tolerances (xtol, ftol) of the polish: MINPACK runs until nothing improves.
POLISH_TOL = 1.0e-15


def run(obj, verdict, u, limit, maxfev, accurate=True):
    """MINPACK from u with tolerances near eps, within `limit` trial steps and `maxfev`.

    `accurate`: central differences (or the user's Dfun), 2n evaluations
    per Jacobian; else forward ones, n (a whole fit from the start, whose
    last digits come from the final stage that follows). A parameter that
    `verdict` holds on its bound is put exactly on it and left out.

    Returns
    -------
    EngineResult or None
        None if ``maxfev`` leaves no room for two trial steps.
    """
    trials = limit if limit is not None else 10**9
    per_trial = (2 if accurate else 1) * len(u) + 1  # its Jacobian and itself
    if maxfev is not None:
        trials = min(trials, (maxfev - obj.evaluations() - 1) // per_trial)
    if trials < 2:
        return None
    # A parameter held on its bound (the data push it there) stays out of
    # the polish: next to the flat point of the bounds map its column is
    # ~0, and MINPACK's steps would stall on it.
    out = verdict.analysis
    held = [j for j in out.held if out.z[j] <= CERTIFY] if np.array_equal(u, verdict.u) else []
    free = np.array([j for j in range(len(u)) if j not in held], dtype=int)
    u = np.array(u, dtype=float)
    if held:  # ... and sits exactly on it
        P = obj.values(u)
        for j in held:
            a, b = obj.lo[j], obj.hi[j]
            P[j] = a if b is None or (a is not None and P[j] - a <= b - P[j]) else b
        u = np.array(obj.internal(P), dtype=float)
    central = _accurate_jacobian(obj) if accurate else obj.jacobian

    def residual(x):
        full = u.copy()
        full[free] = x
        return obj.residual(full)

    def jacobian(x, r=None):
        full = u.copy()
        full[free] = x
        return central(full, r)[:, free]
    polished = leastsq.minimize_tightly(residual, u[free], jacobian, trials, POLISH_TOL,
                                        _sigma_u(obj, u)[free])
    full = u.copy()
    full[free] = polished.u
    polished.u = full
    return polished


def _sigma_u(obj, u):
    """The scale of a step in each u_j: the step floor in P (sigma with others held), mapped.

    Before any Jacobian (the refit from the start) it is ``max(|P_j|, 1)``.
    """
    P = np.array(obj.values(u))
    sigma_P = obj.floor if obj.floor is not None else np.maximum(np.abs(P), 1.0)
    D = np.abs(obj.slopes(u))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = sigma_P / D
    return np.where(np.isfinite(sigma) & (sigma > 0), sigma, 1.0)


def _accurate_jacobian(obj):
    """The polish's Jacobian: the user's Dfun or central differences in P, chained to u, once per point."""
    memo = {}

    def jacobian(u, r=None):
        key = tuple(np.asarray(u).tolist())
        if key not in memo:
            memo.clear()
            u = np.array(u, dtype=float)
            P = obj.values(u)
            if obj.dfun is not None:  # (checked before the polish runs)
                J, kind = obj.dfun(np.asarray(P, dtype=float)), "user"
            else:
                J = obj.jacobian_P(P, r, central=True, nfree=0 if r is None else len(r) - len(P))
                kind = "central"
            obj.remember(u, J, r, kind)
            memo[key] = J * obj.slopes(u)
        return memo[key]
    return jacobian


def gauss_newton_step(obj, verdict):
    """(u, r) after the Gauss-Newton step of a certified point, or None if it does not lower chi-square.

    J was taken at this very point, so this is a true Gauss-Newton step:
    it shrinks the distance to the minimum by the method's contraction
    rate (tiny where the residuals are small). It costs one evaluation.
    The verdict and error bars stay those of the point before the step,
    which was certified; the step can only bring the point closer.
    """
    out = verdict.analysis
    if out.held or verdict.jacobian.startswith("the engine"):
        return None
    new = [p + d for p, d in zip(obj.values(verdict.u), out.step.tolist())]
    if any((a is not None and v <= a) or (b is not None and v >= b)
           for v, a, b in zip(new, obj.lo, obj.hi)):
        return None
    u = obj.internal(new)
    try:
        r = np.array(obj.residual(u), dtype=float)
    except FloatingPointError:
        return None
    return (u, r) if r @ r < verdict.r @ verdict.r else None


def unstick(obj, verdict):
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
