"""Parameter and Parameters: names, validation, ordering, copies (manual 2.2, 2.3).

Every bad definition must raise at once, with the parameter's name in the
message, and leave what existed unchanged.
"""
import copy
import keyword
import math
import pickle
from fractions import Fraction
from decimal import Decimal

import numpy as np
import pytest

from lmfit_ref import Parameter, Parameters


def state(par):
    """Every attribute of a Parameter, as a comparable tuple."""
    return (par.name, par.value, par.vary, par.min, par.max, par.expr,
            par.stderr, copy.deepcopy(par.correl), par.init_value)


def states(params):
    return [(key, state(par)) for key, par in params.items()]


# -- names ----------------------------------------------------------------------
GOOD_NAMES = ["a", "_", "_x", "amp1", "A_B_9", "phase_shift", "x" * 200, "None_", "match", "print"]
BAD_NAMES = ["", "1a", "9", "a-b", "a b", "a.b", "amp!", " a", "a ", "a\n", "é", "α", "a$"]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_valid_names_accepted(name):
    p = Parameters()
    p.add(name, value=1.0)
    assert list(p) == [name]
    assert p[name].name == name
    assert Parameter(value=1.0, name=name).name == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_not_matching_the_regex_refused(name):
    p = Parameters()
    with pytest.raises(ValueError) as err:
        p.add(name, value=1.0)
    assert repr(name) in str(err.value)
    with pytest.raises(ValueError):
        p[name] = Parameter(1.0)
    with pytest.raises(ValueError):
        Parameter(1.0, name=name)
    assert len(p) == 0


@pytest.mark.parametrize("name", sorted(keyword.kwlist))
def test_python_keywords_refused(name):
    p = Parameters()
    with pytest.raises(ValueError, match="keyword"):
        p.add(name, value=1.0)
    with pytest.raises(ValueError, match="keyword"):
        p[name] = Parameter(1.0)
    assert len(p) == 0


@pytest.mark.parametrize("name", [1, 2.5, None, b"amp", ("a",), ["a"]])
def test_non_str_names_refused(name):
    p = Parameters()
    with pytest.raises(TypeError):
        p.add(name, value=1.0)
    with pytest.raises(TypeError):
        p.add_many((name, 1.0))
    if isinstance(name, (list,)):
        return  # unhashable: cannot even be a dict key
    with pytest.raises(TypeError):
        p[name] = Parameter(1.0)
    assert len(p) == 0


# -- values and bounds ------------------------------------------------------------
@pytest.mark.parametrize("bad, exc", [
    (math.nan, ValueError), (np.nan, ValueError), (float("inf"), ValueError),
    (-math.inf, ValueError), ("1.0", TypeError), ("abc", TypeError), (True, TypeError),
    (False, TypeError), (1 + 0j, TypeError), (np.complex128(1.0), TypeError),
    ([1.0], TypeError), (np.array([1.0, 2.0]), TypeError), (Decimal("1.5"), TypeError),
])
def test_bad_values_refused_with_parameter_name(bad, exc):
    p = Parameters()
    with pytest.raises(exc) as err:
        p.add("amp_x", value=bad)
    assert "amp_x" in str(err.value)
    assert "amp_x" not in p
    p.add("amp_x", value=1.0)
    with pytest.raises(exc) as err:
        p["amp_x"].value = bad
    assert "amp_x" in str(err.value)
    assert p["amp_x"].value == 1.0 and p["amp_x"].init_value == 1.0


@pytest.mark.parametrize("good", [3, 2.5, np.float64(2.5), np.int64(3), np.float32(0.5), Fraction(1, 4), -0.0, 1e308])
def test_real_numbers_accepted_as_float(good):
    par = Parameter(value=good, min=good, max=good)
    assert par.value == float(good) and type(par.value) is float
    assert type(par.min) is float and type(par.max) is float


@pytest.mark.parametrize("which", ["min", "max"])
@pytest.mark.parametrize("bad, exc", [(math.nan, ValueError), ("0", TypeError), (True, TypeError), (1j, TypeError)])
def test_bad_bounds_refused(which, bad, exc):
    with pytest.raises(exc) as err:
        Parameters().add("wid", value=1.0, **{which: bad})
    assert "wid" in str(err.value)
    p = Parameters()
    p.add("wid", value=1.0, min=0.0, max=2.0)
    before = state(p["wid"])
    with pytest.raises(exc):
        setattr(p["wid"], which, bad)
    assert state(p["wid"]) == before


def test_infinite_bounds():
    par = Parameter(value=1.0, min=-math.inf, max=math.inf)
    assert par.min is None and par.max is None
    with pytest.raises(ValueError):
        Parameter(value=1.0, min=math.inf)
    with pytest.raises(ValueError):
        Parameter(value=1.0, max=-math.inf)


def test_min_greater_than_max_refused():
    with pytest.raises(ValueError, match="cen") as err:
        Parameters().add("cen", value=None, min=2.0, max=1.0)
    assert "min" in str(err.value) and "max" in str(err.value)
    p = Parameters()
    p.add("cen", min=0.0, max=1.0)  # no value yet: bounds alone are checked
    with pytest.raises(ValueError, match="cen"):
        p["cen"].min = 3.0
    with pytest.raises(ValueError, match="cen"):
        p["cen"].max = -1.0
    assert (p["cen"].min, p["cen"].max) == (0.0, 1.0)
    Parameter(value=1.0, min=1.0, max=1.0)  # min == max is a valid (degenerate) interval


@pytest.mark.parametrize("kws", [dict(value=5.0, max=3.0), dict(value=-1.0, min=0.0),
                                 dict(value=2.0, min=2.5, max=3.0), dict(value=3.5, min=2.5, max=3.0)])
def test_value_outside_bounds_on_creation(kws):
    with pytest.raises(ValueError, match="'amp'"):
        Parameters().add("amp", **kws)


def test_value_outside_bounds_on_later_assignment():
    p = Parameters()
    p.add("amp", value=2.0, min=1.0, max=3.0)
    par = p["amp"]
    before = state(par)
    with pytest.raises(ValueError, match="'amp'.*above max"):
        par.value = 5.0
    with pytest.raises(ValueError, match="'amp'.*below min"):
        par.value = 0.0
    with pytest.raises(ValueError, match="'amp'"):
        par.min = 2.5
    with pytest.raises(ValueError, match="'amp'"):
        par.max = 1.5
    assert state(par) == before
    # On a bound is inside.
    par.value = 3.0
    par.min = 3.0
    assert (par.value, par.min, par.max) == (3.0, 3.0, 3.0)
    # Removing a bound is always allowed.
    par.min = None
    par.max = None
    par.value = 100.0
    assert (par.value, par.min, par.max) == (100.0, None, None)


def test_random_values_and_bounds_accept_inside_refuse_outside():
    rng = np.random.default_rng(11)
    for _ in range(2000):
        a, b = sorted(rng.normal(size=2) * 10.0 ** rng.uniform(-5, 5, size=2))
        v = float(rng.normal() * 10.0 ** rng.uniform(-5, 5))
        inside = a <= v <= b
        if inside:
            par = Parameter(value=v, min=a, max=b, name="q")
            assert (par.value, par.min, par.max) == (v, a, b)
        else:
            with pytest.raises(ValueError, match="'q'"):
                Parameter(value=v, min=a, max=b, name="q")


# -- set() ------------------------------------------------------------------------
def test_set_moves_value_and_bounds_together():
    par = Parameter(value=1.0, min=0.0, max=2.0, name="c")
    with pytest.raises(ValueError):
        par.value = 5.0  # one at a time cannot get there
    par.set(value=5.0, min=4.0, max=6.0)
    assert (par.value, par.min, par.max, par.init_value) == (5.0, 4.0, 6.0, 5.0)
    par.set(value=-10.0, min=-20.0, max=-5.0)
    assert (par.value, par.min, par.max) == (-10.0, -20.0, -5.0)
    par.set(vary=False)
    assert par.vary is False and par.value == -10.0
    par.set(min=-11.0)  # no value given: value and init_value unchanged
    assert (par.value, par.init_value, par.min) == (-10.0, -10.0, -11.0)


@pytest.mark.parametrize("kws", [dict(value=10.0, max=5.0), dict(min=3.0), dict(max=0.5),
                                 dict(value=1.0, min="x"), dict(value=math.nan, min=0.0),
                                 dict(min=2.0, max=1.0), dict(value=1.5, vary="yes"),
                                 dict(value=1.5, expr=3)])
def test_failed_set_leaves_parameter_unchanged(kws):
    par = Parameter(value=1.0, min=0.0, max=2.0, name="c")
    par.stderr, par.correl = 0.25, {"d": 0.5}
    par._value = 1.2  # as a fit leaves it: value differs from init_value
    before = state(par)
    with pytest.raises((TypeError, ValueError), match="'c'"):
        par.set(**kws)
    assert state(par) == before


# -- Parameters: add, add_many, setitem ----------------------------------------------
def test_add_passes_every_argument():
    p = Parameters()
    p.add("myvar", value=1, vary=True)
    p.add("fixed", 2.0, False, -1.0, 3.0)
    p.add("tied", expr="2*myvar")
    assert (p["myvar"].value, p["myvar"].vary) == (1.0, True)
    assert (p["fixed"].value, p["fixed"].vary, p["fixed"].min, p["fixed"].max) == (2.0, False, -1.0, 3.0)
    assert p["tied"].expr == "2*myvar" and p["tied"].value is None
    assert list(p) == ["myvar", "fixed", "tied"]


def test_add_many_order_is_name_value_vary_min_max_expr():
    p = Parameters()
    p.add_many(("x", 1.0, False, -1.0, 2.0, None),
               ("y", 0.5, True, 0.1, 0.9, None),
               ("z", None, False, None, None, "x + y"))
    assert (p["x"].value, p["x"].vary, p["x"].min, p["x"].max, p["x"].expr) == (1.0, False, -1.0, 2.0, None)
    assert (p["y"].value, p["y"].vary, p["y"].min, p["y"].max) == (0.5, True, 0.1, 0.9)
    assert (p["z"].value, p["z"].vary, p["z"].expr) == (None, False, "x + y")
    assert list(p) == ["x", "y", "z"]


def test_add_many_shorter_tuples_take_defaults():
    p = Parameters()
    p.add_many(("a",), ("b", 2), ("c", 3, False), ("d", 4, True, 0), ["e", 5, True, None, 9])
    assert list(p) == ["a", "b", "c", "d", "e"]
    assert (p["a"].value, p["a"].vary, p["a"].min, p["a"].max, p["a"].expr) == (None, True, None, None, None)
    assert (p["b"].value, p["b"].vary) == (2.0, True)
    assert (p["c"].value, p["c"].vary) == (3.0, False)
    assert (p["d"].min, p["d"].max) == (0.0, None)
    assert (p["e"].min, p["e"].max) == (None, 9.0)


@pytest.mark.parametrize("bad", [("bad", 5.0, True, 10.0, 20.0), ("1bad", 1.0), ("bad", "x"),
                                 "bad", ("bad", 1, True, None, None, None, "extra"), (),
                                 ("bad", math.nan), ("bad", 1.0, True, 2.0, 1.0)])
def test_bad_tuple_in_add_many_leaves_parameters_unchanged(bad):
    p = Parameters()
    p.add("keep", value=1.0)
    before = states(p)
    with pytest.raises((TypeError, ValueError)):
        p.add_many(("first", 1.0), bad, ("last", 2.0))
    assert states(p) == before
    assert list(p) == ["keep"]


@pytest.mark.parametrize("bad", [3.0, None, "amp", {"value": 1.0}, np.float64(1.0)])
def test_non_parameter_values_refused(bad):
    p = Parameters()
    with pytest.raises(TypeError, match="'amp'"):
        p["amp"] = bad
    with pytest.raises(TypeError):
        p.update({"amp": bad})
    with pytest.raises(TypeError):
        p.update(amp=bad)
    with pytest.raises(TypeError):
        Parameters({"amp": bad})
    with pytest.raises(TypeError):
        p.setdefault("amp", bad)
    assert len(p) == 0


def test_failed_update_leaves_parameters_unchanged():
    p = Parameters()
    p.add("keep", value=1.0)
    with pytest.raises(TypeError):
        p.update({"new": Parameter(2.0), "bad": 3.0})
    assert list(p) == ["keep"]


def test_name_set_from_key():
    p = Parameters()
    par = Parameter(value=1.0)
    assert par.name is None
    p["foo"] = par
    assert par.name == "foo" and p["foo"] is par
    p2 = Parameters(baz=Parameter(3.0))
    assert p2["baz"].name == "baz"
    # A Parameter keeps the name it has: storing it under another key would
    # rename it behind the back of the collection it came from.
    other = Parameter(value=2.0, name="old")
    with pytest.raises(ValueError, match="'old'.*'bar'"):
        p.update({"bar": other})
    with pytest.raises(ValueError, match="'foo'"):
        p2["slope"] = p["foo"]
    assert other.name == "old" and par.name == "foo" and list(p) == ["foo"] and list(p2) == ["baz"]
    new = copy.deepcopy(p["foo"])
    new.name = None
    p2["slope"] = new
    assert p2["slope"].name == "slope" and p["foo"].name == "foo"
    # |= and | go through the same checks
    with pytest.raises(TypeError):
        p |= {"z": 3.0}
    assert "z" not in p
    merged = p | {"w": Parameter(4.0)}
    assert isinstance(merged, Parameters) and list(merged) == ["foo", "w"] and list(p) == ["foo"]


def test_expr_makes_vary_false():
    par = Parameter(value=None, vary=True, expr="2*wid1/3")
    assert par.vary is False and par.expr == "2*wid1/3"
    par2 = Parameter(value=1.0, vary=True)
    par2.expr = "a + 1"
    assert par2.vary is False
    p = Parameters()
    p.add("w", value=1.0, vary=True, expr="a*2")
    assert p["w"].vary is False
    with pytest.raises(TypeError, match="'e'"):
        Parameter(value=1.0, expr=3, name="e")


def test_vary_must_be_bool():
    with pytest.raises(TypeError, match="'v'"):
        Parameter(value=1.0, vary="no", name="v")
    par = Parameter(value=1.0, name="v")
    with pytest.raises(TypeError, match="'v'"):
        par.vary = None
    assert par.vary is True
    par.vary = np.bool_(False)
    assert par.vary is False


# -- init_value ---------------------------------------------------------------------
def test_init_value_is_last_user_value():
    par = Parameter(value=1.0, min=0.0, max=10.0)
    assert par.init_value == 1.0
    par.value = 2.0
    assert par.init_value == 2.0
    par.set(value=3.0)
    assert par.init_value == 3.0
    par.min = 0.5
    par.max = 9.0
    par.vary = False
    assert par.init_value == 3.0
    assert Parameter().init_value is None


def test_fit_changes_value_not_init_value():
    from lmfit_ref import minimize
    x = np.linspace(0.0, 1.0, 21)
    p = Parameters()
    p.add("m", value=1.0)
    p.add("c", value=0.5, vary=False)
    minimize(lambda p: p["m"].value * x + p["c"].value - (3.0 * x + 0.5), p)
    assert p["m"].value == pytest.approx(3.0, rel=1e-9)
    assert p["m"].init_value == 1.0
    assert p["c"].init_value == 0.5 and p["c"].value == 0.5


# -- copies ---------------------------------------------------------------------------
def make_full():
    p = Parameters()
    p.add("amp", value=10.0, min=0.0)
    p.add("cen", value=1.5, vary=False, min=0.0, max=3.0)
    p.add("wid", value=None, expr="amp/4")
    p.add("off", value=-0.25, max=1.0)
    p["amp"]._value = 9.5
    p["amp"].stderr, p["amp"].correl = 0.3, {"off": -0.4}
    p["off"].stderr, p["off"].correl = 0.01, {"amp": -0.4}
    return p


@pytest.mark.parametrize("how", ["deepcopy", "copy_method", "pickle"])
def test_copies_are_equal_and_independent(how):
    p = make_full()
    if how == "deepcopy":
        q = copy.deepcopy(p)
    elif how == "copy_method":
        q = p.copy()
    else:
        q = pickle.loads(pickle.dumps(p))
    assert type(q) is Parameters
    assert states(q) == states(p)
    for name in p:
        assert q[name] is not p[name]
    original = states(p)
    q["amp"].value = 1.0
    q["amp"].correl["off"] = 0.9
    q["off"].min = -5.0
    q["cen"].vary = True
    q.add("extra", value=1.0)
    del q["wid"]
    assert states(p) == original


def test_pickle_single_parameter():
    par = make_full()["amp"]
    par2 = pickle.loads(pickle.dumps(par))
    assert state(par2) == state(par)
    par2.correl["off"] = 0.0
    assert par.correl["off"] == -0.4
    par3 = copy.deepcopy(par)
    assert state(par3) == state(par)


def test_repr_is_readable():
    p = make_full()
    r_amp = repr(p["amp"])
    assert "'amp'" in r_amp and "9.5" in r_amp and "0.3" in r_amp
    assert "0.0" in r_amp and "inf" in r_amp  # bounds [0, inf]
    r_cen = repr(p["cen"])
    assert "'cen'" in r_cen and "1.5" in r_cen and "fixed" in r_cen and "3.0" in r_cen
    assert "amp/4" in repr(p["wid"])
    r_all = repr(p)
    assert [r_all.index(f"'{n}'") for n in p] == sorted(r_all.index(f"'{n}'") for n in p)
    assert repr(Parameters()) == "Parameters()"
    assert "fixed" not in r_amp
