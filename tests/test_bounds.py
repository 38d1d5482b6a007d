"""Property tests of the bounds transforms (lmfit_ref.bounds).

Each property is checked on thousands of seeded random points for each of
the four kinds of bound (none, lower, upper, both), including points right
next to a bound and tiny and huge magnitudes. The reference for dP/du is a
central finite difference computed here; the reference for the external
range is the interval [a, b] itself.
"""
import math

import numpy as np
import pytest

from lmfit_ref import bounds

EPS = np.finfo(float).eps
KINDS = ["free", "lower", "upper", "both"]
N = 2000


def random_bounds(rng, kind, lo_exp=-3, hi_exp=3):
    """Bounds (a, b) of `kind` with magnitudes 10**[lo_exp, hi_exp] and random signs."""
    def number():
        return float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(lo_exp, hi_exp))
    if kind == "free":
        return None, None
    if kind == "lower":
        return number(), None
    if kind == "upper":
        return None, number()
    a, b = sorted((number(), number()))
    if a == b:
        b = a + 1.0
    return a, b


def random_inside(rng, a, b, lo_exp=-3, hi_exp=3):
    """A point P in [a, b]: often within a few ulps or a tiny distance of a bound."""
    def distance():
        return 10.0 ** rng.uniform(lo_exp, hi_exp)
    choice = rng.integers(4)
    if a is not None and b is not None:
        width = b - a
        if choice == 0:
            return a + width * rng.uniform()
        if choice == 1:
            return min(b, a + width * 10.0 ** rng.uniform(-15, 0))   # near a
        if choice == 2:
            return max(a, b - width * 10.0 ** rng.uniform(-15, 0))   # near b
        return float(rng.choice([a, b]))                             # on a bound
    if a is not None:
        if choice == 3:
            return a
        return a + (distance() if choice else abs(a) * 10.0 ** rng.uniform(-15, -8) + 1e-300)
    if b is not None:
        if choice == 3:
            return b
        return b - (distance() if choice else abs(b) * 10.0 ** rng.uniform(-15, -8) + 1e-300)
    return float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(lo_exp, hi_exp))


def scale(P, a, b):
    """The magnitude against which a rounding error in P is judged."""
    return max(abs(P), abs(a or 0.0), abs(b or 0.0))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("exps", [(-3, 3), (-300, -100), (-20, 20)], ids=["moderate", "tiny", "wide"])
def test_round_trip_is_identity_inside_bounds(kind, exps):
    rng = np.random.default_rng(12345)
    worst = 0.0
    for _ in range(N):
        a, b = random_bounds(rng, kind, *exps)
        P = random_inside(rng, a, b, *exps)
        assert (a is None or P >= a) and (b is None or P <= b)
        u = bounds.to_internal(P, a, b)
        assert math.isfinite(u)
        P2 = bounds.to_external(u, a, b)
        err = abs(P2 - P) / scale(P, a, b)
        worst = max(worst, err)
        assert err <= 16 * EPS, (kind, a, b, P, u, P2)
    assert worst <= 16 * EPS


@pytest.mark.parametrize("kind", ["lower", "upper"])
def test_round_trip_huge_distance_from_one_sided_bound_moderate(kind):
    # Distances up to 1e150 from the bound: d * (d + 2) does not overflow.
    rng = np.random.default_rng(7)
    for _ in range(N):
        a, b = random_bounds(rng, kind)
        d = 10.0 ** rng.uniform(3, 150)
        P = a + d if kind == "lower" else b - d
        u = bounds.to_internal(P, a, b)
        P2 = bounds.to_external(u, a, b)
        assert abs(P2 - P) <= 16 * EPS * scale(P, a, b), (a, b, P, u, P2)


@pytest.mark.parametrize("kind", ["lower", "upper"])
def test_round_trip_huge_distance_from_one_sided_bound(kind):
    a, b = (0.0, None) if kind == "lower" else (None, 0.0)
    P = 1e200 if kind == "lower" else -1e200
    u = bounds.to_internal(P, a, b)
    assert math.isfinite(u)
    assert bounds.to_external(u, a, b) == pytest.approx(P, rel=1e-14)


@pytest.mark.parametrize("kind", ["lower", "both"])
def test_internal_then_external_on_principal_branch(kind):
    # u -> P -> u is the identity on the branch to_internal returns:
    # u >= 0 for one-sided bounds, [3 pi/2, 5 pi/2] (around 2 pi) for two-sided ones.
    rng = np.random.default_rng(3)
    for _ in range(N):
        a, b = random_bounds(rng, kind)
        if kind == "lower":
            u = 10.0 ** rng.uniform(-2, 3)
        else:
            u = 2 * math.pi + rng.uniform(-1.5, 1.5)
        u2 = bounds.to_internal(bounds.to_external(u, a, b), a, b)
        assert u2 == pytest.approx(u, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_slope_agrees_with_central_difference(kind):
    rng = np.random.default_rng(2024)
    for _ in range(N):
        a, b = random_bounds(rng, kind, -2, 2)
        u = float(rng.uniform(-1.0, 1.0) * 10.0 ** rng.uniform(-3, 1.5))
        h = 1e-5 * max(1.0, abs(u))
        fd = (bounds.to_external(u + h, a, b) - bounds.to_external(u - h, a, b)) / (2 * h)
        s = bounds.slope(u, a, b)
        # Truncation error ~ h**2 |P'''|, rounding ~ eps |P| / h.
        width = (b - a) if (a is not None and b is not None) else 1.0
        tol = 1e-7 * width + 1e-8 * scale(0.0, a, b) + 1e-9
        assert abs(s - fd) <= tol, (kind, a, b, u, s, fd)


def test_slope_closed_forms():
    # Independent closed forms written out here.
    assert bounds.slope(0.3) == 1.0
    assert bounds.slope(2.0, 1.0, None) == pytest.approx(2.0 / math.sqrt(5.0), rel=1e-15)
    assert bounds.slope(2.0, None, 1.0) == pytest.approx(-2.0 / math.sqrt(5.0), rel=1e-15)
    assert bounds.slope(0.5, -1.0, 3.0) == pytest.approx(2.0 * math.cos(0.5), rel=1e-15)
    # Flat at a bound: u = 0 for one-sided, u = +-pi/2 for two-sided.
    assert bounds.slope(0.0, 1.0, None) == 0.0
    assert bounds.slope(0.0, None, 1.0) == 0.0
    assert abs(bounds.slope(math.pi / 2, -1.0, 3.0)) < 1e-15


@pytest.mark.parametrize("kind", ["lower", "upper", "both"])
def test_external_never_leaves_bounds(kind):
    rng = np.random.default_rng(99)
    specials = [0.0, -0.0, 1e-300, -1e-300, math.pi / 2, -math.pi / 2, math.pi,
                1e17, -1e17, 1e300, -1e300, 1.7e308, -1.7e308]
    for i in range(N + len(specials)):
        a, b = random_bounds(rng, kind, -20, 20)
        if i < len(specials):
            u = specials[i]
        else:
            u = float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-20, 300))
        P = bounds.to_external(u, a, b)
        assert not math.isnan(P), (a, b, u)
        assert a is None or P >= a, (a, b, u, P)
        assert b is None or P <= b, (a, b, u, P)


def test_at_bound_and_centre_exact_values():
    assert bounds.to_external(0.0, 2.5, None) == 2.5
    assert bounds.to_external(0.0, None, -2.5) == -2.5
    assert bounds.to_internal(2.5, 2.5, None) == 0.0
    assert bounds.to_internal(-2.5, None, -2.5) == 0.0
    # Two-sided: the branch around 2 pi, so the midpoint is u = 2 pi, never ~0
    # (MINPACK scales its first step and its xtol test by |u|).
    assert bounds.to_internal(-1.0, -1.0, 3.0) == pytest.approx(1.5 * math.pi)
    assert bounds.to_internal(3.0, -1.0, 3.0) == pytest.approx(2.5 * math.pi)
    assert bounds.to_internal(1.0, -1.0, 3.0) == 2 * math.pi
    assert bounds.to_external(math.pi / 2, -1.0, 3.0) == 3.0
    assert bounds.to_external(-math.pi / 2, -1.0, 3.0) == -1.0
    # One-sided: P = a - 1 + sqrt(u**2 + 1); u = sqrt(3) gives a + 1.
    assert bounds.to_external(math.sqrt(3.0), 4.0, None) == pytest.approx(5.0, rel=1e-15)
    assert bounds.to_external(math.sqrt(3.0), None, 4.0) == pytest.approx(3.0, rel=1e-15)


@pytest.mark.parametrize("a", [1e-20, 1e-300, 5e-324])
def test_lower_map_keeps_a_tiny_bound(a):
    # The naive a - 1 + sqrt(u**2 + 1) rounds a away and returns 0.0 < a.
    for u in [0.0, 1e-160, 1e-12, 1e-9, 1e-5]:
        P = bounds.to_external(u, a, None)
        assert P >= a
        # P - a = sqrt(1 + u**2) - 1 = u**2/2 - u**4/8 + O(u**6) for small u.
        assert P == pytest.approx(a + (u * u / 2 - u**4 / 8), rel=1e-12, abs=0.0)
    assert bounds.to_internal(a, a, None) == 0.0
    P = 3 * a
    assert bounds.to_external(bounds.to_internal(P, a, None), a, None) == pytest.approx(P, rel=1e-12)


def test_upper_map_keeps_a_tiny_bound():
    b = -1e-20
    for u in [0.0, 1e-12, 1e-9]:
        P = bounds.to_external(u, None, b)
        assert P <= b
        assert P == pytest.approx(b - (u * u / 2 - u**4 / 8), rel=1e-12, abs=0.0)


def test_transform_for_matches_kind():
    for a, b in [(None, None), (0.0, None), (None, 0.0), (0.0, 1.0)]:
        to_ext, to_int, dP_du = bounds.transform_for(a, b)
        for u in [-0.7, 0.2, 1.3]:
            assert to_ext(u, a, b) == bounds.to_external(u, a, b)
            assert dP_du(u, a, b) == bounds.slope(u, a, b)
        assert to_int(0.5, a, b) == bounds.to_internal(0.5, a, b)
    assert bounds.transform_for(None, None)[0](7.25, None, None) == 7.25


def test_clip():
    assert bounds.clip(12.0, 0.0, 10.0) == 10.0
    assert bounds.clip(-1.0, 0.0, 10.0) == 0.0
    assert bounds.clip(5.0, 0.0, 10.0) == 5.0
    assert bounds.clip(-1.0, 0.0, None) == 0.0
    assert bounds.clip(1e300, 0.0, None) == 1e300
    assert bounds.clip(5.0, None, 0.0) == 0.0
    assert bounds.clip(-5.0, None, 0.0) == -5.0
    assert bounds.clip(3.0) == 3.0
    rng = np.random.default_rng(5)
    for _ in range(N):
        a, b = sorted(rng.normal(size=2) * 10)
        P = float(rng.normal() * 20)
        assert bounds.clip(P, a, b) == min(max(P, a), b)


def test_two_sided_start_at_the_midpoint_moves():
    # With the branch around 0, a start at the midpoint of its bounds was
    # u ~ 1e-17: MINPACK's first step (relative to |u|) was ~1e-17 and the
    # parameter never moved, while the fit reported success. Here the
    # truth is known exactly (a noise-free line), for many bound pairs on
    # a 0.1 grid, each started at its midpoint.
    import lmfit_ref
    x = np.linspace(0.0, 1.0, 20)
    rng = np.random.default_rng(3)
    for _ in range(60):
        a = round(int(rng.integers(-20, 20)) / 10, 1)
        b = round(a + int(rng.integers(1, 20)) / 10, 1)
        truth = a + (b - a) * rng.uniform(0.05, 0.95)
        p = lmfit_ref.Parameters()
        p.add("f", value=(a + b) / 2, min=a, max=b)
        out = lmfit_ref.minimize(lambda p: p["f"].value * x - truth * x, p)
        assert out.success, out.message
        assert p["f"].value == pytest.approx(truth, rel=1e-9, abs=1e-12), (a, b, truth)
