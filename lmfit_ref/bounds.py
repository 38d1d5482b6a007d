"""Bounds as a change of variables (the MINUIT transforms).

Levenberg-Marquardt, as MINPACK implements it, knows nothing of bounds: it
moves freely in R^n. To keep a parameter P inside ``[min, max]`` we let the
engine move an unbounded *internal* variable u and give the model the
*external* value P(u), a smooth map whose range is exactly the allowed
interval. This is the scheme of F. James's MINUIT (section "Parameter
limits" of its reference manual).

Derivation
----------
Two-sided, ``min = a``, ``max = b``. The sine maps R onto [-1, 1]::

    P(u)   = a + (b - a) * (sin(u) + 1) / 2
    u(P)   = 2 pi + arcsin(2 * (P - a) / (b - a) - 1)
    dP/du  = (b - a) / 2 * cos(u)

The inverse takes the branch of arcsin around 2 pi, u in [3 pi/2, 5 pi/2],
not the usual one around 0: P(u) is the same, but the midpoint of the
bounds is then u = 2 pi, not u = 0. MINPACK measures its first step and its
convergence relative to |u|, and a start at the midpoint (u ~ 1e-17 on the
usual branch) would give it a first step of 1e-17 and a fit that never moves.

Lower bound only, ``min = a``. ``sqrt(u**2 + 1)`` maps R onto [1, inf)::

    P(u)   = a - 1 + sqrt(u**2 + 1)
    u(P)   = sqrt((P - a + 1)**2 - 1)
    dP/du  = u / sqrt(u**2 + 1)

Upper bound only, ``max = b``: the mirror image::

    P(u)   = b + 1 - sqrt(u**2 + 1)
    u(P)   = sqrt((b - P + 1)**2 - 1)
    dP/du  = -u / sqrt(u**2 + 1)

No bound: ``P = u`` and ``dP/du = 1``.

The one-sided formulas are evaluated in an algebraically equal form that
does not cancel: with ``s = sqrt(u**2 + 1)``, ``s - 1 = u**2 / (s + 1)``, and
with ``d = P - a``, ``(d + 1)**2 - 1 = d * (d + 2)``. Written naively,
``a - 1 + s`` loses every digit of ``a`` below 1e-16 (``a = 1e-20`` gives
``P = 0``, outside the bound).

Consequences a user sees
------------------------
* The engine can never propose a value outside the bounds, so the model is
  never evaluated there.
* At a bound ``dP/du = 0``: a parameter that *starts* exactly on its bound
  cannot be moved by a gradient method, and one that *ends* on it has no
  estimable standard error. Error bars come from a Jacobian in P itself
  (``uncertainty.py``), so the map does not enter them; near a bound they
  are the linearised ones, only as good as that linearisation.
* The map is periodic (two-sided) or even (one-sided) in u, so the
  engine's steps in u are not steps of the same size in P.

lmfit 0.5 did something else: it let the engine move P directly and
clipped the value into ``[min, max]`` before calling the model. The model
then sees a flat region beyond the bound (zero gradient) and the error
bars ignore the bound. The book compares both on a fit whose optimum sits
next to a bound.

Notation
--------
u    internal value, what the engine moves
P    external value, what the model sees (``Parameter.value``)
a, b ``min`` and ``max``; ``None`` means no bound on that side

The functions take floats (they use ``math``, which is several times faster
than NumPy on single numbers; the fit's hot path calls them once per varying
parameter per evaluation). Every function of a kind has the signature
``f(x, a, b)``, so the Minimizer can hold one function per parameter and
call them all the same way.

References: F. James, *MINUIT Reference Manual*, CERN Program Library D506,
section 1.3.1 ("Parameter limits").

Book: book/bounds.md
"""
import math

#: The centre of the two-sided inverse's branch (module docstring).
_TWO_PI = 2.0 * math.pi

__all__ = ["to_internal", "to_external", "slope", "transform_for", "near_bound", "search_range",
           "clip"]


# -- no bound ----------------------------------------------------------------
def free_to_external(u, a, b):
    """P = u."""
    return u


def free_to_internal(P, a, b):
    """u = P."""
    return P


def free_slope(u, a, b):
    """dP/du = 1."""
    return 1.0


# -- lower bound a -------------------------------------------------------------
def lower_to_external(u, a, b):
    """P = a - 1 + sqrt(u**2 + 1), written without cancellation.

    >>> lower_to_external(0.0, 2.0, None)
    2.0
    >>> lower_to_external(1e-9, 1e-20, None) > 1e-20  # the naive form gives 0.0
    True
    """
    u = abs(u)
    # s - 1 = u**2 / (s + 1); hypot avoids overflow of u**2 for huge u.
    return a + u * (u / (1.0 + math.hypot(1.0, u)))


def lower_to_internal(P, a, b):
    """u = sqrt((P - a + 1)**2 - 1) = sqrt(d * (d + 2)), d = P - a >= 0.

    >>> round(lower_to_internal(lower_to_external(3.0, 1.0, None), 1.0, None), 12)
    3.0
    """
    d = max(P - a, 0.0)
    return math.sqrt(d) * math.sqrt(d + 2.0)  # d * (d + 2) would overflow past 1e154


def lower_slope(u, a, b):
    """dP/du = u / sqrt(u**2 + 1)."""
    return u / math.hypot(1.0, u)


# -- upper bound b -------------------------------------------------------------
def upper_to_external(u, a, b):
    """P = b + 1 - sqrt(u**2 + 1), written without cancellation.

    >>> upper_to_external(0.0, None, 5.0)
    5.0
    """
    u = abs(u)
    return b - u * (u / (1.0 + math.hypot(1.0, u)))


def upper_to_internal(P, a, b):
    """u = sqrt((b - P + 1)**2 - 1) = sqrt(d * (d + 2)), d = b - P >= 0."""
    d = max(b - P, 0.0)
    return math.sqrt(d) * math.sqrt(d + 2.0)


def upper_slope(u, a, b):
    """dP/du = -u / sqrt(u**2 + 1)."""
    return -u / math.hypot(1.0, u)


# -- both bounds a, b ------------------------------------------------------------
def both_to_external(u, a, b):
    """P = a + (b - a) * (sin(u) + 1) / 2, kept inside [a, b].

    >>> both_to_external(0.0, 0.0, 10.0)
    5.0
    >>> both_to_external(math.pi / 2, 0.0, 10.0)
    10.0
    """
    P = a + (b - a) * (math.sin(u) + 1.0) * 0.5
    # Rounding can put P one ulp past a bound; the user's bound is exact.
    return b if P > b else (a if P < a else P)


def both_to_internal(P, a, b):
    """u = 2 pi + arcsin(2 * (P - a) / (b - a) - 1), the branch in [3 pi/2, 5 pi/2].

    >>> both_to_internal(5.0, 0.0, 10.0) == 2 * math.pi
    True
    """
    s = 2.0 * (P - a) / (b - a) - 1.0
    # deviation: not the usual branch (around 0): see the module docstring.
    return _TWO_PI + math.asin(1.0 if s > 1.0 else (-1.0 if s < -1.0 else s))



def both_slope(u, a, b):
    """dP/du = (b - a) / 2 * cos(u)."""
    return (b - a) * 0.5 * math.cos(u)


# -- choosing the map --------------------------------------------------------------
_TRANSFORMS = {
    # (has min, has max): (to_external, to_internal, slope)
    (False, False): (free_to_external, free_to_internal, free_slope),
    (True, False): (lower_to_external, lower_to_internal, lower_slope),
    (False, True): (upper_to_external, upper_to_internal, upper_slope),
    (True, True): (both_to_external, both_to_internal, both_slope),
}


def transform_for(a, b):
    """Return the functions ``(to_external, to_internal, slope)`` for bounds a, b.

    Each takes ``(x, a, b)``; `a` or `b` is ``None`` for a missing bound.

    >>> to_ext, to_int, dP_du = transform_for(0.0, None)
    >>> to_ext.__name__
    'lower_to_external'
    """
    return _TRANSFORMS[a is not None, b is not None]


def to_external(u, a=None, b=None):
    """External value P for internal value u, with bounds a (min), b (max).

    >>> round(to_external(to_internal(0.3, 0.0, 1.0), 0.0, 1.0), 12)
    0.3
    """
    return transform_for(a, b)[0](u, a, b)


def to_internal(P, a=None, b=None):
    """Internal value u for external value P, with bounds a (min), b (max).

    P must lie in [a, b]; the Parameter class guarantees it.

    >>> to_internal(3.0)
    3.0
    """
    return transform_for(a, b)[1](P, a, b)


def slope(u, a=None, b=None):
    """dP/du at internal value u, with bounds a (min), b (max).

    >>> slope(0.0, 0.0, 2.0)  # the middle of [0, 2]: P = 1 + sin(u)
    1.0
    >>> slope(0.0, 0.0, None)  # u = 0 is the bound itself: flat
    0.0
    """
    return transform_for(a, b)[2](u, a, b)


def near_bound(u, a=None, b=None, tol=1e-3, sigma_u=None):
    """True if the parameter sits where its map folds flat: on its bound, in effect.

    With `sigma_u`, the standard error of u from a fit: true if u is closer
    to the nearest flat point of the map (u = 0 for one bound, u = pi/2 +
    k*pi for two) than a hundredth of its standard error. Such a parameter
    has crept onto its bound: no Gaussian error bar describes it, and the
    final stage (``certify.py``) holds it there. (A parameter that merely has its bound within its
    error bar, further away than that, keeps its linearised error.) The
    test does not depend on the parameter's units or on how wide the bounds
    are.

    Without `sigma_u` (no covariance): true if dP/du is below `tol` times
    its largest value ((b - a)/2 for two bounds, 1 for one): within about
    ``(b - a) * tol**2 / 4`` of a bound for two, ``tol**2 / 2`` in P's own
    units for one.

    >>> near_bound(to_internal(1.0 - 1e-12, 0.0, 1.0), 0.0, 1.0)
    True
    >>> near_bound(to_internal(0.5, 0.0, 1.0), 0.0, 1.0), near_bound(7.0)
    (False, False)
    >>> u = to_internal(0.1, 0.0, 1e6)  # 0.1 in [0, 1e6], known to +/- 4e-4
    >>> near_bound(u, 0.0, 1e6), near_bound(u, 0.0, 1e6, sigma_u=4e-4 / slope(u, 0.0, 1e6))
    (True, False)
    """
    if a is None and b is None:
        return False
    if sigma_u is not None and sigma_u == sigma_u:
        if a is None or b is None:
            flat = abs(u)
        else:
            d = (u - math.pi / 2) % math.pi
            flat = min(d, math.pi - d)
        return flat < 0.01 * sigma_u
    largest = 1.0 if a is None or b is None else (b - a) * 0.5
    return abs(slope(u, a, b)) < tol * largest


def search_range(u0, a=None, b=None, P_lo=None, P_hi=None):
    """The interval of u a global search (annealing) explores for one parameter.

    Two bounds: the whole interval, u in [3 pi/2, 5 pi/2], unless `P_lo` or
    `P_hi` (in the parameter's units) narrow it. Otherwise `P_lo`/`P_hi`
    if given, else the start `u0` plus or minus its magnitude (at least 1).
    With one bound the map folds (P is even in u), so the search covers P
    from the bound out to the farther of the two ends.

    >>> search_range(0.3, 0.0, 1.0) == (1.5 * math.pi, 2.5 * math.pi)
    True
    >>> search_range(5.0), search_range(5.0, P_lo=-2.0, P_hi=8.0)
    ((0.0, 10.0), (-2.0, 8.0))
    >>> u_lo, u_hi = search_range(to_internal(5.0, None, 10.0), None, 10.0, P_lo=0.0)
    >>> to_external(u_lo, None, 10.0) <= 0.0 and to_external(0.0, None, 10.0) == 10.0
    True
    """
    to_external, to_internal, _ = transform_for(a, b)
    if a is not None and b is not None and P_lo is None and P_hi is None:
        return _TWO_PI - math.pi / 2, _TWO_PI + math.pi / 2
    # The ends in P (given, or the start plus or minus its reach in u), then
    # mapped to u; a one-bound map can run either way, so sort them.
    reach = max(abs(u0), 1.0)
    ends = [to_external(u0 - reach, a, b) if P_lo is None else clip(P_lo, a, b),
            to_external(u0 + reach, a, b) if P_hi is None else clip(P_hi, a, b)]
    if a is not None and b is not None:  # two bounds: u on [3 pi/2, 5 pi/2], increasing
        return tuple(sorted(to_internal(P, a, b) for P in ends))
    if a is None and b is None:
        return tuple(sorted(ends))
    # one bound: P(u) is even in u; search the u >= 0 branch between the two
    # ends, and the mirror image, so that u0's side is covered either way
    u_far = max(to_internal(P, a, b) for P in ends)
    return -u_far, u_far


def clip(P, a=None, b=None):
    """lmfit 0.5's treatment of bounds, kept only for comparison in the book.

    # lmfit-0.5: the engine moved P itself and the value was clipped into
    # [min, max] before the model saw it; outside the bounds the model is
    # flat, and the error bars know nothing of the bound.

    >>> clip(12.0, 0.0, 10.0), clip(-1.0, 0.0, None), clip(3.0)
    (10.0, 0.0, 3.0)
    """
    if a is not None and P < a:
        return a
    if b is not None and P > b:
        return b
    return P
