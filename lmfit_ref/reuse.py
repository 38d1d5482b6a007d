"""Whether the engine's last Jacobian may stand in for one at the best point.

A Jacobian costs n evaluations (forward differences) or 2n (central). The
engine has just computed one, a step or so before its best point. Using it
for the final test and the error bars is free, and sound when three things
hold:

* **It is close** (`changed`): the values moved since it was taken by at
  most ``certify.ERRORBARS`` of their scale L. J bends on that scale, so it
  changed by about that fraction, and so would the error bars.
* **It is accurate** (`too_coarse`): its differences' relative error
  (``differences.error``), times the condition number kappa of J, stays
  within a tenth of ``certify.FINISH``: an error e in J turns the
  Gauss-Newton step by about ``e * kappa`` standard errors.
* **Its test holds with a margin** (`staleness`). At the new point the
  Gauss-Newton step differs from the one the old J gives by about
  ``rho * moved`` standard errors, where rho, the method's contraction
  rate, is the share of the distance one Gauss-Newton step leaves (it
  comes from the model's curvature weighted by the residuals, which J does
  not see). A linearly converging iteration shrinks its steps by rho each
  time, so the engine's last two steps estimate it: ``rho ~ moved /
  before``.

Notation
--------
P, P_J   the values at the best point and where J was taken
sigma    standard errors (``uncertainty.analyse``)
kappa    condition number of J with its columns scaled

Book: book/certificate.md
"""
import math

import numpy as np

from . import differences

__all__ = ["staleness", "changed", "too_coarse", "unsettled"]

def staleness(obj, u, u_J, kind, out, J, r):
    """How far the stationarity test with J taken at u_J (by `kind`) may be off at u.

    In standard errors. Since J was taken the values moved by ``moved``;
    the Gauss-Newton step at u then differs from the one J gives by about
    ``rho * moved``, rho the method's contraction rate (the share of the
    distance one Gauss-Newton step leaves; it comes from the curvature of
    the model weighted by the residuals, which J does not see). rho is
    estimated from the engine's last two steps, ``moved / before`` (a
    linearly converging iteration shrinks its steps by rho each time);
    without a step before, rho = 1. Add the relative error of the
    differences times the condition number of J (columns scaled): how much
    such an error can turn the step.

    One pair of steps gives a rough rho: measured against a fresh central
    Jacobian (book/certificate.md), it was right to 1 % on large-residual
    problems (rho ~ 0.6: NIST's ENSO, MGH09, Thurber) and within 1.1 on
    Roszman1 and Chwirut2, but from about half to ten times the truth on
    the manual's small-residual decaying sine, where Gauss-Newton converges
    faster than linearly. J is only reused when the test with this margin
    is within FINISH = 1e-5, a hundredth of CERTIFY: a verdict resting on
    it would be wrong only if rho were off a hundredfold. The difference
    error assumes r bends on the scale L of each parameter
    (``differences.error``); for a frequency or a phase it bends faster,
    and the error is larger.
    """
    P, P_J = np.array(obj.values(u)), np.array(obj.values(u_J))
    free = [j for j in range(len(P)) if j not in out.held]
    moved, rate = _moved(P, P_J, out, free), 1.0
    if obj.previous is not None and not np.array_equal(obj.previous, u_J):
        before = _moved(P_J, np.array(obj.values(obj.previous)), out, free)
        rate = min(moved / before, 1.0) if before > 0 else 1.0
    return rate * moved + _error(obj, kind, J, r, P) * out.kappa


def _moved(P, Q, out, free):
    """max |P_j - Q_j| / sigma_j over the free parameters (inf where sigma is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        moved = np.abs(P - Q)[free] / out.sigma[free]
    moved = np.where(np.isfinite(moved), moved, math.inf)
    return float(moved.max()) if moved.size else 0.0


def changed(obj, u, u_J):
    """How much J may have changed between u_J and u: max |P_j - P_J,j| / L_j.

    J bends on the scale L of each parameter (``differences.scales``), so
    it changes by about that fraction, and the error bars with it.
    """
    P, P_J = np.array(obj.values(u)), np.array(obj.values(u_J))
    L = differences.scales(P, obj.floor if obj.floor is not None else np.abs(P))
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(L > 0, np.abs(P - P_J) / L, np.where(P == P_J, 0.0, math.inf))
    return float(shift.max()) if shift.size else 0.0


def too_coarse(obj, kind, J, r, u, kappa, limit):
    """True if a Jacobian taken by `kind` errs, times kappa, by more than `limit`.

    Such an error turns the Gauss-Newton step by about that many standard
    errors, and the error bars by about that fraction.
    """
    return kind == "forward" and _error(obj, kind, J, r, obj.values(u)) * kappa > limit


def _error(obj, kind, J, r, P):
    """The relative error of a Jacobian taken by `kind` like J (``differences.error``)."""
    if kind == "user":
        return 0.0
    return differences.error(J, r, P, obj.floor if obj.floor is not None else np.abs(P),
                             central=kind == "central", rel=obj.step if kind == "forward" else None)


def unsettled(obj, u, digits):
    """True if some value is likely still more than `digits` of itself from the minimum.

    Before any analysis, from the engine's last two steps alone: if it
    converges linearly with rate rho (estimated as in `staleness`, here in
    units of each parameter's scale L), P_j is still about ``rho * |P_j -
    P_J,j|`` from its limit. Used to take the Jacobian for a last
    Gauss-Newton step by central differences at once, instead of forward
    ones first. (Without two steps to go by: True.)
    """
    if obj.last is None or obj.previous is None:
        return True
    P = np.array(obj.values(u))
    P_J, P_before = np.array(obj.values(obj.last[0])), np.array(obj.values(obj.previous))
    L = differences.scales(P, obj.floor if obj.floor is not None else np.abs(P))
    step, before = np.abs(P - P_J), np.abs(P_J - P_before)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.max(step / L) / np.max(before / L)
    if not math.isfinite(rate):
        return True
    return bool(np.any(min(rate, 1.0) * step > digits * np.abs(P)))

