"""Standard errors and correlations (manual 3.4; lmfit_ref.uncertainty).

References: scipy.optimize.curve_fit on the same problem, a
central-difference Jacobian computed here at the optimum in the user's
(external) coordinates: cov = redchi * (J^T J)^-1, the same formula (and
the Gauss-Newton step) with NumPy on random Jacobians, and closed forms
for a straight line with its slope held on a bound.
"""
import numpy as np
import pytest
from scipy.optimize import curve_fit

from lmfit_ref import Minimizer, Parameters, minimize
from lmfit_ref import uncertainty

X = np.linspace(0.0, 10.0, 101)
Y = (3.0 * np.exp(-X / 2.0) + 0.5 * np.cos(0.7 * X) + 0.4
     + 0.05 * np.random.default_rng(20).standard_normal(X.size))
NAMES = ["A", "tau", "B", "c"]
START = dict(A=2.0, tau=1.5, B=0.3, c=0.0)


def model(x, A, tau, B, c):
    return A * np.exp(-x / tau) + B * np.cos(0.7 * x) + c


def residual(params, x, data, factor=1.0):
    v = [params[n].value for n in NAMES]
    return factor * (model(x, *v) - data)


def make_params(bounds=None, start=START):
    bounds = bounds or {}
    p = Parameters()
    for n in NAMES:
        p.add(n, value=start[n], **bounds.get(n, {}))
    return p


@pytest.fixture(scope="module")
def reference():
    popt, pcov = curve_fit(model, X, Y, p0=[START[n] for n in NAMES])
    return popt, pcov


def numeric_covariance(params, factor=1.0, step=1e-6):
    """redchi * (J^T J)^-1 with J = dr/dP by central differences, at params' values."""
    names = [n for n in NAMES if params[n].vary]
    P = {n: params[n].value for n in NAMES}

    def r(values):
        return factor * (model(X, *[values[n] for n in NAMES]) - Y)
    J = np.empty((X.size, len(names)))
    for j, n in enumerate(names):
        h = step * max(1.0, abs(P[n]))
        up, down = dict(P), dict(P)
        up[n] += h
        down[n] -= h
        J[:, j] = (r(up) - r(down)) / (2 * h)
    r0 = r(P)
    redchi = r0 @ r0 / (X.size - len(names))
    return names, redchi * np.linalg.inv(J.T @ J)


def test_against_curve_fit(reference):
    popt, pcov = reference
    p = make_params()
    out = minimize(residual, p, args=(X, Y))
    assert out.success and out.errorbars
    perr = np.sqrt(np.diag(pcov))
    for i, n in enumerate(NAMES):
        assert p[n].value == pytest.approx(popt[i], rel=1e-5)
        assert p[n].stderr == pytest.approx(perr[i], rel=1e-3)
    np.testing.assert_allclose(out.covar, pcov, rtol=2e-3, atol=1e-3 * np.outer(perr, perr).max())


def test_correl_symmetric_and_matches_curve_fit(reference):
    popt, pcov = reference
    p = make_params()
    minimize(residual, p, args=(X, Y))
    perr = np.sqrt(np.diag(pcov))
    for i, a in enumerate(NAMES):
        assert set(p[a].correl) == set(NAMES) - {a}
        for j, b in enumerate(NAMES):
            if i == j:
                continue
            assert p[a].correl[b] == pytest.approx(p[b].correl[a], abs=1e-12)
            assert p[a].correl[b] == pytest.approx(pcov[i, j] / (perr[i] * perr[j]), abs=1e-3)
            assert -1.0 <= p[a].correl[b] <= 1.0
    # The problem has a strong correlation, so the check above is not vacuous.
    assert max(abs(c) for c in p["A"].correl.values()) > 0.3


def test_scale_covar_false_and_true():
    p_true, p_false = make_params(), make_params()
    out = minimize(residual, p_true, args=(X, Y))
    out_false = Minimizer(residual, p_false, fcn_args=(X, Y), scale_covar=False)
    out_false.leastsq()
    assert out.redchi == pytest.approx(out_false.redchi, rel=1e-12)
    assert abs(np.sqrt(out.redchi) - 1.0) > 0.5  # the ratio below is not ~1
    for n in NAMES:
        assert p_true[n].stderr / p_false[n].stderr == pytest.approx(np.sqrt(out.redchi), rel=1e-9)
        for m in p_true[n].correl:
            assert p_true[n].correl[m] == pytest.approx(p_false[n].correl[m], abs=1e-12)
    # Unscaled: (J^T J)^-1 itself, as curve_fit with absolute_sigma=True, sigma=1.
    _, pcov_abs = curve_fit(model, X, Y, p0=[START[n] for n in NAMES],
                            sigma=np.ones_like(X), absolute_sigma=True)
    for i, n in enumerate(NAMES):
        assert p_false[n].stderr == pytest.approx(np.sqrt(pcov_abs[i, i]), rel=1e-3)
    # minimize passes scale_covar on to the Minimizer.
    p_kw = make_params()
    minimize(residual, p_kw, args=(X, Y), scale_covar=False)
    assert p_kw["tau"].stderr == pytest.approx(p_false["tau"].stderr, rel=1e-9)


@pytest.mark.parametrize("factor", [1e-3, 7.0, 1e4])
def test_scaled_residuals_leave_stderr_unchanged(factor):
    p1, pk = make_params(), make_params()
    minimize(residual, p1, args=(X, Y))
    out = minimize(residual, pk, args=(X, Y), kws={"factor": factor})
    assert out.success
    for n in NAMES:
        assert pk[n].value == pytest.approx(p1[n].value, rel=1e-6)
        assert pk[n].stderr == pytest.approx(p1[n].stderr, rel=1e-4)
    # Without scaling the error bars scale as 1/factor.
    pu = make_params()
    Minimizer(residual, pu, fcn_args=(X, Y), fcn_kws={"factor": factor}, scale_covar=False).leastsq()
    p1u = make_params()
    Minimizer(residual, p1u, fcn_args=(X, Y), scale_covar=False).leastsq()
    assert pu["tau"].stderr == pytest.approx(p1u["tau"].stderr / factor, rel=1e-4)


@pytest.mark.parametrize("bounds", [
    dict(tau=dict(min=-100.0)),
    dict(tau=dict(max=1000.0)),
    dict(tau=dict(min=-1000.0, max=1000.0)),
    dict(A=dict(min=-50.0, max=60.0), B=dict(max=40.0), c=dict(min=-30.0)),
])
def test_far_bound_changes_stderr_little(bounds):
    p_free, p = make_params(), make_params(bounds)
    minimize(residual, p_free, args=(X, Y))
    out = minimize(residual, p, args=(X, Y))
    assert out.errorbars
    for n in NAMES:
        assert p[n].value == pytest.approx(p_free[n].value, rel=1e-6)
        assert abs(p[n].stderr / p_free[n].stderr - 1.0) < 1e-3


@pytest.mark.parametrize("bounds", [
    # The free optimum is A ~ 3.03, tau ~ 1.92, B ~ 0.49: each bound below sits
    # close to it, where the transform is far from the identity.
    dict(tau=dict(min=1.9, max=2.3)),
    dict(tau=dict(min=1.9)),
    dict(tau=dict(max=1.95)),
    dict(A=dict(min=2.0, max=3.05), B=dict(min=0.45, max=0.6)),
])
def test_bounded_stderr_equals_central_difference_estimate(bounds):
    p = make_params(bounds, start=dict(START, tau=1.93, A=2.9, B=0.5))
    p_free = make_params()
    minimize(residual, p_free, args=(X, Y))
    out = minimize(residual, p, args=(X, Y))
    assert out.success and out.errorbars
    for n in NAMES:
        assert p[n].value == pytest.approx(p_free[n].value, rel=1e-6)  # bounds not active
    # dP/du is far from 1 for at least one parameter, so the mapping matters.
    names, cov = numeric_covariance(p)
    for i, n in enumerate(names):
        assert p[n].stderr == pytest.approx(np.sqrt(cov[i, i]), rel=1e-3), n
        for j, m in enumerate(names):
            if i != j:
                assert p[n].correl[m] == pytest.approx(cov[i, j] / np.sqrt(cov[i, i] * cov[j, j]), abs=1e-3)


def test_central_difference_estimate_agrees_unbounded(reference):
    # The test's own estimator, checked against curve_fit, so the test above
    # compares with something trustworthy.
    popt, pcov = reference
    p = make_params()
    minimize(residual, p, args=(X, Y))
    names, cov = numeric_covariance(p)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), np.sqrt(np.diag(pcov)), rtol=1e-3)


def test_singular_parameter_with_no_effect():
    p = make_params()
    p.add("ghost", value=1.0)   # varies, but the residual ignores it
    p.add("fixed", value=2.0, vary=False)
    out = minimize(residual, p, args=(X, Y))
    assert out.errorbars is False
    for n in NAMES + ["ghost"]:
        assert p[n].stderr is None
    assert p["fixed"].stderr == 0.0
    assert "singular" in out.message or "no effect" in out.message
    assert "not estimated" in out.message.lower() or "uncertainties" in out.message.lower()
    assert out.covar is None
    # The values are still the optimum.
    popt, _ = curve_fit(model, X, Y, p0=[START[n] for n in NAMES])
    for i, n in enumerate(NAMES):
        assert p[n].value == pytest.approx(popt[i], rel=1e-5)


def test_two_parameters_with_the_same_effect(reference):
    def res(params, x, data):
        return model(x, params["A"].value + params["A2"].value, params["tau"].value,
                     params["B"].value, params["c"].value) - data
    p = make_params()
    p.add("A2", value=0.5)
    out = minimize(res, p, args=(X, Y))
    # Numerically, J^T J may be invertible by a hair (MINPACK's columns differ
    # by rounding); then the correlation must show the degeneracy.
    if out.errorbars:
        assert p["A"].correl["A2"] == pytest.approx(-1.0, abs=1e-6)
        assert p["A"].stderr > 1e3 * abs(p["A"].value + p["A2"].value)
    else:
        assert all(p[n].stderr is None for n in NAMES + ["A2"])
    # Their sum is curve_fit's A (the model fitted with one amplitude).
    assert p["A"].value + p["A2"].value == pytest.approx(reference[0][0], rel=1e-5)


@pytest.mark.parametrize("bound", [dict(max=1.5), dict(min=0.0, max=1.5),
                                   dict(min=-10.0, max=1.5), dict(min=4.0)])
def test_parameter_ending_on_bound(bound):
    # A straight line y = 2 x + 1: the slope is held below (or above) 2.
    x = np.linspace(0.0, 1.0, 50)
    y = 2.0 * x + 1.0 + 0.01 * np.random.default_rng(0).standard_normal(50)
    p = Parameters()
    start = 1.0 if "max" in bound else 5.0
    p.add("slope", value=start, **bound)
    p.add("icept", value=0.5)
    out = minimize(lambda p: p["slope"].value * x + p["icept"].value - y, p)
    edge = bound.get("max", bound.get("min"))
    assert p["slope"].value == pytest.approx(edge, abs=1e-6)
    assert p["slope"].stderr is None
    assert out.errorbars is False
    assert "'slope'" in out.message


def test_fixed_parameters_have_zero_stderr():
    p = make_params()
    p["B"].vary = False
    p.add("unused", value=3.0, vary=False)
    out = minimize(residual, p, args=(X, Y))
    assert out.errorbars
    assert p["B"].stderr == 0.0 and p["unused"].stderr == 0.0
    assert p["B"].correl is None
    for n in ["A", "tau", "c"]:
        assert p[n].stderr > 0 and "B" not in p[n].correl and "unused" not in p[n].correl
    # Against curve_fit with B held at its value.
    popt, pcov = curve_fit(lambda x, A, tau, c: model(x, A, tau, START["B"], c), X, Y,
                           p0=[START["A"], START["tau"], START["c"]])
    for i, n in enumerate(["A", "tau", "c"]):
        assert p[n].stderr == pytest.approx(np.sqrt(pcov[i, i]), rel=1e-3)
    # The manual's 2.4 print loop formats every stderr with %.4f.
    assert " %.4f " % p["B"].stderr == " 0.0000 "


def test_covariance_and_step_formulas():
    # uncertainty.analyse against NumPy on random full-rank Jacobians whose
    # columns differ in scale by up to 1e6 (parameters in different units):
    # cov = (J^T J)^-1, times r @ r / nfree with scale_covar; the
    # Gauss-Newton step is the least-squares solution of J d = -r.
    rng = np.random.default_rng(4)
    for _ in range(200):
        n = int(rng.integers(1, 6))
        N = n + int(rng.integers(5, 30))
        J = rng.normal(size=(N, n)) * 10.0 ** rng.uniform(-3, 3, size=n)
        r = rng.normal(size=N)
        names = [f"p{i}" for i in range(n)]
        P = rng.normal(size=n)
        inv = np.linalg.inv(J.T @ J)
        s = np.sqrt(np.diag(inv))
        step = -np.linalg.lstsq(J, r, rcond=None)[0]
        for scale_covar, factor in ((False, 1.0), (True, (r @ r) / (N - n))):
            out = uncertainty.analyse(J, r, N - n, names, P, scale_covar=scale_covar)
            expected = factor * inv
            assert out.undetermined == () and out.held == ()
            np.testing.assert_allclose(np.diag(out.cov), np.diag(expected), rtol=1e-9)
            np.testing.assert_allclose(out.cov / np.outer(s, s), expected / np.outer(s, s),
                                       rtol=1e-9, atol=1e-11)
            np.testing.assert_allclose(out.step, step, rtol=1e-9, atol=1e-11 * s.max())
        stderr, correl = uncertainty.stderr_correl(expected, names)
        se = np.sqrt(np.diag(expected))
        np.testing.assert_allclose(stderr, se, rtol=1e-12)
        for i in range(n):
            for j in range(n):
                if i != j:
                    assert correl[i][names[j]] == pytest.approx(expected[i, j] / (se[i] * se[j]),
                                                                abs=1e-12)


@pytest.mark.parametrize("bound", [dict(max=1.5), dict(min=0.0, max=1.5), dict(min=4.0)])
def test_others_get_covariance_with_the_bound_parameter_held(bound):
    # When 'slope' ends on its bound (the data pull it beyond), 'icept' gets
    # the error bar of a fit in which slope is fixed at that value, up to the
    # degrees of freedom: the bounded fit counts nvarys = 2, the fixed one 1.
    # That fit has a closed form: icept = mean(y - slope*x), and
    # stderr**2 = (r @ r / nfree) / N.
    x = np.linspace(0.0, 1.0, 50)
    y = 2.0 * x + 1.0 + 0.01 * np.random.default_rng(0).standard_normal(50)
    p = Parameters()
    p.add("slope", value=1.0 if "max" in bound else 5.0, **bound)
    p.add("icept", value=0.5)
    out = minimize(lambda p: p["slope"].value * x + p["icept"].value - y, p)
    s_bound = p["slope"].value
    assert s_bound == pytest.approx(bound.get("max", bound.get("min")), abs=1e-12)
    assert p["slope"].stderr is None and p["slope"].correl is None
    assert "'slope' ended at its bound" in out.message
    icept = float(np.mean(y - s_bound * x))
    r = s_bound * x + icept - y
    nfree = x.size - 2
    expected = np.sqrt(r @ r / nfree / x.size)
    # Certified: within CERTIFY (1e-3) standard errors of the minimum with
    # slope held on its bound.
    assert out.success, out.message
    assert p["icept"].value == pytest.approx(icept, abs=uncertainty.CERTIFY * expected)
    # J by differences at the best point (relative error ~1e-8).
    assert p["icept"].stderr == pytest.approx(expected, rel=1e-7)
    assert p["icept"].correl == {}
    assert np.isnan(out.covar[0]).all() and out.covar[1, 1] == pytest.approx(expected**2, rel=2e-7)


@pytest.mark.parametrize("bounds", [dict(min=0.0, max=1e6), dict(min=0.0)])
def test_wide_or_distant_bound_is_not_mistaken_for_the_optimum_on_it(bounds):
    # k = 0.1 lies hundreds of standard errors from the bound 0; however wide
    # the interval, the fit must report curve_fit's error bars (the test for
    # "on its bound" is relative to the standard error, not to the bounds).
    x = np.linspace(0.0, 10.0, 50)
    y = 0.1 * x + 2.0 + np.random.default_rng(1).normal(0.0, 0.01, 50)
    p = Parameters()
    p.add("k", value=0.5, **bounds)
    p.add("c", value=1.0)
    out = minimize(lambda p: p["k"].value * x + p["c"].value - y, p)
    popt, pcov = curve_fit(lambda x, k, c: k * x + c, x, y, p0=[0.5, 1.0])
    assert out.errorbars, out.message
    assert p["k"].value == pytest.approx(popt[0], rel=1e-6)
    np.testing.assert_allclose([p["k"].stderr, p["c"].stderr], np.sqrt(np.diag(pcov)), rtol=1e-4)
