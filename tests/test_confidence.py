"""Confidence intervals (manual chapter 4): conf_interval, conf_interval2d, report_ci.

Every expected number comes from something independent of lmfit_ref:

* ``f_compare`` / ``chi2_compare`` against ``scipy.stats`` called here;
* a LINEAR model, whose chi-square profile is exactly quadratic, so the
  limits have a closed form from ``numpy.linalg`` (derived below);
* the numbers printed in the manual's 4.3 example (1e-3 relative);
* grid cells recomputed with ``scipy.optimize.leastsq`` and ``scipy.stats``;
* report text written by hand from the format rule (tests/expected/ci_*.txt).

The closed form. For y = X beta + noise with N data and P parameters,
chi2_0 = |X beta_hat - y|^2 and C = (X^T X)^-1 (unscaled). Holding
parameter k at v and refitting the others gives exactly

    chi2(v) = chi2_0 + (v - beta_k)^2 / C_kk,

so the F statistic (chi2(v)/chi2_0 - 1)(N - P) reaches F.ppf(s, 1, N - P) at

    v = beta_k +/- sqrt(F.ppf(s, 1, N - P) * chi2_0 / (N - P) * C_kk)
      = beta_k +/- stderr_k * sqrt(F.ppf(s, 1, N - P)),

and the likelihood ratio, (chi2(v) - chi2_0) / (chi2_0 / (N - P)) against
chi2(1), at the same with F.ppf replaced by chi2.ppf(s, 1).
"""
import copy
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

import lmfit_ref as lmfit
from lmfit_ref import Minimizer, Parameters, conf_interval, conf_interval2d, minimize
from lmfit_ref.confidence import chi2_compare, f_compare
from lmfit_ref.printfuncs import format_ci, report_ci

EXPECTED = Path(__file__).parent / "expected"


# ----------------------------------------------------------------------------
# Problems
# ----------------------------------------------------------------------------

X_LIN = np.linspace(0.0, 10.0, 30)
Y_LIN = 1.5 + 0.7 * X_LIN + np.random.default_rng(3).normal(0.0, 0.3, X_LIN.size)


def linear_residual(p):
    return p["a"].value + p["b"].value * X_LIN - Y_LIN


def linear_params(**bounds):
    """a, b started at 1.0, 0.5 (or at 'value' in their bounds dict)."""
    p = Parameters()
    for name, start in (("a", 1.0), ("b", 0.5)):
        kws = {"value": start, **bounds.get(name, {})}
        p.add(name, **kws)
    return p


def closed_form(design, y):
    """beta, chi2_0 and the unscaled covariance (X^T X)^-1 of a linear model, by numpy."""
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    chi0 = float(np.sum((design @ beta - y) ** 2))
    return beta, chi0, np.linalg.inv(design.T @ design)


LIN_DESIGN = np.column_stack([np.ones_like(X_LIN), X_LIN])
LIN_BETA, LIN_CHI0, LIN_C = closed_form(LIN_DESIGN, Y_LIN)
LIN_N, LIN_P = X_LIN.size, 2


def half_width(k, s, C=LIN_C, chi0=LIN_CHI0, n=LIN_N, p=LIN_P, method="f_test"):
    q = stats.f.ppf(s, 1, n - p) if method == "f_test" else stats.chi2.ppf(s, 1)
    return math.sqrt(q * chi0 / (n - p) * C[k, k])


def limit(ci_row, s, side):
    """The value at probability s on the lower (-1) or upper (+1) side of a ci row."""
    middle = [pr for pr, _ in ci_row].index(0.0)
    part = ci_row[:middle] if side < 0 else ci_row[middle + 1:]
    (value,) = [v for pr, v in part if pr == s]
    return value


# The manual's 4.3 two-exponential example, reproduced with RandomState(1).
_rs = np.random.RandomState(1)
X_MAN = np.linspace(0.3, 10, 100)
Y_MAN = 3 * np.exp(-X_MAN / 2.0) - 5 * np.exp(-X_MAN / 10.0) + 0.2 * _rs.randn(X_MAN.size)


def manual_residual(p):
    a1, a2, t1, t2 = [i.value for i in p.values()]
    return a1 * np.exp(-X_MAN / t1) + a2 * np.exp(-X_MAN / t2) - Y_MAN


def manual_params():
    p = Parameters()
    p.add_many(("a1", 5), ("a2", -5), ("t1", 2), ("t2", 5))
    return p


def manual_model(a1, a2, t1, t2):
    return a1 * np.exp(-X_MAN / t1) + a2 * np.exp(-X_MAN / t2) - Y_MAN


# The manual's printed interval table (4.3), sigmas [0.68, 0.95].
MANUAL_TABLE = {
    "a1": [2.11696, 2.33696, 2.61101, 3.06631, 4.28728],
    "a2": [-6.39492, -5.05982, -4.51293, -4.19528, -3.97850],
    "t2": [8.00414, 9.62688, 10.96137, 12.17947, 13.34824],
    "t1": [1.07036, 1.28482, 1.56948, 1.97534, 2.64341],
}


@pytest.fixture(scope="module")
def manual():
    """The manual's fit, its conf_interval with trace for [0.68, 0.95]."""
    mi = minimize(manual_residual, manual_params())
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing unreachable here
        ci, trace = conf_interval(mi, sigmas=[0.68, 0.95], trace=True)
    return mi, ci, trace


@pytest.fixture
def linear():
    p = linear_params()
    return minimize(linear_residual, p), p


# A quadratic with a bounded, a fixed and a constrained parameter, for the
# robustness checks: y = a + b x + c x^2 + d x^3 + e x, d fixed at 0, e = b/10.
Y_QUAD = (0.5 - 1.2 * X_LIN + 0.08 * X_LIN ** 2
          + np.random.default_rng(11).normal(0, 0.2, X_LIN.size))


def quad_residual(p):
    v = {n: par.value for n, par in p.items()}
    model = v["a"] + v["b"] * X_LIN + v["c"] * X_LIN ** 2 + v["d"] * X_LIN ** 3 + v["e"] * X_LIN
    return model - Y_QUAD


def quad_params():
    p = Parameters()
    p.add("a", value=0.0, min=-50.0)
    p.add("b", value=-1.0, max=50.0)
    p.add("c", value=0.0)
    p.add("d", value=0.0, vary=False)
    p.add("e", expr="b/10")
    return p


# ----------------------------------------------------------------------------
# State snapshots: "exactly what they were"
# ----------------------------------------------------------------------------

PARAM_ATTRS = ("name", "value", "vary", "min", "max", "expr", "stderr", "correl", "init_value")
FIT_ATTRS = ("nfev", "success", "chisqr", "redchi", "nfree", "ndata", "nvarys", "message",
             "errorbars", "covar", "var_names", "residual", "ier", "lmdif_message", "engine",
             "userfcn", "userargs", "userkws", "scale_covar")


def frozen(value):
    """A comparable, deep copy: arrays become (dtype, shape, bytes)."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, dict):
        return ("dict", tuple((k, frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(frozen(v) for v in value))
    if isinstance(value, float) and value != value:
        return ("nan",)
    return copy.deepcopy(value) if not callable(value) else value


def snapshot(minimizer, params):
    """Every listed Parameter attribute (in order) and the Minimizer's statistics."""
    pars = [(key, type(par), id(par), {a: frozen(getattr(par, a)) for a in PARAM_ATTRS})
            for key, par in params.items()]
    fit = {a: frozen(getattr(minimizer, a)) for a in FIT_ATTRS}
    return pars, fit, id(minimizer.params)


# ----------------------------------------------------------------------------
# f_compare and chi2_compare against scipy.stats
# ----------------------------------------------------------------------------

COMPARE_CASES = [
    (100, 4, 1.0, 1.0, 1),
    (100, 4, 1.1, 1.0, 1),
    (100, 4, 3.3, 3.05, 2),
    (30, 2, 4.0, 3.29, 1),
    (12, 5, 10.0, 2.0, 3),
    (1000, 10, 55.5, 55.0, 1),
    (8, 3, 1e-3, 1e-4, 2),
]


@pytest.mark.parametrize("ndata,nparas,new,best,nfix", COMPARE_CASES)
def test_f_compare_is_the_f_cdf(ndata, nparas, new, best, nfix):
    F = (new / best - 1.0) * (ndata - nparas) / nfix
    want = stats.f.cdf(F, nfix, ndata - nparas)
    assert f_compare(ndata, nparas, new, best, nfix) == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("ndata,nparas,new,best,nfix", COMPARE_CASES)
def test_chi2_compare_is_the_chi2_cdf(ndata, nparas, new, best, nfix):
    scale = best / (ndata - nparas)
    want = stats.chi2.cdf((new - best) / scale, nfix)
    assert chi2_compare(ndata, nparas, new, best, nfix) == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_compare_defaults_and_values():
    # nfix defaults to 1; one noise variance of rise is the 1-sigma probability
    assert f_compare(50, 2, 1.5, 1.2) == pytest.approx(stats.f.cdf(0.25 * 48, 1, 48), rel=1e-12)
    one_sigma = stats.norm.cdf(1) - stats.norm.cdf(-1)
    assert chi2_compare(98, 2, 1.0 + 1 / 96, 1.0) == pytest.approx(one_sigma, rel=1e-12)
    # the F-test is the wider (its probability is lower at the same rise)
    assert f_compare(20, 4, 1.3, 1.0) < chi2_compare(20, 4, 1.3, 1.0)


# ----------------------------------------------------------------------------
# The linear model: closed-form limits
# ----------------------------------------------------------------------------

SIGMAS = (0.3, 0.674, 0.95, 0.997)


def test_linear_fit_matches_numpy(linear):
    mi, p = linear
    np.testing.assert_allclose([p["a"].value, p["b"].value], LIN_BETA, rtol=1e-7)
    assert mi.chisqr == pytest.approx(LIN_CHI0, rel=1e-10)
    for k, name in enumerate("ab"):
        assert p[name].stderr == pytest.approx(math.sqrt(LIN_CHI0 / (LIN_N - LIN_P) * LIN_C[k, k]),
                                               rel=1e-6)


@pytest.mark.parametrize("method", ["f_test", "likelihood"])
def test_linear_limits_closed_form(linear, method):
    mi, p = linear
    prob_func = None if method == "f_test" else "likelihood"
    ci = conf_interval(mi, sigmas=SIGMAS, prob_func=prob_func)
    assert list(ci) == ["a", "b"]
    for k, name in enumerate("ab"):
        for s in SIGMAS:
            h = half_width(k, s, method=method)
            assert limit(ci[name], s, -1) == pytest.approx(LIN_BETA[k] - h, rel=1e-6)
            assert limit(ci[name], s, +1) == pytest.approx(LIN_BETA[k] + h, rel=1e-6)
            # the half width itself, far more sharply than the 1e-6 of the value
            assert limit(ci[name], s, +1) - limit(ci[name], s, -1) == pytest.approx(2 * h, rel=1e-5)


def test_linear_limits_are_stderr_times_sqrt_fppf(linear):
    mi, p = linear
    ci = conf_interval(mi, sigmas=SIGMAS)
    for name in "ab":
        for s in SIGMAS:
            h = p[name].stderr * math.sqrt(stats.f.ppf(s, 1, LIN_N - LIN_P))
            assert limit(ci[name], s, -1) == pytest.approx(p[name].value - h, rel=1e-6)
            assert limit(ci[name], s, +1) == pytest.approx(p[name].value + h, rel=1e-6)


@pytest.mark.parametrize("method,func", [("f_test", f_compare), ("likelihood", chi2_compare)])
def test_prob_func_callable_and_string_agree(linear, method, func):
    mi, _ = linear
    calls = []

    def counting(*args):
        calls.append(args)
        return func(*args)

    by_name = conf_interval(mi, sigmas=(0.5, 0.9), prob_func=method)
    by_callable = conf_interval(mi, sigmas=(0.5, 0.9), prob_func=counting)
    assert calls
    assert all(len(c) == 5 and c[0] == LIN_N and c[1] == LIN_P and c[4] == 1 for c in calls)
    for name in "ab":
        np.testing.assert_allclose([v for _, v in by_callable[name]], [v for _, v in by_name[name]],
                                   rtol=1e-12)


def test_likelihood_is_narrower_than_f_test(linear):
    mi, _ = linear
    f = conf_interval(mi, sigmas=(0.95,))
    lr = conf_interval(mi, sigmas=(0.95,), prob_func="likelihood")
    for name in "ab":
        assert lr[name][0][1] > f[name][0][1] and lr[name][-1][1] < f[name][-1][1]


def test_linear_trace_is_the_profile(linear):
    """Along b's profile, a is the conditional least-squares value and prob the F CDF."""
    mi, _ = linear
    ci, trace = conf_interval(mi, p_names=["b"], sigmas=(0.674, 0.95), trace=True)
    assert list(trace) == ["b"]
    t = trace["b"]
    b = t["b"]
    a_expected = np.mean(Y_LIN) - b * np.mean(X_LIN)
    np.testing.assert_allclose(t["a"], a_expected, rtol=1e-6, atol=1e-9)
    chi = np.array([np.sum((a + bv * X_LIN - Y_LIN) ** 2) for a, bv in zip(a_expected, b)])
    prob = stats.f.cdf((chi / LIN_CHI0 - 1) * (LIN_N - LIN_P), 1, LIN_N - LIN_P)
    np.testing.assert_allclose(t["prob"], prob, atol=1e-6)


def test_verbose_prints_the_limits(linear, capsys):
    mi, _ = linear
    conf_interval(mi, p_names=["a"], sigmas=(0.674,), verbose=False)
    assert capsys.readouterr().out == ""
    ci = conf_interval(mi, p_names=["a"], sigmas=(0.674,), verbose=True)
    out = capsys.readouterr().out
    assert "a" in out and "0.674" in out and out.count("\n") >= 2
    assert ci["a"][0][1] == pytest.approx(LIN_BETA[0] - half_width(0, 0.674), rel=1e-6)


# ----------------------------------------------------------------------------
# The manual's 4.3 example
# ----------------------------------------------------------------------------

def manual_jacobian(a1, a2, t1, t2):
    """The exact Jacobian of the manual's model, shape (100, 4)."""
    e1, e2 = np.exp(-X_MAN / t1), np.exp(-X_MAN / t2)
    return np.column_stack([e1, e2, a1 * e1 * X_MAN / t1**2, a2 * e2 * X_MAN / t2**2])


def test_manual_best_fit(manual):
    mi, _, _ = manual
    names = ("a1", "a2", "t1", "t2")
    printed = {"a1": (2.61101, 0.32796), "a2": (-4.51293, 0.39919),
               "t1": (1.56948, 0.33450), "t2": (10.96137, 1.26387)}
    for name, (value, stderr) in printed.items():
        assert mi.params[name].value == pytest.approx(value, abs=6e-6)
        # The manual's stderr came from MINPACK's forward-difference Jacobian
        # at tolerance 1e-7, good to a few units in the 5th digit.
        assert mi.params[name].stderr == pytest.approx(stderr, abs=2e-5)
    # The minimum, independently: SciPy with the exact Jacobian, run until
    # nothing changes. The final stage polishes any point further than
    # certify.FINISH = 1e-5 standard errors from a stationary point, and
    # takes one Gauss-Newton step from one between FINE and FINISH; so the
    # fit ends within FINISH of the minimum (it promises CERTIFY = 1e-3).
    best, _, info, _, ier = optimize.leastsq(
        lambda q: manual_model(*q), [5.0, -5.0, 2.0, 5.0], Dfun=lambda q: manual_jacobian(*q),
        full_output=True, xtol=1e-15, ftol=1e-15, gtol=0.0)
    assert ier in (1, 2, 3, 4)
    J = manual_jacobian(*best)
    sigma = np.sqrt(np.diag(np.linalg.inv(J.T @ J)) * (info["fvec"] @ info["fvec"]) / 96)
    values = np.array([mi.params[n].value for n in names])
    off = np.abs(values - best) / sigma
    assert off.max() <= 1e-5, f"{off.max():.2g} standard errors from the minimum"
    # The error bars belong to the values reported: the exact Jacobian at
    # those values gives them to 1e-5. They come from a forward-difference
    # Jacobian (relative error ~sqrt(eps), amplified by the conditioning of
    # J^T J): measured 3e-6 here.
    J = manual_jacobian(*values)
    stderr = np.sqrt(np.diag(np.linalg.inv(J.T @ J)) * mi.redchi)
    for name, s in zip(names, stderr):
        assert mi.params[name].stderr == pytest.approx(s, rel=1e-5)


def test_manual_interval_table(manual):
    mi, ci, _ = manual
    assert set(ci) == set(MANUAL_TABLE)
    for name, row in MANUAL_TABLE.items():
        np.testing.assert_allclose([v for _, v in ci[name]], row, rtol=1e-3, err_msg=name)


def test_manual_output_structure(manual):
    mi, ci, _ = manual
    assert list(ci) == ["a1", "a2", "t1", "t2"]  # the varying parameters, in order
    for name, row in ci.items():
        assert len(row) == 5
        assert [pr for pr, _ in row] == [0.95, 0.68, 0.0, 0.68, 0.95]
        assert row[2] == (0.0, mi.params[name].value)
        values = [v for _, v in row]
        assert values == sorted(values) and len(set(values)) == 5
        assert all(math.isfinite(v) for v in values)


def test_manual_trace_structure(manual):
    mi, ci, trace = manual
    assert list(trace) == list(ci)
    for name, t in trace.items():
        assert set(t) == set(mi.params) | {"prob"}
        lengths = {len(a) for a in t.values()}
        assert len(lengths) == 1 and lengths.pop() >= 5
        assert all(isinstance(a, np.ndarray) for a in t.values())
        assert np.all((t["prob"] >= 0) & (t["prob"] <= 1))
        assert np.all(np.diff(t[name]) >= 0)  # sorted along the profiled parameter
        # it spans the 95% interval found
        assert t[name][0] <= ci[name][0][1] + 1e-9 and t[name][-1] >= ci[name][-1][1] - 1e-9
        assert t["prob"].max() >= 0.95 - 1e-6


def test_manual_trace_points_are_profile_fits(manual):
    """A few trace points checked independently: the F probability of the chi-square there."""
    mi, _, trace = manual
    t = trace["t2"]
    chi0 = float(np.sum(manual_model(*[mi.params[n].value for n in ("a1", "a2", "t1", "t2")]) ** 2))
    for i in (0, len(t["t2"]) // 2, len(t["t2"]) - 1):
        point = [t[n][i] for n in ("a1", "a2", "t1", "t2")]
        chi = float(np.sum(manual_model(*point) ** 2))
        want = stats.f.cdf((chi / chi0 - 1) * (100 - 4), 1, 96)
        assert t["prob"][i] == pytest.approx(want, abs=1e-6)


# ----------------------------------------------------------------------------
# Robustness: nothing the caller holds changes, even when a call fails
# ----------------------------------------------------------------------------

def test_state_unchanged_after_successful_calls():
    p = quad_params()
    mi = minimize(quad_residual, p)
    assert mi.errorbars
    before = snapshot(mi, p)
    ci, trace = conf_interval(mi, sigmas=(0.674, 0.95), trace=True)
    assert snapshot(mi, p) == before
    conf_interval(mi, p_names=["c"], prob_func="likelihood")
    assert snapshot(mi, p) == before
    conf_interval2d(mi, "a", "c", 4, 3)
    assert snapshot(mi, p) == before
    conf_interval2d(mi, "b", "a", 3, 2, limits=((-2, -1), (0, 1)), prob_func="likelihood")
    assert snapshot(mi, p) == before
    # the ci and trace are the caller's to change: they share nothing with the fit
    ci["a"].clear()
    trace["a"]["a"][:] = 0.0
    assert snapshot(mi, p) == before


def _failing_calls(mi):
    def raising_prob(*args):
        raise RuntimeError("prob_func failed")

    return [
        (ValueError, lambda: conf_interval(mi, p_names=["nope"])),
        (ValueError, lambda: conf_interval(mi, p_names=["a", "nope"])),
        (ValueError, lambda: conf_interval(mi, p_names=["d"])),  # fixed
        (ValueError, lambda: conf_interval(mi, p_names=["e"])),  # constrained
        (ValueError, lambda: conf_interval(mi, sigmas=[1.5])),
        (ValueError, lambda: conf_interval(mi, sigmas=[0.0])),
        (ValueError, lambda: conf_interval(mi, sigmas=[-0.1, 0.5])),
        (ValueError, lambda: conf_interval(mi, sigmas=[0.5, 1.0])),
        (ValueError, lambda: conf_interval(mi, sigmas=[])),
        (ValueError, lambda: conf_interval(mi, sigmas=[float("nan")])),
        (ValueError, lambda: conf_interval(mi, prob_func="nope")),
        (ValueError, lambda: conf_interval(mi, prob_func=3)),
        (RuntimeError, lambda: conf_interval(mi, prob_func=raising_prob)),
        (ValueError, lambda: conf_interval2d(mi, "a", "a")),
        (ValueError, lambda: conf_interval2d(mi, "a", "d")),
        (ValueError, lambda: conf_interval2d(mi, "nope", "a")),
        (ValueError, lambda: conf_interval2d(mi, "a", "b", prob_func="nope")),
        (RuntimeError, lambda: conf_interval2d(mi, "a", "b", 2, 2, prob_func=raising_prob)),
    ]


@pytest.mark.parametrize("index", range(18))
def test_state_unchanged_after_failing_calls(index):
    p = quad_params()
    mi = minimize(quad_residual, p)
    calls = _failing_calls(mi)
    assert len(calls) == 18
    error, call = calls[index]
    before = snapshot(mi, p)
    with pytest.raises(error):
        call()
    assert snapshot(mi, p) == before


def test_bad_arguments_name_the_culprit():
    p = quad_params()
    mi = minimize(quad_residual, p)
    with pytest.raises(ValueError, match="nope"):
        conf_interval(mi, p_names=["nope"])
    with pytest.raises(ValueError, match="'d'"):
        conf_interval(mi, p_names=["d"])
    with pytest.raises(ValueError, match="sigmas"):
        conf_interval(mi, sigmas=[1.5])
    with pytest.raises(ValueError, match="prob_func"):
        conf_interval(mi, prob_func="nope")
    with pytest.raises(ValueError, match="differ"):
        conf_interval2d(mi, "c", "c")


def test_nan_sigma_is_refused_by_name():
    p = quad_params()
    mi = minimize(quad_residual, p)
    with pytest.raises(ValueError, match="sigmas"):
        conf_interval(mi, sigmas=[float("nan")])


def test_unfitted_minimizer_refused_and_untouched():
    p = linear_params()
    mi = Minimizer(linear_residual, p)
    before = snapshot(mi, p)
    with pytest.raises(ValueError, match="fitted"):
        conf_interval(mi)
    assert snapshot(mi, p) == before
    with pytest.raises(ValueError):
        conf_interval2d(mi, "a", "b")  # no stderr for default limits
    assert snapshot(mi, p) == before
    with pytest.raises(ValueError, match="fitted"):
        conf_interval2d(mi, "a", "b", limits=((0, 1), (0, 1)))
    assert snapshot(mi, p) == before


def test_state_unchanged_after_a_call_with_failing_subfits():
    thr = {"b": math.inf}

    def residual(p):
        if p["b"].value > thr["b"]:
            raise RuntimeError("beyond the threshold")
        return quad_residual(p)

    p = quad_params()
    mi = minimize(residual, p)
    thr["b"] = p["b"].value + 1.0 * p["b"].stderr
    before = snapshot(mi, p)
    with pytest.warns(UserWarning):
        conf_interval(mi, p_names=["b"], sigmas=(0.674, 0.95))
    assert snapshot(mi, p) == before
    with pytest.warns(UserWarning):
        conf_interval2d(mi, "a", "b", 3, 4)
    assert snapshot(mi, p) == before


# ----------------------------------------------------------------------------
# Levels that cannot be reached
# ----------------------------------------------------------------------------

def _messages(record):
    return [str(w.message) for w in record if issubclass(w.category, UserWarning)]


def test_level_beyond_a_bound_is_infinite_with_a_warning():
    b_best, b_err = LIN_BETA[1], math.sqrt(LIN_CHI0 / (LIN_N - LIN_P) * LIN_C[1, 1])
    bound = b_best + 1.5 * b_err  # 0.674 (about 1 stderr) reachable, 0.95 and 0.997 not
    p = linear_params(b={"max": bound})
    mi = minimize(linear_residual, p)
    with pytest.warns(UserWarning) as record:
        ci = conf_interval(mi, p_names=["b"], sigmas=(0.674, 0.95, 0.997))
    messages = _messages(record)
    assert len(messages) == 2
    for level, msg in zip(("0.95", "0.997"), messages):
        assert "'b'" in msg and level in msg and "upper" in msg
    row = ci["b"]
    assert [pr for pr, _ in row] == [0.997, 0.95, 0.674, 0.0, 0.674, 0.95, 0.997]
    assert limit(row, 0.95, +1) == math.inf and limit(row, 0.997, +1) == math.inf
    for s in (0.674, 0.95, 0.997):  # the other side is untouched by the bound
        assert limit(row, s, -1) == pytest.approx(LIN_BETA[1] - half_width(1, s), rel=1e-6)
    assert limit(row, 0.674, +1) == pytest.approx(LIN_BETA[1] + half_width(1, 0.674), rel=1e-6)


def test_lower_bound_unreachable_level():
    a_best, a_err = LIN_BETA[0], math.sqrt(LIN_CHI0 / (LIN_N - LIN_P) * LIN_C[0, 0])
    # even 0.674 lies beyond the bound
    p = linear_params(a={"min": a_best - 0.5 * a_err, "value": a_best + a_err})
    mi = minimize(linear_residual, p)
    with pytest.warns(UserWarning, match=r"'a'.*0\.674.*lower") as record:
        ci = conf_interval(mi, p_names=["a"], sigmas=(0.674,))
    assert len(_messages(record)) == 1
    assert ci["a"][0] == (0.674, -math.inf)
    assert ci["a"][2][1] == pytest.approx(LIN_BETA[0] + half_width(0, 0.674), rel=1e-6)


def test_maxiter_one_is_infinite_with_a_warning(linear):
    mi, _ = linear
    with pytest.warns(UserWarning) as record:
        ci = conf_interval(mi, sigmas=(0.674, 0.95, 0.997), maxiter=1)
    messages = _messages(record)
    assert messages
    for name in "ab":
        row = ci[name]
        assert len(row) == 7 and row[3][0] == 0.0
        # the highest level cannot be reached in one outward step
        assert limit(row, 0.997, -1) == -math.inf and limit(row, 0.997, +1) == math.inf
        for side in (-1, +1):
            assert any(f"'{name}'" in m and "0.997" in m and "maxiter" in m
                       and ("lower" if side < 0 else "upper") in m for m in messages)
        k = "ab".index(name)
        for s in (0.674, 0.95):  # whatever was reached is right
            for side in (-1, +1):
                v = limit(row, s, side)
                if math.isfinite(v):
                    assert v == pytest.approx(LIN_BETA[k] + side * half_width(k, s), rel=1e-6)
                else:
                    assert v == side * math.inf
                    assert any(f"'{name}'" in m and str(s) in m for m in messages)
    assert len(messages) == sum(math.isinf(v) for row in ci.values() for _, v in row)


def _threshold_residual(kind, thr):
    def residual(p):
        if p["b"].value > thr["b"]:
            if kind == "raise":
                raise RuntimeError("model undefined here")
            return np.full(X_LIN.size, np.nan)
        return linear_residual(p)
    return residual


@pytest.mark.parametrize("kind", ["raise", "nan"])
def test_failing_subfits_do_not_abort_the_search(kind):
    thr = {"b": math.inf}
    p = linear_params()
    mi = minimize(_threshold_residual(kind, thr), p)
    thr["b"] = p["b"].value + 1.5 * p["b"].stderr
    with pytest.warns(UserWarning) as record:
        ci = conf_interval(mi, p_names=["b"], sigmas=(0.674, 0.95, 0.997))
    messages = _messages(record)
    assert len(messages) == 2 and all("'b'" in m and "upper" in m for m in messages)
    assert "0.95" in messages[0] and "0.997" in messages[1]
    row = ci["b"]
    assert limit(row, 0.95, +1) == math.inf and limit(row, 0.997, +1) == math.inf
    assert limit(row, 0.674, +1) == pytest.approx(LIN_BETA[1] + half_width(1, 0.674), rel=1e-6)
    for s in (0.674, 0.95, 0.997):
        assert limit(row, s, -1) == pytest.approx(LIN_BETA[1] - half_width(1, s), rel=1e-6)


@pytest.mark.parametrize("kind", ["raise", "nan"])
def test_failing_subfits_do_not_abort_the_grid(kind):
    """Quadratic model, grid over (a, b) with c free: cells with b beyond the threshold fail."""
    thr = {"b": math.inf}

    def residual(p):
        if p["b"].value > thr["b"]:
            if kind == "raise":
                raise RuntimeError("model undefined here")
            return np.full(X_LIN.size, np.nan)
        return p["a"].value + p["b"].value * X_LIN + p["c"].value * X_LIN ** 2 - Y_QUAD

    p = Parameters()
    p.add_many(("a", 0.0), ("b", -1.0), ("c", 0.0))
    mi = minimize(residual, p)
    thr["b"] = p["b"].value + 1.0 * p["b"].stderr
    with pytest.warns(UserWarning) as record:
        x, y, grid = conf_interval2d(mi, "a", "b", 4, 6)
    bad_rows = y > thr["b"]
    n_bad = int(bad_rows.sum()) * 4
    assert 0 < n_bad < 24
    messages = _messages(record)
    assert any(f"{n_bad} of 24" in m for m in messages), messages
    assert np.all(np.isnan(grid[bad_rows])) and np.all(np.isfinite(grid[~bad_rows]))
    assert np.all((grid[~bad_rows] >= 0) & (grid[~bad_rows] <= 1))


# ----------------------------------------------------------------------------
# A best fit that is not a minimum
# ----------------------------------------------------------------------------

def test_fit_stopped_early_warns_not_a_minimum():
    mi = minimize(manual_residual, manual_params(), maxfev=20)
    full = minimize(manual_residual, manual_params())
    assert mi.chisqr > full.chisqr * (1 + 1e-6)  # the premise: stopped short of the minimum
    with pytest.warns(UserWarning, match="not a minimum"):
        conf_interval(mi, p_names=["a2"], sigmas=(0.68,))


def test_grid_on_fit_stopped_early_warns_not_a_minimum():
    mi = minimize(manual_residual, manual_params(), maxfev=20)
    full = minimize(manual_residual, manual_params())
    limits = [(full.params[n].value - 0.2 * full.params[n].stderr,
               full.params[n].value + 0.2 * full.params[n].stderr) for n in ("a1", "t2")]
    with pytest.warns(UserWarning, match="not a minimum"):
        conf_interval2d(mi, "a1", "t2", 3, 3, limits=limits)


def test_true_minimum_does_not_warn(linear):
    mi, _ = linear
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        conf_interval(mi, sigmas=(0.674, 0.95))
        conf_interval2d(minimize(quad_residual, quad_params()), "a", "c", 3, 3)


def test_moved_parameters_are_refused(linear):
    # Parameters moved after the fit no longer belong to its chi-square: the
    # intervals would be centred on the moved value. Refused, naming why, and
    # nothing is changed.
    mi, p = linear
    p["b"].value = p["b"].value + 3 * p["b"].stderr
    before = [(n, q.value, q.stderr, q.correl) for n, q in p.items()]
    with pytest.raises(ValueError, match="changed since the fit"):
        conf_interval(mi, sigmas=(0.674,))
    with pytest.raises(ValueError, match="changed since the fit"):
        conf_interval2d(mi, "a", "b", 3, 3)
    assert [(n, q.value, q.stderr, q.correl) for n, q in p.items()] == before


# ----------------------------------------------------------------------------
# Bounded and constrained parameters
# ----------------------------------------------------------------------------

def test_far_bounds_give_the_unbounded_limits(linear):
    mi_free, _ = linear
    p = linear_params(a={"min": -100.0, "max": 100.0}, b={"min": -50.0})
    mi = minimize(linear_residual, p)
    free = conf_interval(mi_free, sigmas=SIGMAS)
    bounded = conf_interval(mi, sigmas=SIGMAS)
    for k, name in enumerate("ab"):
        row = bounded[name]
        np.testing.assert_allclose([v for _, v in row], [v for _, v in free[name]], rtol=1e-5)
        for s in SIGMAS:
            for side in (-1, +1):
                assert limit(row, s, side) == pytest.approx(LIN_BETA[k] + side * half_width(k, s),
                                                            rel=1e-5)


def test_constrained_parameter_present():
    """y = a + b x + c x^2 with c = b/10: still linear in (a, b), design [1, x + x^2/10]."""
    design = np.column_stack([np.ones_like(X_LIN), X_LIN + X_LIN ** 2 / 10])
    y = design @ [0.3, 0.4] + np.random.default_rng(5).normal(0, 0.5, X_LIN.size)
    beta, chi0, C = closed_form(design, y)

    def residual(p):
        return p["a"].value + p["b"].value * X_LIN + p["c"].value * X_LIN ** 2 - y

    p = Parameters()
    p.add("a", value=1.0)
    p.add("b", value=1.0)
    p.add("c", expr="b/10")
    mi = minimize(residual, p)
    ci, trace = conf_interval(mi, sigmas=(0.674, 0.95), trace=True)
    assert list(ci) == ["a", "b"]
    for k, name in enumerate("ab"):
        for s in (0.674, 0.95):
            for side in (-1, +1):
                want = beta[k] + side * half_width(k, s, C=C, chi0=chi0)
                assert limit(ci[name], s, side) == pytest.approx(want, rel=1e-6)
        t = trace[name]
        assert set(t) == {"a", "b", "c", "prob"}
        np.testing.assert_allclose(t["c"], t["b"] / 10, rtol=1e-12)
    assert p["c"].expr == "b/10" and p["c"].value == pytest.approx(p["b"].value / 10, rel=1e-12)


# ----------------------------------------------------------------------------
# conf_interval2d
# ----------------------------------------------------------------------------

def _scipy_manual_chi(fixed):
    """Chi-square of the manual model with a1, t2 fixed, the others refitted by SciPy."""
    a1, t2 = fixed

    def r(q):
        return manual_model(a1, q[0], q[1], t2)

    q, *_ = optimize.leastsq(r, [-4.51293, 1.56948], xtol=1e-12, ftol=1e-12, full_output=True)
    return float(np.sum(r(q) ** 2))


def test_grid_shape_and_cells_against_scipy(manual):
    mi = manual[0]
    full, *_ = optimize.leastsq(lambda q: manual_model(*q), [2.6, -4.5, 1.57, 10.96],
                                xtol=1e-12, ftol=1e-12, full_output=True)
    chi0 = float(np.sum(manual_model(*full) ** 2))
    a1, t2 = mi.params["a1"], mi.params["t2"]
    limits = ((a1.value - 3 * a1.stderr, a1.value + 3 * a1.stderr),
              (t2.value - 3 * t2.stderr, t2.value + 3 * t2.stderr))
    x, y, grid = conf_interval2d(mi, "a1", "t2", nx=4, ny=3, limits=limits)
    assert x.shape == (4,) and y.shape == (3,) and grid.shape == (3, 4)
    np.testing.assert_allclose(x, np.linspace(*limits[0], 4), rtol=1e-12)
    np.testing.assert_allclose(y, np.linspace(*limits[1], 3), rtol=1e-12)
    for j, i in [(0, 0), (0, 3), (1, 1), (2, 2), (2, 0), (1, 3)]:
        chi = _scipy_manual_chi((x[i], y[j]))
        want = stats.f.cdf((chi / chi0 - 1) * (100 - 4) / 2, 2, 100 - 4)
        assert grid[j, i] == pytest.approx(want, abs=1e-4), (j, i)


def test_grid_default_limits_and_clipping():
    p = quad_params()  # a has min=-50, b has max=50: far away
    mi = minimize(quad_residual, p)
    x, y, grid = conf_interval2d(mi, "a", "c", nx=5, ny=2)
    a, c = p["a"], p["c"]
    np.testing.assert_allclose(x, np.linspace(a.value - 5 * a.stderr, a.value + 5 * a.stderr, 5),
                               rtol=1e-12)
    np.testing.assert_allclose(y, np.linspace(c.value - 5 * c.stderr, c.value + 5 * c.stderr, 2),
                               rtol=1e-12)
    assert grid.shape == (2, 5)

    # now a bound within 5 stderr on each side
    a_best, a_err, c_best, c_err = a.value, a.stderr, c.value, c.stderr
    p = quad_params()
    p["a"].set(value=a_best - a_err, min=a_best - 2 * a_err)
    p["c"].set(value=c_best + 0.5 * c_err, max=c_best + 1 * c_err)
    mi = minimize(quad_residual, p)
    a, c = p["a"], p["c"]
    x, y, grid = conf_interval2d(mi, "a", "c", nx=3, ny=4)
    assert x[0] == a.min and x[-1] == pytest.approx(a.value + 5 * a.stderr, rel=1e-12)
    assert y[-1] == c.max and y[0] == pytest.approx(c.value - 5 * c.stderr, rel=1e-12)
    assert grid.shape == (4, 3) and np.all(np.isfinite(grid))

    # given limits are clipped to the bounds too
    limits = ((a.min - 10, a.value), (c.value, c.max + 1))
    x, y, _ = conf_interval2d(mi, "a", "c", nx=3, ny=3, limits=limits)
    assert x[0] == a.min and y[-1] == c.max


def test_grid_limits_in_either_order():
    p = quad_params()
    mi = minimize(quad_residual, p)
    lx, ly = (p["a"].value - 0.5, p["a"].value + 0.4), (p["b"].value - 0.1, p["b"].value + 0.2)
    x1, y1, g1 = conf_interval2d(mi, "a", "b", 3, 4, limits=(lx, ly))
    x2, y2, g2 = conf_interval2d(mi, "a", "b", 3, 4, limits=(lx[::-1], ly[::-1]))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(g1, g2, atol=1e-9)
    assert np.all(np.diff(x1) > 0) and np.all(np.diff(y1) > 0)


def test_grid_closed_form_on_the_quadratic():
    """With c free, the grid probability over (a, b) has a closed form: F(2, N-P)."""
    design = np.column_stack([np.ones_like(X_LIN), X_LIN, X_LIN ** 2])
    beta, chi0, C = closed_form(design, Y_QUAD)

    def residual(p):
        return p["a"].value + p["b"].value * X_LIN + p["c"].value * X_LIN ** 2 - Y_QUAD

    p = Parameters()
    p.add_many(("a", 0.0), ("b", -1.0), ("c", 0.0))
    mi = minimize(residual, p)
    x, y, grid = conf_interval2d(mi, "a", "b", nx=5, ny=3)
    inv = np.linalg.inv(C[:2, :2])
    for j in range(3):
        for i in range(5):
            d = np.array([x[i] - beta[0], y[j] - beta[1]])
            chi = chi0 + d @ inv @ d
            want = stats.f.cdf((chi / chi0 - 1) * (30 - 3) / 2, 2, 30 - 3)
            assert grid[j, i] == pytest.approx(want, abs=1e-5), (j, i)


def test_manual_30x30_default_grid_completes(manual):
    mi = manual[0]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        x, y, grid = conf_interval2d(mi, "a1", "t2", 30, 30)
    assert not _messages(record)
    assert x.shape == (30,) and y.shape == (30,) and grid.shape == (30, 30)
    assert not np.any(np.isnan(grid))
    assert np.all((grid >= 0) & (grid <= 1))
    assert grid.min() < 0.1 and grid.max() > 0.99
    a1, t2 = mi.params["a1"], mi.params["t2"]
    assert x[0] == pytest.approx(a1.value - 5 * a1.stderr, rel=1e-12)
    assert y[-1] == pytest.approx(t2.value + 5 * t2.stderr, rel=1e-12)


def test_grid_of_a_two_parameter_model(linear):
    mi, _ = linear
    x, y, grid = conf_interval2d(mi, "a", "b", nx=3, ny=2)
    inv = np.linalg.inv(LIN_C)
    for j in range(2):
        for i in range(3):
            d = np.array([x[i] - LIN_BETA[0], y[j] - LIN_BETA[1]])
            chi = LIN_CHI0 + d @ inv @ d
            want = stats.f.cdf((chi / LIN_CHI0 - 1) * (LIN_N - LIN_P) / 2, 2, LIN_N - LIN_P)
            assert grid[j, i] == pytest.approx(want, abs=1e-6)


def test_one_parameter_model():
    def residual(p):
        return p["b"].value * X_LIN - Y_LIN

    p = Parameters()
    p.add("b", value=0.1)
    mi = minimize(residual, p)
    design = X_LIN[:, None]
    beta, chi0, C = closed_form(design, Y_LIN)
    ci = conf_interval(mi, sigmas=(0.68,))
    h = half_width(0, 0.68, C=C, chi0=chi0, p=1)
    assert limit(ci["b"], 0.68, -1) == pytest.approx(beta[0] - h, rel=1e-6)
    assert limit(ci["b"], 0.68, +1) == pytest.approx(beta[0] + h, rel=1e-6)


# ----------------------------------------------------------------------------
# report_ci
# ----------------------------------------------------------------------------

HAND_CI = {
    "a": [(0.95, 1.23456), (0.674, 1.5), (0.0, 2.0), (0.674, 2.5), (0.95, 2.87654)],
    "tau": [(0.95, -3.25), (0.674, -1.125), (0.0, 0.0), (0.674, 1.125), (0.95, 9.999999)],
    "c": [(0.997, -math.inf), (0.0, 0.5), (0.997, math.inf)],
    "d": [(0.95, -0.000004), (0.674, 0.000006), (0.0, 0.1), (0.674, 0.2), (0.95, 0.3)],
}


def test_format_ci_matches_stored_text():
    assert format_ci(HAND_CI) + "\n" == (EXPECTED / "ci_report.txt").read_text()


def test_report_ci_prints_format_ci(capsys, manual):
    report_ci(HAND_CI)
    assert capsys.readouterr().out == format_ci(HAND_CI) + "\n"
    ci = manual[1]
    lmfit.printfuncs.report_ci(ci)
    out = capsys.readouterr().out
    assert out == format_ci(ci) + "\n"
    lines = out.splitlines()
    assert len(lines) == 5  # one header: the probabilities never change
    assert lines[0] == "   " + "   95.00%   68.00%    0.00%   68.00%   95.00%"
    for line, name in zip(lines[1:], ci):
        assert line.startswith(f"{name:>3}") and len(line) == 3 + 5 * 9


def test_grid_with_a_constraint_and_nothing_left_to_fit():
    # a, b fixed on the grid and half_b = b/2 computed: no free parameter is
    # left, yet every cell has a probability, the closed form F(2, N - P) of
    # the linear model (the constraint adds no variable).
    p = linear_params()
    p.add("half_b", expr="b / 2")
    mi = minimize(linear_residual, p)
    x, y, grid = conf_interval2d(mi, "a", "b", 3, 3)
    for j, b in enumerate(y):
        for i, a in enumerate(x):
            chi = float(np.sum((a + b * X_LIN - Y_LIN) ** 2))
            expected = stats.f.cdf((chi / LIN_CHI0 - 1) * (LIN_N - LIN_P) / 2, 2, LIN_N - LIN_P)
            assert grid[j, i] == pytest.approx(expected, abs=1e-9)


def test_single_point_axis_sits_on_the_best_value():
    mi = minimize(linear_residual, linear_params())
    x, y, grid = conf_interval2d(mi, "a", "b", 1, 4)
    assert x.tolist() == [mi.params["a"].value] and y.size == 4 and grid.shape == (4, 1)
    with pytest.raises(ValueError, match="outside its bounds"):
        bounded = linear_params(a={"min": -5.0, "max": 5.0})
        conf_interval2d(minimize(linear_residual, bounded), "a", "b", 3, 3,
                        limits=((6.0, 8.0), (0.0, 1.0)))
