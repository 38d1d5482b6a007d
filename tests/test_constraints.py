"""Constraint expressions in fits (manual chapter 5; issue 3, points 3 and 4).

References, all independent of lmfit_ref's own output:

* dependency order: checked as a property (every name after what it reads),
  and cycles checked against the edges of the input;
* fits: ``scipy.optimize.leastsq`` called directly on a plain vector, with
  the constraint written by hand in Python, from the same start with
  tolerances near machine epsilon: the same minimum, to ``WITHIN`` = 1e-5
  of a standard error (SciPy's own, from its ``cov_x``); ``nfev`` equal to
  the calls counted inside the user's function;
* propagated uncertainties: closed forms of the delta method computed here
  from the fit's own covariance matrix, and a Monte Carlo sample of that
  covariance pushed through the expression with NumPy;
* the manual's chapter 5 examples: Python arithmetic done here.

Every refused fit must leave the caller's Parameters exactly as they were.
"""
import copy
import math

import numpy as np
import pytest
from scipy.optimize import leastsq

import lmfit_ref as lmfit
from lmfit_ref import FitError, Minimizer, Parameters, minimize, printfuncs
from lmfit_ref.constraints import order_by_dependency

#: scipy.optimize.leastsq as the reference: tolerances near machine epsilon.
XTOL = FTOL = 1e-14
#: The promise checked: lmfit_ref's best fit is SciPy's to this fraction of
#: a standard error. The final stage polishes (the default) any point whose
#: Gauss-Newton step exceeds 1e-5 standard errors (``certify.FINISH``); the
#: fits here end 1e-8 to 4e-7 standard errors from SciPy's tight minimum.
WITHIN = 1e-5


# -- helpers -------------------------------------------------------------------------
def snapshot(params):
    """Every attribute of every parameter, deep-copied, in order."""
    return [(key, par.name, par.value, par.vary, par.min, par.max, par.expr,
             par.stderr, copy.deepcopy(par.correl), par.init_value)
            for key, par in params.items()]


def counting(fcn):
    """Wrap `fcn` so that its calls are counted in ``calls[0]``."""
    calls = [0]

    def wrapped(*args, **kws):
        calls[0] += 1
        return fcn(*args, **kws)
    return wrapped, calls


def scipy_fit(fun, v0):
    """leastsq directly, tight; returns (v, stderr, ier).

    stderr from SciPy's own ``cov_x`` scaled by the reduced chi-square.
    """
    v, cov_x, info, _, ier = leastsq(fun, np.asarray(v0, dtype=float), full_output=True,
                                     xtol=XTOL, ftol=FTOL, maxfev=10000 * (len(v0) + 1))
    r = info["fvec"]
    stderr = np.sqrt(np.diag(cov_x) * (r @ r) / (len(r) - len(v0)))
    return v, stderr, ier


def assert_same_minimum(values, v, stderr):
    """`values` and SciPy's `v` differ by at most WITHIN standard errors."""
    off = np.abs(np.asarray(values) - v) / stderr
    assert off.max() <= WITHIN, f"{off.max():.3g} standard errors from SciPy's minimum"


def gauss(x, amp, cen, wid):
    return amp * np.exp(-(x - cen) ** 2 / (2.0 * wid ** 2))


def is_topological(order, reads):
    """Each key exactly once, after every key it reads."""
    if sorted(order) != sorted(reads):
        return False
    where = {name: i for i, name in enumerate(order)}
    return all(where[dep] < where[name] for name, deps in reads.items()
               for dep in deps if dep in reads)


def cycle_in(message):
    """The names of 'x -> y -> x' at the end of a cycle message."""
    return message.split("cycle: ", 1)[1].split(" (", 1)[0].split(" -> ")


# Two Gaussian peaks, seeded noise; used by several tests.
X2 = np.linspace(0.0, 10.0, 201)
Y2 = (gauss(X2, 3.0, 4.0, 0.6) + gauss(X2, 2.0, 6.0, 0.4)
      + 0.02 * np.random.default_rng(5).standard_normal(X2.size))


def two_peaks(params, x, y):
    v = {name: par.value for name, par in params.items()}
    return (gauss(x, v["a1"], v["c1"], v["w1"]) + gauss(x, v["a2"], v["c2"], v["w2"]) - y)


def two_peak_params(w2_expr="2*w1/3", **kws):
    p = Parameters()
    p.add("a1", value=2.5)
    p.add("c1", value=3.8)
    p.add("w1", value=0.8)
    p.add("a2", value=1.5)
    p.add("c2", value=6.2)
    p.add("w2", expr=w2_expr, **kws)
    return p


# ======================================================================================
# order_by_dependency
# ======================================================================================
def test_order_manual_out_of_order_example():
    # Manual 5.2: cen_2 reads wid_2, which is defined after it.
    reads = {"amp_2": ["amp_1"],
             "cen_2": ["cen_1", "wid_2", "max", "wid_1"],
             "wid_2": ["sqrt", "pi", "wid_1"]}
    order = order_by_dependency(reads)
    assert is_topological(order, reads)
    assert order.index("wid_2") < order.index("cen_2")


def test_order_chain_reversed():
    reads = {"d": ["c"], "c": ["b"], "b": ["a"], "a": ["x0"]}
    assert order_by_dependency(reads) == ["a", "b", "c", "d"]


def test_order_long_chain_and_independent_names():
    # 200 links given backwards, plus names that read nothing constrained.
    reads = {f"n{i}": [f"n{i - 1}", "free"] for i in range(199, 0, -1)}
    reads["n0"] = ["free"]
    reads["lone"] = []
    order = order_by_dependency(reads)
    assert is_topological(order, reads)
    assert [n for n in order if n != "lone"] == [f"n{i}" for i in range(200)]


def test_order_chain_longer_than_the_recursion_limit():
    n = 3000
    reads = {f"n{i}": [f"n{i - 1}"] for i in range(n - 1, 0, -1)}
    reads["n0"] = []
    assert order_by_dependency(reads) == [f"n{i}" for i in range(n)]


def test_order_diamond_each_once():
    reads = {"d": ["b", "c"], "b": ["a"], "c": ["a"], "a": []}
    order = order_by_dependency(reads)
    assert is_topological(order, reads)
    assert order[0] == "a" and order[-1] == "d" and len(order) == 4


def test_order_names_not_keys_are_ignored():
    assert order_by_dependency({"b": ["a", "pi", "sqrt"]}) == ["b"]
    assert order_by_dependency({}) == []


@pytest.mark.parametrize("reads, members", [
    ({"a": ["a"]}, {"a"}),
    ({"a": ["b"], "b": ["a"]}, {"a", "b"}),
    ({"a": ["b"], "b": ["c"], "c": ["a"]}, {"a", "b", "c"}),
    # a cycle reached through an acyclic part, with an innocent bystander
    ({"z": ["y"], "y": ["q"], "q": ["r"], "r": ["p"], "p": ["q"], "free": []},
     {"q", "r", "p"}),
], ids=["self", "two", "three", "behind-a-chain"])
def test_order_refuses_cycles_naming_them(reads, members):
    with pytest.raises(ValueError, match="cycle") as info:
        order_by_dependency(reads)
    names = cycle_in(str(info.value))
    assert names[0] == names[-1]
    assert set(names) == members and len(names) == len(members) + 1
    for here, there in zip(names, names[1:]):
        assert there in reads[here]  # each arrow is a real dependency


# ======================================================================================
# prepare_fit refusals: ValueError, nothing called, Parameters unchanged
# ======================================================================================
X1 = np.linspace(0.0, 1.0, 11)


def line(params):
    return params["a"].value * X1 + params["b"].value - (2.0 * X1 + 1.0)


def refused(params, *needles):
    """Fit `params`; check the ValueError names `needles`, nothing ran, nothing changed."""
    before = snapshot(params)
    fcn, calls = counting(line)
    with pytest.raises(ValueError) as info:
        minimize(fcn, params)
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    assert calls[0] == 0
    assert snapshot(params) == before
    return message


def base_params():
    p = Parameters()
    p.add("a", value=1.5)
    p.add("b", value=0.5, min=-10.0, max=10.0)
    p.add("k", value=3.0, vary=False)
    # as an earlier fit would leave them, so that a restore has work to do
    p["a"].stderr, p["a"].correl = 0.25, {"b": -0.5}
    p["b"].stderr, p["b"].correl = 0.125, {"a": -0.5}
    return p


@pytest.mark.parametrize("expr, culprit", [
    ("a +", "syntax"),
    ("a * (b", "syntax"),
    ("2 a", "syntax"),
])
def test_refuses_syntax_error(expr, culprit):
    p = base_params()
    p.add("c", expr=expr)
    refused(p, "'c'", expr, culprit)


@pytest.mark.parametrize("expr, culprit", [
    ("a + zeta", "zeta"),
    ("sqrt(b) * nan", "nan"),
    ("float(a)", "float"),
    ("open(a)", "open"),
])
def test_refuses_unknown_name(expr, culprit):
    p = base_params()
    p.add("c", expr=expr)
    refused(p, "'c'", expr, repr(culprit), "unknown name")


def test_refuses_self_reference_naming_it():
    p = base_params()
    p.add("c", expr="c + a")
    message = refused(p, "'c'", "cycle")
    assert cycle_in(message) == ["c", "c"]


@pytest.mark.parametrize("exprs, members", [
    ({"c": "2*d", "d": "c - a"}, {"c", "d"}),
    ({"c": "d + 1", "d": "e * b", "e": "c / k"}, {"c", "d", "e"}),
])
def test_refuses_cycles_naming_them(exprs, members):
    p = base_params()
    for name, expr in exprs.items():
        p.add(name, expr=expr)
    message = refused(p, "cycle")
    names = cycle_in(message)
    assert names[0] == names[-1] and set(names) == members


@pytest.mark.parametrize("exprs", [
    {"c": "c + a"},
    {"c": "2*d", "d": "c - a"},
], ids=["self", "two"])
def test_cycle_message_names_the_expressions(exprs):
    p = base_params()
    for name, expr in exprs.items():
        p.add(name, expr=expr)
    refused(p, *exprs.values())


@pytest.mark.parametrize("bounds", [dict(min=0.0), dict(max=100.0), dict(min=-1.0, max=100.0)])
def test_refuses_bounds_on_a_constrained_parameter(bounds):
    p = base_params()
    p.add("c", value=3.0, expr="2*a", **bounds)
    refused(p, "'c'", "2*a", "bounds")


@pytest.mark.parametrize("expr, culprit", [
    ("'text'", "'text'"),             # a string
    ("1j * a", "1j"),                 # a complex number
    ("a * 1e308 * 10", "inf"),        # an overflow to inf
    ("-a * 1e308 * 10", "-inf"),
    ("a*1e308*10 - a*1e308*10", "nan"),  # inf - inf
    ("[a, b]", "[1.5, 0.5]"),         # a list
])
def test_refuses_values_that_are_not_finite_reals(expr, culprit):
    p = base_params()
    p.add("c", expr=expr)
    refused(p, "'c'", expr, culprit)


@pytest.mark.parametrize("expr, culprit", [
    ("log(a - 2)", "log"), ("sqrt(a - 2)", "sqrt"), ("1/(k - 3)", "ZeroDivision")])
def test_refuses_an_expression_invalid_at_the_start(expr, culprit):
    p = base_params()
    p.add("c", expr=expr)
    refused(p, "'c'", expr, culprit)


def test_refused_late_constraint_leaves_earlier_ones_unchanged():
    # 'c' evaluates fine, then 'd' fails: 'c' must not keep its new value.
    p = base_params()
    p.add("c", value=None, expr="2*a")
    p.add("d", expr="log(-a)")
    refused(p, "'d'", "log(-a)")
    assert p["c"].value is None


def test_a_refused_fit_then_a_good_one():
    p = base_params()
    p.add("c", expr="a + zeta")
    refused(p, "zeta")
    p["c"].expr = "a + k"
    out = minimize(line, p)
    assert out.success and p["c"].value == p["a"].value + 3.0


# ======================================================================================
# A constrained parameter never varies; it is recomputed at every step
# ======================================================================================
def test_constrained_parameter_never_varies():
    p = two_peak_params()
    p.add("w2", expr="2*w1/3", vary=True)  # vary=True is overridden by expr
    assert p["w2"].vary is False
    seen = []

    def residual(params, x, y):
        seen.append((params["w1"].value, params["w2"].value))
        return two_peaks(params, x, y)

    out = minimize(residual, p, args=(X2, Y2))
    assert out.success
    assert "w2" not in out.var_names and out.nvarys == 5
    assert p["w2"].vary is False and p["w2"].expr == "2*w1/3"
    assert len(seen) == out.nfev and len({w1 for w1, _ in seen}) > 10
    for w1, w2 in seen:
        assert w2 == 2 * w1 / 3
    # and at the best point (not the engine's last trial point)
    assert p["w2"].value == 2 * p["w1"].value / 3


def test_minimizer_prepare_fit_evaluates_constraints_before_any_call():
    # Manual 3.5: after prepare_fit the model can be called with the params.
    p = two_peak_params()
    fitter = Minimizer(two_peaks, p, fcn_args=(X2, Y2))
    fitter.prepare_fit()
    assert p["w2"].value == 2 * 0.8 / 3
    assert fitter.var_names == ["a1", "c1", "w1", "a2", "c2"]


# ======================================================================================
# Fits with constraints agree with scipy.optimize.leastsq and a hand-written constraint
# ======================================================================================
def check_against_scipy(params, residual, names, by_hand, fitter=None, args=()):
    """Fit with lmfit_ref and with scipy (`by_hand(v)` -> residual of the vector).

    The same minimum (`assert_same_minimum`), and nfev is the number of
    calls of the user's function, counted inside it.
    """
    v0 = [params[n].value for n in names]
    v, stderr, ier = scipy_fit(by_hand, v0)
    assert ier in (1, 2, 3, 4)
    fcn, lcalls = counting(residual)
    if fitter is None:
        out = minimize(fcn, params, args=args)
    else:
        fitter.userfcn, fitter.params, fitter.userargs = fcn, params, tuple(args)
        fitter.leastsq()
        out = fitter
    assert out.success and out.var_names == list(names)
    assert_same_minimum([params[n].value for n in names], v, stderr)
    assert out.nfev == lcalls[0]
    return v


def test_two_peaks_tied_widths_match_scipy():
    p = two_peak_params()

    def by_hand(v):
        a1, c1, w1, a2, c2 = v
        return gauss(X2, a1, c1, w1) + gauss(X2, a2, c2, 2 * w1 / 3) - Y2

    v = check_against_scipy(p, two_peaks, ["a1", "c1", "w1", "a2", "c2"], by_hand, args=(X2, Y2))
    assert p["w2"].value == pytest.approx(2 * v[2] / 3, rel=1e-6)
    assert p["w1"].value == pytest.approx(0.6, abs=0.01)  # it found the right peaks


XD = np.linspace(0.0, 5.0, 101)
YD = (2.0 * np.exp(-XD / 2.0) + math.sqrt(2.0) - 1.0 + 0.3 * XD
      + 0.01 * np.random.default_rng(11).standard_normal(XD.size))


def test_chain_c_b_a_matches_scipy():
    # c reads b, b reads amp; given in the order c, b, amp (out of order).
    p = Parameters()
    p.add("c", expr="sqrt(b) - 1")
    p.add("b", expr="0.5*amp + 1")
    p.add("amp", value=1.0)
    p.add("s", value=0.0)

    def residual(params):
        v = {n: q.value for n, q in params.items()}
        assert v["b"] == 0.5 * v["amp"] + 1 and v["c"] == math.sqrt(v["b"]) - 1
        return v["amp"] * np.exp(-XD / v["b"]) + v["c"] + v["s"] * XD - YD

    def by_hand(v):
        amp, s = v
        b = 0.5 * amp + 1
        c = math.sqrt(b) - 1
        return amp * np.exp(-XD / b) + c + s * XD - YD

    v = check_against_scipy(p, residual, ["amp", "s"], by_hand)
    assert p["amp"].value == pytest.approx(2.0, abs=0.02)
    assert p["c"].value == pytest.approx(math.sqrt(0.5 * v[0] + 1) - 1, rel=1e-6)


def test_manual_frac_curve_matches_scipy():
    # Manual 5.1, in a fit: two fixed shapes mixed with fractions adding to 1.
    g1, g2 = gauss(X2, 1.0, 4.0, 0.6), gauss(X2, 1.0, 5.0, 1.2)
    y = 5.0 * (0.3 * g1 + 0.7 * g2) + 0.02 * np.random.default_rng(3).standard_normal(X2.size)
    pars = Parameters()
    pars.add('frac_curve1', value=0.5, min=0, max=1)
    pars.add('frac_curve2', expr='1-frac_curve1')
    pars.add('scale', value=1.0)

    def residual(params):
        f1, f2 = params['frac_curve1'].value, params['frac_curve2'].value
        assert f2 == 1 - f1
        return params['scale'].value * (f1 * g1 + f2 * g2) - y

    def by_hand(v):
        f1, scale = v
        return scale * (f1 * g1 + (1 - f1) * g2) - y

    # The minimum is inside the bounds, so SciPy may fit without them.
    v, stderr, ier = scipy_fit(by_hand, [0.5, 1.0])
    assert ier in (1, 2, 3, 4) and 0 < v[0] < 1
    fcn, lcalls = counting(residual)
    out = minimize(fcn, pars)
    assert out.success and out.nfev == lcalls[0]
    assert_same_minimum([pars['frac_curve1'].value, pars['scale'].value], v, stderr)
    assert pars['frac_curve2'].value == 1 - pars['frac_curve1'].value
    assert pars['frac_curve1'].value == pytest.approx(0.3, abs=0.01)


def test_if_expression_matches_scipy():
    # The one-line if: the second width is tied only while the peaks are ordered.
    p = two_peak_params(w2_expr="2*w1/3 if c2 > c1 else w1")

    def by_hand(v):
        a1, c1, w1, a2, c2 = v
        w2 = 2 * w1 / 3 if c2 > c1 else w1
        return gauss(X2, a1, c1, w1) + gauss(X2, a2, c2, w2) - Y2

    check_against_scipy(p, two_peaks, ["a1", "c1", "w1", "a2", "c2"], by_hand, args=(X2, Y2))
    assert p["w2"].value == 2 * p["w1"].value / 3


def test_if_expression_takes_the_else_branch():
    p = two_peak_params(w2_expr="2*w1/3 if c2 < c1 else w1 * 0.75")

    def by_hand(v):
        a1, c1, w1, a2, c2 = v
        w2 = 2 * w1 / 3 if c2 < c1 else w1 * 0.75
        return gauss(X2, a1, c1, w1) + gauss(X2, a2, c2, w2) - Y2

    check_against_scipy(p, two_peaks, ["a1", "c1", "w1", "a2", "c2"], by_hand, args=(X2, Y2))
    assert p["w2"].value == p["w1"].value * 0.75


def lorentzian(x, amp, cen, wid):
    "lorentzian function: wid = half-width at half-max"
    return (amp / (1 + ((x-cen)/wid)**2))


def test_user_function_in_the_symtable_matches_scipy():
    # Manual 5.3: the second peak's height is the first peak's curve at c2.
    x = np.linspace(-5.0, 5.0, 151)
    y = (lorentzian(x, 4.0, -1.0, 1.0) + lorentzian(x, lorentzian(1.5, 4.0, -1.0, 1.0), 1.5, 0.5)
         + 0.01 * np.random.default_rng(8).standard_normal(x.size))
    p = Parameters()
    p.add("amp", value=3.0)
    p.add("cen", value=-0.5)
    p.add("wid", value=1.3)
    p.add("h2", expr="lorentzian(c2, amp, cen, wid)")
    p.add("c2", value=1.2)
    p.add("w2", value=0.7)

    def residual(params):
        v = {n: q.value for n, q in params.items()}
        return (lorentzian(x, v["amp"], v["cen"], v["wid"])
                + lorentzian(x, v["h2"], v["c2"], v["w2"]) - y)

    def by_hand(v):
        amp, cen, wid, c2, w2 = v
        return lorentzian(x, amp, cen, wid) + lorentzian(x, lorentzian(c2, amp, cen, wid), c2, w2) - y

    fitter = Minimizer()
    fitter.asteval.symtable['lorentzian'] = lorentzian
    v = check_against_scipy(p, residual, ["amp", "cen", "wid", "c2", "w2"], by_hand, fitter=fitter)
    assert p["h2"].value == pytest.approx(lorentzian(v[3], *v[:3]), rel=1e-6)
    assert p["amp"].value == pytest.approx(4.0, abs=0.05)


def test_parameter_name_shadows_a_symtable_constant():
    p = Parameters()
    p.add("e", value=2.0, vary=False)
    p.add("a", value=1.0)
    p.add("f", expr="e * 2 + pi")
    Minimizer(None, p).prepare_fit()
    assert p["f"].value == 4.0 + math.pi


# ======================================================================================
# Faults in the middle of a fit: FitError with the evaluation count, restore
# ======================================================================================
XF = np.linspace(0.0, 1.0, 21)


MID_FIT = [("log(a - 2.5)", "log"), ("sqrt(a - 2.5)", "sqrt"),
           ("1/max(a - 2.5, 0)", "ZeroDivision")]


def fail_mid_fit(expr):
    """A fit that must cross a = 2.5, where `expr` stops being valid.

    The data want a = 1; the fit starts at a = 3.5. Returns (message,
    residual calls seen, snapshot before, params).
    """
    p = Parameters()
    p.add("a", value=3.5)
    p.add("b", value=0.2)
    p.add("c", expr=expr)
    p["a"].stderr, p["a"].correl = 0.125, {"b": 0.5}  # as an earlier fit left them
    before = snapshot(p)
    seen = []

    def residual(params):
        seen.append(params["a"].value)
        return params["a"].value * XF + params["b"].value - (1.0 * XF + 0.2)

    with pytest.raises(FitError) as info:
        minimize(residual, p)
    return str(info.value), seen, before, p


@pytest.mark.parametrize("expr, culprit", MID_FIT)
def test_expression_invalid_mid_fit(expr, culprit):
    message, seen, before, p = fail_mid_fit(expr)
    # The failing evaluation is the one after the last good call.
    assert f"at evaluation {len(seen) + 1}" in message, message
    assert culprit in message
    assert all(a > 2.5 for a in seen) and len(seen) >= 3
    assert snapshot(p) == before
    # and the same Parameters fit fine once the expression is valid
    p["c"].expr = "a - 2.5"
    assert minimize(lambda q: q["a"].value * XF + q["b"].value - (1.0 * XF + 0.2), p).success
    assert p["c"].value == p["a"].value - 2.5


@pytest.mark.parametrize("expr, culprit", MID_FIT[:2])
def test_expression_invalid_mid_fit_names_parameter_and_expression(expr, culprit):
    message, _, _, _ = fail_mid_fit(expr)
    assert "'c'" in message and expr in message, message


def test_non_finite_value_mid_fit():
    # exp overflows to a huge finite number, then times 1e300 is inf.
    p = Parameters()
    p.add("a", value=1.0)
    p.add("b", value=0.0)
    p.add("c", expr="exp(-a) * 1e300 * 1e10 if a < 0 else 1.0")
    before = snapshot(p)
    seen = []

    def residual(params):
        seen.append(params["a"].value)
        return params["a"].value * XF + params["b"].value - (-1.0 * XF)

    with pytest.raises(FitError) as info:
        minimize(residual, p)
    message = str(info.value)
    assert f"at evaluation {len(seen) + 1}" in message, message
    assert "inf" in message and "'c'" in message
    assert all(a >= 0 for a in seen)
    assert snapshot(p) == before


# ======================================================================================
# Propagated uncertainty (delta method)
# ======================================================================================
def test_linear_constraint_two_thirds_of_stderr():
    p = two_peak_params()
    out = minimize(two_peaks, p, args=(X2, Y2))
    assert out.errorbars
    w1, w2 = p["w1"], p["w2"]
    assert w1.stderr > 0
    assert w2.stderr == pytest.approx(2 * w1.stderr / 3, rel=1e-6)
    assert w2.correl["w1"] == pytest.approx(1.0, abs=1e-6)
    # linear in w1 only: its correlations are those of w1
    for other in ("a1", "c1", "a2", "c2"):
        assert w2.correl[other] == pytest.approx(w1.correl[other], abs=1e-6)
    # and from the covariance directly
    i = out.var_names.index("w1")
    assert w2.stderr == pytest.approx(2 / 3 * math.sqrt(out.covar[i, i]), rel=1e-6)


XL = np.linspace(1.0, 3.0, 31)  # not centred: intercept and slope correlated
YL = 0.7 + 2.0 * XL + 0.05 * np.random.default_rng(21).standard_normal(XL.size)


def fit_line(**extra):
    p = Parameters()
    p.add("a", value=0.0)
    p.add("b", value=1.0)
    for name, expr in extra.items():
        p.add(name, expr=expr)
    out = minimize(lambda q: q["a"].value + q["b"].value * XL - YL, p)
    assert out.success and out.errorbars and out.var_names == ["a", "b"]
    return p, out


def test_sum_and_ratio_closed_forms():
    p, out = fit_line(s="a + b", q="a / b", lin="3*a - 2*b + 1")
    C = out.covar
    sa, sb = math.sqrt(C[0, 0]), math.sqrt(C[1, 1])
    rho = C[0, 1] / (sa * sb)
    assert abs(rho) > 0.5  # a real test of the cross term
    assert p["a"].stderr == pytest.approx(sa, rel=1e-12)
    a, b = p["a"].value, p["b"].value
    # a + b
    ss = math.sqrt(sa**2 + sb**2 + 2 * rho * sa * sb)
    assert p["s"].stderr == pytest.approx(ss, rel=1e-6)
    assert p["s"].correl["a"] == pytest.approx((C[0, 0] + C[0, 1]) / (ss * sa), abs=1e-6)
    assert p["s"].correl["b"] == pytest.approx((C[1, 1] + C[0, 1]) / (ss * sb), abs=1e-6)
    # a / b, to first order: g = (1/b, -a/b**2)
    ga, gb = 1 / b, -a / b**2
    sq = math.sqrt(ga**2 * sa**2 + gb**2 * sb**2 + 2 * ga * gb * rho * sa * sb)
    assert p["q"].stderr == pytest.approx(sq, rel=1e-6)
    assert p["q"].correl["a"] == pytest.approx((ga * C[0, 0] + gb * C[0, 1]) / (sq * sa), abs=1e-6)
    assert p["q"].correl["b"] == pytest.approx((ga * C[0, 1] + gb * C[1, 1]) / (sq * sb), abs=1e-6)
    # 3a - 2b + 1
    sl = math.sqrt(9 * C[0, 0] + 4 * C[1, 1] - 12 * C[0, 1])
    assert p["lin"].stderr == pytest.approx(sl, rel=1e-6)


def test_chain_propagates():
    # c = 2*b, b = a + 1, given before b.
    p, out = fit_line(c="2*bb", bb="a + 1")
    sa = math.sqrt(out.covar[0, 0])
    assert p["bb"].stderr == pytest.approx(sa, rel=1e-6)
    assert p["c"].stderr == pytest.approx(2 * sa, rel=1e-6)
    assert p["c"].correl["a"] == pytest.approx(1.0, abs=1e-6)
    assert p["c"].correl["b"] == pytest.approx(p["a"].correl["b"], abs=1e-6)
    assert p["c"].value == 2 * (p["a"].value + 1)


def test_constraint_of_fixed_parameters_has_stderr_zero():
    p = Parameters()
    p.add("a", value=0.0)
    p.add("b", value=1.0)
    p.add("f0", value=4.0, vary=False)
    p.add("k", expr="sqrt(f0) * 3")
    out = minimize(lambda q: q["a"].value + q["b"].value * XL - YL, p)
    assert out.errorbars
    assert p["k"].value == 6.0
    assert p["k"].stderr == 0.0
    assert p["f0"].stderr == 0.0


def test_no_error_bars_gives_none():
    p = Parameters()
    p.add("a", value=0.0)
    p.add("b", value=1.0)
    p.add("idle", value=1.0)  # has no effect: J^T J singular
    p.add("k", expr="2*a + idle")
    out = minimize(lambda q: q["a"].value + q["b"].value * XL - YL + 0 * q["idle"].value, p)
    assert out.errorbars is False
    assert p["k"].stderr is None
    assert p["k"].value == 2 * p["a"].value + p["idle"].value


def test_varying_parameter_at_its_bound():
    # The data want intercept -1; b >= 0 stops it on the bound.
    y = 2.0 * XL - 1.0 + 0.01 * np.random.default_rng(4).standard_normal(XL.size)
    p = Parameters()
    p.add("a", value=1.0)
    p.add("b", value=0.5, min=0.0)
    p.add("from_b", expr="b*2 + a")
    p.add("from_a", expr="3*a")
    out = minimize(lambda q: q["a"].value * XL + q["b"].value - y, p)
    assert out.errorbars is False
    assert p["b"].value == pytest.approx(0.0, abs=1e-3)
    assert p["b"].stderr is None and p["a"].stderr is not None and p["a"].stderr > 0
    assert p["from_b"].stderr is None
    assert p["from_a"].stderr == pytest.approx(3 * p["a"].stderr, rel=1e-6)
    # a refit of a alone (b fixed where it ended) gives the same error bar
    # through the closed form of a one-parameter line: s^2 = chi2/nfree / sum(x^2)
    r = p["a"].value * XL + p["b"].value - y
    nfree = XL.size - 2  # the fit had two varying parameters
    assert p["a"].stderr == pytest.approx(math.sqrt(r @ r / nfree / (XL @ XL)), rel=1e-4)


def test_monte_carlo_nonlinear():
    x = np.linspace(-3.0, 3.0, 121)
    y = gauss(x, 5.0, 0.3, 0.8) + 0.02 * np.random.default_rng(17).standard_normal(x.size)
    p = Parameters()
    p.add("amp", value=4.0)
    p.add("cen", value=0.0)
    p.add("wid", value=1.0)
    p.add("area", expr="amp * wid * sqrt(2*pi)")
    p.add("odd", expr="log(amp) * exp(cen) / wid**2 + atan(cen/wid)")
    out = minimize(lambda q: gauss(x, q["amp"].value, q["cen"].value, q["wid"].value) - y, p)
    assert out.errorbars and out.var_names == ["amp", "cen", "wid"]
    best = np.array([p[n].value for n in out.var_names])
    rel = np.sqrt(np.diag(out.covar)) / np.abs(best)
    assert np.all(rel < 0.01)  # small relative errors: first order is good
    draws = np.random.default_rng(2024).multivariate_normal(best, out.covar, size=20000)
    amp, cen, wid = draws.T
    samples = {"area": amp * wid * np.sqrt(2 * np.pi),
               "odd": np.log(amp) * np.exp(cen) / wid**2 + np.arctan(cen / wid)}
    for name, c in samples.items():
        assert p[name].stderr == pytest.approx(c.std(ddof=1), rel=0.03), name
        for j, other in enumerate(out.var_names):
            mc = np.corrcoef(c, draws[:, j])[0, 1]
            assert p[name].correl[other] == pytest.approx(mc, abs=0.02), (name, other)


# ======================================================================================
# report_errors
# ======================================================================================
def test_report_shows_constrained_parameters():
    p = Parameters()
    p.add("w1", value=0.6)
    p.add("w2", expr="2*w1/3")
    p.add("d", expr="w1*2")
    p["w1"]._value, p["w1"].stderr = 0.59934, 0.00213
    p["w2"]._value, p["w2"].stderr = 0.39956, 0.00142
    p["d"]._value, p["d"].stderr = 1.19868, None
    expected = "\n".join([
        "  w1:      0.59934+/- 0.00213 (initial= 0.600000)",
        "  w2:      0.39956+/- 0.00142 == '2*w1/3'",
        "  d:       1.19868 == 'w1*2'",
    ])
    assert printfuncs.format_errors(p) == expected


def test_report_after_a_fit(capsys):
    p = two_peak_params()
    minimize(two_peaks, p, args=(X2, Y2))
    printfuncs.report_errors(p, show_correl=False)
    lines = capsys.readouterr().out.splitlines()
    w2 = p["w2"]
    assert f"  w2: {w2.value:12.5f}+/- {w2.stderr:.5f} == '2*w1/3'" in lines


# ======================================================================================
# The manual's chapter 5, as written
# ======================================================================================
def test_manual_5_1():
    from lmfit_ref import Parameters
    pars = Parameters()
    pars.add('frac_curve1', value=0.5, min=0, max=1)
    pars.add('frac_curve2', expr='1-frac_curve1')
    Minimizer(None, pars).prepare_fit()
    assert pars['frac_curve2'].value == 1 - 0.5
    assert pars['frac_curve2'].vary is False


def test_manual_5_2_peak_expressions():
    from lmfit_ref import Parameters
    pars = Parameters()
    pars.add('amp_1', value=0.5, min=0, max=1)
    pars.add('cen_1', value=2.2)
    pars.add('wid_1', value=0.2)
    pars.add('amp_2', expr='(2.0 - amp_1**2)')
    pars.add('cen_2', expr='cen_1 * wid_2 / max(wid_1, 0.001)')
    pars.add('wid_2', expr='sqrt(pi)*wid_1')
    fitter = lmfit.Minimizer(None, pars)
    fitter.prepare_fit()
    wid_2 = math.sqrt(math.pi) * 0.2
    assert pars['amp_2'].value == pytest.approx(2.0 - 0.5**2, rel=1e-15)
    assert pars['wid_2'].value == pytest.approx(wid_2, rel=1e-15)
    assert pars['cen_2'].value == pytest.approx(2.2 * wid_2 / max(0.2, 0.001), rel=1e-15)
    assert fitter.var_names == ['amp_1', 'cen_1', 'wid_1']


@pytest.mark.parametrize("test_val, expected", [(300.0, "param_a"), (100.0, "param_b"),
                                                (200.0, "param_b")])
def test_manual_5_2_if_expression(test_val, expected):
    pars = lmfit.Parameters()
    pars.add('param_a', value=1.25)
    pars.add('param_b', value=-7.5)
    pars.add('test_val', value=test_val)
    pars.add('bounded', expr='param_a if test_val/2. > 100 else param_b')
    lmfit.Minimizer(None, pars).prepare_fit()
    if test_val/2. > 100:
        bounded = 1.25
    else:
        bounded = -7.5
    assert pars['bounded'].value == bounded == pars[expected].value


def test_manual_5_3_lorentzian_in_the_symtable():
    from lmfit_ref import Minimizer, Parameters

    def lorentzian(x, amp, cen, wid):
        "lorentzian function: wid = half-width at half-max"
        return (amp / (1 + ((x-cen)/wid)**2))

    fitter = Minimizer()
    fitter.asteval.symtable['lorentzian'] = lorentzian
    pars = Parameters()
    pars.add('amp', value=3.0)
    pars.add('cen', value=0.5)
    pars.add('wid', value=2.0)
    pars.add('at_hwhm', expr='lorentzian(cen + wid, amp, cen, wid)')
    pars.add('at_x', expr='lorentzian(1.7, amp, cen, wid)')
    fitter.params = pars
    fitter.prepare_fit()
    assert pars['at_hwhm'].value == pytest.approx(3.0 / 2, rel=1e-15)
    assert pars['at_x'].value == pytest.approx(3.0 / (1 + ((1.7 - 0.5) / 2.0) ** 2), rel=1e-15)


def test_propagation_to_constraints_of_a_parameter_on_its_bound():
    # c >= 0 ends on its bound at ~1e-15 (the data want c < 0): a value that
    # reads c has no error bar; one that reads only k keeps k's, exactly
    # doubled, whether its expression is plain or calls a function.
    t = np.linspace(0.0, 3.0, 40)
    y = 2.0 * np.exp(-1.4 * t) - 0.05 + 0.01 * np.random.default_rng(8).standard_normal(t.size)
    p = Parameters()
    p.add("A", value=1.0)
    p.add("k", value=1.0)
    p.add("c", value=0.1, min=0.0)
    p.add("c1", expr="c + 1")
    p.add("k2", expr="twice(k)")
    p.add("k3", expr="2*k")
    fitter = Minimizer(lambda q: q["A"].value * np.exp(-q["k"].value * t) + q["c"].value - y, p)
    fitter.asteval.symtable["twice"] = lambda v: 2.0 * v
    fitter.leastsq()
    assert fitter.errorbars is False and p["c"].stderr is None and p["c"].value < 1e-9
    assert p["c1"].stderr is None
    assert p["k2"].stderr == pytest.approx(2 * p["k"].stderr, rel=1e-6)
    assert p["k3"].stderr == pytest.approx(2 * p["k"].stderr, rel=1e-6)
