"""The Minimizer with the leastsq engine (manual 3.1, 3.5).

References: scipy.optimize.leastsq called directly on the same problem. A
fit's end point is compared with SciPy's in units of the standard errors
(the fit's Jacobian steps in the parameters' units, so its path differs
from raw MINPACK's, its minimum does not); "the exact solution" is SciPy's
with the analytic Jacobian and tolerances near eps; nfev is checked
against a count kept inside the user's function; NIST StRD certified
values where a problem is hard. The final stage (certify.py) is tested
here for what a user of the Minimizer sees: its verdict, its polish, its
share of maxfev. The fault contract: every misbehaving residual function
gives a clear exception, the caller's Parameters keep exactly their
state, and a following good fit works.
"""
import copy
import re

import numpy as np
import pytest
from scipy.optimize import leastsq

import lmfit_ref
import lmfit_ref.certify as certify
import lmfit_ref.polish as finishing
import lmfit_ref.engines.leastsq as engine_leastsq
from lmfit_ref import FitError, Minimizer, Parameter, Parameters, minimize

X = np.linspace(0.0, 10.0, 101)
TRUE = dict(A=3.0, tau=2.0, c=0.5)
Y = (TRUE["A"] * np.exp(-X / TRUE["tau"]) + TRUE["c"]
     + 0.02 * np.random.default_rng(1).standard_normal(X.size))


def residual(params, x, data):
    return params["A"].value * np.exp(-x / params["tau"].value) + params["c"].value - data


def residual_vector(v, x, data):
    # The same arithmetic on a plain vector, for scipy directly.
    return v[0] * np.exp(-x / v[1]) + v[2] - data


def jacobian(params, x, data):
    A, tau = params["A"].value, params["tau"].value
    e = np.exp(-x / tau)
    return np.column_stack([e, A * e * x / tau**2, np.ones_like(x)])


def make_params(A=1.0, tau=1.0, c=0.0, bounds=None):
    bounds = bounds or {}
    p = Parameters()
    p.add("A", value=A, **bounds.get("A", {}))
    p.add("tau", value=tau, **bounds.get("tau", {}))
    p.add("c", value=c, **bounds.get("c", {}))
    return p


def snapshot(params):
    """Every attribute of every parameter, deep-copied, in order."""
    return [(key, par.name, par.value, par.vary, par.min, par.max, par.expr,
             par.stderr, copy.deepcopy(par.correl), par.init_value)
            for key, par in params.items()]


def counting(fcn):
    calls = [0]

    def wrapped(*args, **kws):
        calls[0] += 1
        return fcn(*args, **kws)
    return wrapped, calls


#: lmfit 0.5's settings: MINPACK's own initial step bound and no polish.
#: The engine is then one MINPACK run from the same start with the same
#: tolerances as scipy.optimize.leastsq's; its forward-difference Jacobian
#: steps in the parameters' units (differences.py), not relative to |u|.
LMDIF = dict(factor=100, polish=False)


def analytic_solution():
    """The least-squares solution of (X, Y) by SciPy with the exact Jacobian and
    tolerances near eps, and the stderr from that Jacobian: an independent reference."""
    def jac_vector(v):
        e = np.exp(-X / v[1])
        return np.column_stack([e, v[0] * e * X / v[1] ** 2, np.ones_like(X)])
    v, ier = leastsq(lambda v: residual_vector(v, X, Y), [1.0, 1.0, 0.0], Dfun=jac_vector,
                     xtol=1e-15, ftol=1e-15, gtol=0.0)
    J = jac_vector(v)
    r = residual_vector(v, X, Y)
    cov = np.linalg.inv(J.T @ J) * (r @ r) / (X.size - 3)
    return v, np.sqrt(np.diag(cov))


# -- agreement with scipy.optimize.leastsq --------------------------------------------
def test_unpolished_fit_ends_at_scipy_leastsqs_minimum_and_counts_every_call():
    v, _, info, mesg, ier = leastsq(residual_vector, [1.0, 1.0, 0.0], args=(X, Y),
                                    full_output=True, xtol=1e-7, ftol=1e-7, maxfev=4000)
    assert ier in (1, 2, 3, 4)
    _, stderr = analytic_solution()
    fcn, calls = counting(residual)
    p = make_params()
    out = minimize(fcn, p, args=(X, Y), **LMDIF)
    assert out.success is True and out.ier in (1, 2, 3, 4)
    assert out.lmdif_message and out.lmdif_message in out.message
    # The same minimum: the end points within CERTIFY = 1e-3 standard errors
    # (closer than that, no statistic tells two points apart), and so the
    # same chi-square to ~(1e-3)**2 / nfree = 1e-8.
    values = np.array([p[n].value for n in ("A", "tau", "c")])
    assert np.all(np.abs(values - v) <= certify.CERTIFY * stderr), (values - v) / stderr
    assert out.chisqr == pytest.approx(float(info["fvec"] @ info["fvec"]), rel=1e-8)
    # Every call of the user's function is counted, the Jacobians' included.
    assert out.nfev == calls[0]
    np.testing.assert_array_equal(out.residual, residual(p, X, Y))
    assert out.ndata == X.size and out.nvarys == 3 and out.nfree == X.size - 3
    assert out.chisqr == pytest.approx(np.sum(out.residual ** 2), rel=1e-14)
    assert out.redchi == pytest.approx(out.chisqr / (X.size - 3), rel=1e-14)
    assert out.var_names == ["A", "tau", "c"]


# A problem whose MINPACK run, with factor=100, depends on the tolerances
# (checked below), so that agreement shows which tolerances were used.
Y2 = (3.0 * np.exp(-X / 2.0) - 2 * np.exp(-X / 7.0) + 0.5
      + 0.05 * np.random.default_rng(1).standard_normal(X.size))
START2 = [1.0, 1.0, -1.0, 5.0, 0.0]
NAMES2 = ["a1", "t1", "a2", "t2", "c"]


def residual2(p, x, data):
    v = [p[n].value for n in NAMES2]
    return v[0] * np.exp(-x / v[1]) + v[2] * np.exp(-x / v[3]) + v[4] - data


def residual2_vector(v, x, data):
    return v[0] * np.exp(-x / v[1]) + v[2] * np.exp(-x / v[3]) + v[4] - data


def params2():
    p = Parameters()
    for n, v in zip(NAMES2, START2):
        p.add(n, value=v)
    return p


def test_default_tolerances_are_the_manuals():
    def run(**kws):
        p = params2()
        out = minimize(residual2, p, args=(X, Y2), factor=100, polish=False, **kws)
        return out.nfev, [p[n].value for n in NAMES2]
    manual = run(xtol=1e-7, ftol=1e-7)
    scipy_defaults = run(xtol=1.49012e-8, ftol=1.49012e-8)
    assert manual != scipy_defaults, "test problem does not discriminate the tolerances"
    assert run() == manual


def test_default_fit_reaches_the_exact_solution():
    v, stderr = analytic_solution()
    p = make_params()
    out = minimize(residual, p, args=(X, Y))
    assert out.success and out.errorbars
    assert out.engine_info["certificate"] <= certify.CERTIFY
    # 1e-9: within about 1e-10 of the minimum the sum of squares changes by
    # less than its own rounding error, so no method pins the values closer.
    np.testing.assert_allclose([p[n].value for n in ("A", "tau", "c")], v, rtol=1e-9)
    # 1e-6: the error bars come from the Jacobian the certificate used, here
    # forward differences (relative error ~eps**0.5 = 1.5e-8, times the
    # condition number of J).
    np.testing.assert_allclose([p[n].stderr for n in ("A", "tau", "c")], stderr, rtol=1e-6)


@pytest.fixture
def spy(monkeypatch):
    """Record the keywords the engine passes to scipy.optimize.leastsq."""
    seen = []
    real = engine_leastsq._scipy_leastsq

    def recording(*args, **kws):
        seen.append(kws)
        return real(*args, **kws)
    monkeypatch.setattr(engine_leastsq, "_scipy_leastsq", recording)
    return seen


@pytest.mark.parametrize("nvar", [1, 2, 3])
def test_defaults_passed_to_scipy(spy, nvar):
    p = make_params()
    for name in list(p)[nvar:]:
        p[name].vary = False
    minimize(residual, p, args=(X, Y))
    engine = spy[0]  # (the engine's run; a polish, if any, comes after)
    assert engine["xtol"] == 1e-7 and engine["ftol"] == 1e-7 and engine["factor"] == 1.0
    assert engine["maxfev"] == 1000 * (nvar + 1)


def test_a_fit_stopped_early_is_polished_to_the_exact_solution(spy):
    # xtol = ftol = 1e-2 stop MINPACK farther than FINISH = 1e-5 standard
    # errors from the minimum (checked): the final stage polishes, with
    # MINPACK again at tolerances near eps, and reaches the exact solution.
    v, stderr = analytic_solution()
    first = minimize(residual, make_params(), args=(X, Y), xtol=1e-2, ftol=1e-2, polish=False)
    assert first.success and first.engine_info["certificate"] > certify.FINISH
    del spy[:]
    p = make_params()
    out = minimize(residual, p, args=(X, Y), xtol=1e-2, ftol=1e-2)
    engine, polish = spy
    assert engine["xtol"] == engine["ftol"] == 1e-2
    assert polish["xtol"] == polish["ftol"] == finishing.POLISH_TOL and polish["gtol"] == 0.0
    assert out.success and out.errorbars and "polished" in out.message
    np.testing.assert_allclose([p[n].value for n in ("A", "tau", "c")], v, rtol=1e-9)
    np.testing.assert_allclose([p[n].stderr for n in ("A", "tau", "c")], stderr, rtol=1e-6)


def test_keywords_passed_through(spy):
    p = make_params()
    minimize(residual, p, args=(X, Y), xtol=1e-3, ftol=1e-4, gtol=1e-5, factor=10, polish=False)
    assert len(spy) == 1
    assert {k: spy[-1][k] for k in ("xtol", "ftol", "gtol", "factor")} == dict(
        xtol=1e-3, ftol=1e-4, gtol=1e-5, factor=10)
    assert spy[-1]["maxfev"] == 4000
    mini = Minimizer(residual, make_params(), fcn_args=(X, Y), xtol=1e-2, polish=False)
    mini.leastsq(maxfev=77)
    assert spy[-1]["xtol"] == 1e-2 and spy[-1]["maxfev"] == 77
    mini.leastsq(xtol=1e-9)  # leastsq() keywords override the Minimizer's
    assert spy[-1]["xtol"] == 1e-9


@pytest.mark.parametrize("epsfcn", [None, 1e-10, 1e-4])
def test_epsfcn_sets_the_forward_difference_step(epsfcn):
    # The first Jacobian steps each parameter by sqrt(epsfcn) times its
    # magnitude, 1 for a parameter at 0 (differences.py; MINPACK's default
    # sqrt(eps) without epsfcn). The fit reaches the same minimum.
    seen = []

    def recording(params, x, data):
        seen.append([params[n].value for n in ("A", "tau", "c")])
        return residual(params, x, data)
    v, stderr = analytic_solution()
    p = make_params(A=2.0, tau=0.5, c=0.0)
    out = minimize(recording, p, args=(X, Y), **({} if epsfcn is None else dict(epsfcn=epsfcn)))
    rel = np.sqrt(np.finfo(float).eps if epsfcn is None else epsfcn)
    steps = np.array(seen[1:4]) - np.array(seen[0])
    np.testing.assert_allclose(steps, np.diag(rel * np.array([2.0, 0.5, 1.0])), rtol=1e-6, atol=0)
    assert out.success and out.nfev == len(seen)
    values = np.array([p[n].value for n in ("A", "tau", "c")])
    assert np.all(np.abs(values - v) <= certify.CERTIFY * stderr), (values - v) / stderr


def test_tiny_maxfev_fails_with_ier_5():
    fcn, calls = counting(residual)
    p = make_params()
    out = minimize(fcn, p, args=(X, Y), maxfev=10)
    assert out.ier == 5 and out.success is False and out.errorbars is False
    assert "maxfev = 10" in out.message and "Not certified" in out.message
    assert out.nfev == calls[0]
    assert p["A"].value != 1.0  # the best point so far is still written back
    np.testing.assert_array_equal(out.residual, residual(p, X, Y))


def test_looser_tolerance_stops_sooner():
    out_loose = minimize(residual2, params2(), args=(X, Y2), xtol=1e-2, ftol=1e-2, polish=False)
    out_tight = minimize(residual2, params2(), args=(X, Y2), polish=False)
    assert out_loose.nfev < out_tight.nfev


def test_unknown_engine_lists_leastsq():
    p = make_params()
    before = snapshot(p)
    with pytest.raises(ValueError, match="leastsq") as err:
        minimize(residual, p, args=(X, Y), engine="simplex")
    assert "simplex" in str(err.value)
    assert snapshot(p) == before


def test_unknown_leastsq_keyword_raises_type_error():
    p = make_params()
    before = snapshot(p)
    with pytest.raises(TypeError, match="tolerance"):
        minimize(residual, p, args=(X, Y), tolerance=1e-3)
    with pytest.raises(TypeError, match="bogus"):
        Minimizer(residual, p, fcn_args=(X, Y)).leastsq(bogus=1)
    assert snapshot(p) == before


def test_kws_reach_the_function():
    def res(params, x, data=None, scale=1.0):
        return scale * (params["A"].value * np.exp(-x / params["tau"].value) + params["c"].value - data)
    p = make_params()
    minimize(res, p, args=(X,), kws={"data": Y, "scale": 2.0})
    q = make_params()
    minimize(residual, q, args=(X, Y))
    for n in p:
        assert p[n].value == pytest.approx(q[n].value, rel=1e-6)
    m = Minimizer(res, make_params(), fcn_args=(X,), fcn_kws={"data": Y})
    assert m.leastsq() is True
    assert m.params["tau"].value == pytest.approx(q["tau"].value, rel=1e-6)


# -- analytic Jacobian ------------------------------------------------------------------
def test_dfun_agrees_with_finite_differences_and_scipy():
    p_fd = make_params()
    out_fd = minimize(residual, p_fd, args=(X, Y))
    p = make_params()
    out = minimize(residual, p, args=(X, Y), Dfun=jacobian)
    assert out.success
    v, stderr = analytic_solution()
    for n, value, s in zip(("A", "tau", "c"), v, stderr):
        # Two routes to one minimum agree to ~1e-10: near it the sum of squares
        # changes by less than its rounding error (test_default_fit_reaches_...).
        assert p[n].value == pytest.approx(value, rel=1e-9)
        assert p_fd[n].value == pytest.approx(value, rel=1e-9)
        # The error bars: from Dfun at the final point (exact), and from the
        # differences the certificate used (to 1e-6, as in that test).
        assert p[n].stderr == pytest.approx(s, rel=1e-8)
        assert p_fd[n].stderr == pytest.approx(s, rel=1e-6)

    def jac_vector(v, x, data):
        e = np.exp(-x / v[1])
        return np.column_stack([e, v[0] * e * x / v[1] ** 2, np.ones_like(x)])
    v = leastsq(residual_vector, [1.0, 1.0, 0.0], args=(X, Y), Dfun=jac_vector,
                xtol=1e-7, ftol=1e-7, maxfev=4000)[0]
    # With Dfun and no bounds the engine is SciPy's lmder itself, step by step.
    q = make_params()
    out_q = minimize(residual, q, args=(X, Y), Dfun=jacobian, **LMDIF)
    np.testing.assert_allclose([q[n].value for n in ("A", "tau", "c")], v, rtol=1e-12)
    assert out_fd.nfev > out.nfev and out_fd.nfev > out_q.nfev  # no differences with Dfun


@pytest.mark.parametrize("bounds", [
    dict(tau=dict(min=1.5, max=2.6)),
    dict(A=dict(min=2.9), tau=dict(max=2.1), c=dict(min=0.0, max=1.0)),
])
def test_dfun_chained_through_bounds(bounds):
    start = dict(A=3.5, tau=1.8, c=0.4)
    p_free = make_params(**start)
    minimize(residual, p_free, args=(X, Y))
    p_fd = make_params(**start, bounds=bounds)
    minimize(residual, p_fd, args=(X, Y))
    p = make_params(**start, bounds=bounds)
    out = minimize(residual, p, args=(X, Y), Dfun=jacobian)
    assert out.success and out.errorbars
    for n in p:
        # The optimum is inside the bounds: same as without them.
        assert p[n].value == pytest.approx(p_free[n].value, rel=1e-6)
        assert p[n].value == pytest.approx(p_fd[n].value, rel=1e-6)
        # The covariance sees the Jacobian: it must be dr/du = dr/dP * dP/du.
        assert p[n].stderr == pytest.approx(p_fd[n].stderr, rel=1e-3)
        assert p[n].stderr == pytest.approx(p_free[n].stderr, rel=1e-3)


def test_col_deriv():
    p_rows = make_params()
    minimize(residual, p_rows, args=(X, Y), Dfun=jacobian)
    p = make_params(tau=1.0, bounds=dict(tau=dict(min=0.5, max=5.0)))
    out = minimize(residual, p, args=(X, Y), Dfun=lambda *a: jacobian(*a).T, col_deriv=True)
    assert out.success
    for n in p:
        assert p[n].value == pytest.approx(p_rows[n].value, rel=1e-7)
        assert p[n].stderr == pytest.approx(p_rows[n].stderr, rel=1e-4)


def test_dfun_wrong_shape_is_fit_error():
    p = make_params()
    before = snapshot(p)
    with pytest.raises(FitError, match="shape"):
        minimize(residual, p, args=(X, Y), Dfun=lambda *a: jacobian(*a).T)
    assert snapshot(p) == before


# -- what the fit does to Parameters -----------------------------------------------------
def test_fixed_parameters_not_changed_and_params_updated_in_place():
    p = make_params(A=1.0, tau=1.0, c=0.5)
    p["c"].vary = False
    p["c"].min = 0.0
    fixed_before = snapshot(Parameters(c=p["c"]))
    out = minimize(residual, p, args=(X, Y))
    assert out.params is p
    assert isinstance(out, Minimizer)
    assert p["c"].value == 0.5 and p["c"].init_value == 0.5 and p["c"].stderr == 0.0
    assert (p["c"].vary, p["c"].min, p["c"].max, p["c"].expr) == (False, 0.0, None, None)
    assert fixed_before[0][2:7] == snapshot(Parameters(c=p["c"]))[0][2:7]
    assert out.var_names == ["A", "tau"] and out.nvarys == 2
    # The exact two-parameter solution, c fixed at 0.5: SciPy with the
    # analytic Jacobian and tolerances near eps (rtol 1e-9: see
    # test_default_fit_reaches_the_exact_solution).
    def jac_vector(v):
        e = np.exp(-X / v[1])
        return np.column_stack([e, v[0] * e * X / v[1] ** 2])
    v = leastsq(lambda v: v[0] * np.exp(-X / v[1]) + 0.5 - Y, [1.0, 1.0], Dfun=jac_vector,
                xtol=1e-15, ftol=1e-15, gtol=0.0)[0]
    assert [p["A"].value, p["tau"].value] == pytest.approx(list(v), rel=1e-9)
    assert p["A"].init_value == 1.0 and p["tau"].init_value == 1.0


def test_list_return_is_converted():
    def as_list(params, x, data):
        return list(residual(params, x, data))
    p, q = make_params(), make_params()
    out = minimize(as_list, p, args=(X, Y))
    minimize(residual, q, args=(X, Y))
    assert out.success and isinstance(out.residual, np.ndarray)
    for n in p:
        assert p[n].value == pytest.approx(q[n].value, rel=1e-12)


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1.0), (np.int64, 1e6)])
def test_other_real_dtypes_converted(dtype, scale):
    xi = np.arange(1.0, 11.0)

    def res(params):
        return np.rint(scale * (params["m"].value * xi - 2.0 * xi)).astype(dtype) if scale != 1.0 \
            else (params["m"].value * xi - 2.0 * xi).astype(dtype)
    p = Parameters()
    p.add("m", value=1.0)
    out = minimize(res, p, epsfcn=1e-4)  # steps of 1e-2: visible in float32 and integers
    assert out.residual.dtype == np.float64
    assert p["m"].value == pytest.approx(2.0, abs=1e-5)


def test_2d_residual_flattened():
    def as_2d(params, x, data):
        return residual(params, x, data)[:100].reshape(10, 10)
    p = make_params()
    out = minimize(as_2d, p, args=(X, Y))
    q = make_params()
    minimize(lambda params: residual(params, X, Y)[:100], q)
    assert out.ndata == 100 and out.residual.shape == (100,)
    for n in p:
        assert p[n].value == pytest.approx(q[n].value, rel=1e-12)


# -- refused set-ups -----------------------------------------------------------------------
def test_no_varying_parameter():
    p = make_params()
    for par in p.values():
        par.vary = False
    with pytest.raises(ValueError, match="vary"):
        minimize(residual, p, args=(X, Y))


def test_varying_parameter_without_value():
    p = make_params()
    p.add("e")
    with pytest.raises(ValueError, match="'e'"):
        minimize(lambda params: residual(params, X, Y), p)


def test_min_equal_max_while_varying():
    p = make_params()
    p["c"].set(value=0.5, min=0.5, max=0.5)
    with pytest.raises(ValueError, match="'c'"):
        minimize(residual, p, args=(X, Y))


@pytest.mark.parametrize("bound", [dict(min=1.0), dict(max=1.0),
                                   dict(min=1.0, max=3.0), dict(min=-1.0, max=1.0)])
def test_start_exactly_on_bound_is_refused(bound):
    # dP/du = 0 on the bound: MINPACK would see a zero Jacobian column and not
    # move at all (every parameter stays put), so the fit refuses to start.
    p = make_params(tau=1.0, bounds=dict(tau=bound))
    before = snapshot(p)
    with pytest.raises(ValueError, match="'tau' starts exactly on its bound"):
        minimize(residual, p, args=(X, Y))
    assert snapshot(p) == before


def test_not_a_parameters_object():
    with pytest.raises(TypeError, match="Parameters"):
        minimize(residual, {"A": Parameter(1.0)}, args=(X, Y))
    with pytest.raises(TypeError, match="callable"):
        minimize("residual", make_params())


def test_minimizer_without_arguments():
    fitter = Minimizer()  # the manual's 5.3
    assert fitter.params is None and fitter.userfcn is None
    with pytest.raises(ValueError, match="function"):
        fitter.leastsq()
    with pytest.raises(ValueError, match="function"):
        fitter.prepare_fit()
    fitter.userfcn = lambda params: residual(params, X, Y)
    with pytest.raises(ValueError, match="params"):
        fitter.leastsq()
    fitter.params = make_params()
    assert fitter.leastsq() is True
    assert fitter.params["tau"].value == pytest.approx(TRUE["tau"], rel=0.05)


def test_prepare_fit_does_not_evaluate():
    fcn, calls = counting(residual)
    p = make_params()
    m = Minimizer(fcn, p, fcn_args=(X, Y))
    m.prepare_fit()
    assert calls[0] == 0 and m.nvarys == 3 and m.var_names == ["A", "tau", "c"]
    assert p["A"].value == 1.0


# -- the fault contract ------------------------------------------------------------------------
GOOD_AT = 5  # evaluations that behave before the fault: the fault comes mid-fit


def faulty(kind):
    """A residual function that misbehaves from evaluation GOOD_AT + 1 on."""
    calls = [0]
    seen = {}

    def fcn(params, x, data):
        calls[0] += 1
        r = residual(params, x, data)
        if calls[0] <= GOOD_AT:
            return r
        seen.update({n: p.value for n, p in params.items()})
        if kind == "raises":
            raise ZeroDivisionError("boom in the model")
        if kind == "nan":
            r[7] = np.nan
            return r
        if kind == "inf":
            r[3] = np.inf
            return r
        if kind == "-inf":
            r[3] = -np.inf
            return r
        if kind == "length":
            return r[:-1]
        if kind == "none":
            return None
        if kind == "scalar":
            return float(np.sum(r**2))
        if kind == "complex":
            return r + 0j
        if kind == "string":
            return "residual"
        if kind == "ragged":
            return [1.0, [2.0, 3.0]]
        if kind == "object":
            return np.array([object()] * r.size)
        raise AssertionError(kind)
    return fcn, calls, seen


FAULTS = ["raises", "nan", "inf", "-inf", "length", "none", "scalar", "complex", "string",
          "ragged", "object"]


def used_params():
    """Parameters with a history: a previous fit's stderr/correl, new user values."""
    p = make_params(A=1.0, tau=1.0, c=0.0, bounds=dict(tau=dict(min=0.05, max=50.0), c=dict(max=5.0)))
    minimize(residual, p, args=(X, Y))
    assert p["A"].stderr is not None and p["A"].correl
    p["A"].value = 2.0
    p["tau"].value = 1.5
    p.add("fixed", value=7.0, vary=False, min=0.0)
    return p


def check_good_fit_after(p):
    out = minimize(residual, p, args=(X, Y))
    assert out.success and out.errorbars
    for n in TRUE:
        assert p[n].value == pytest.approx(TRUE[n], abs=5 * p[n].stderr)


@pytest.mark.parametrize("kind", FAULTS)
def test_fault_raises_fit_error_and_restores(kind):
    p = used_params()
    before = snapshot(p)
    fcn, calls, seen = faulty(kind)
    with pytest.raises(FitError) as err:
        minimize(fcn, p, args=(X, Y))
    msg = str(err.value)
    if kind in ("nan", "inf", "-inf"):
        # A non-finite residual at a trial step is rejected and a difference
        # step tried on the other side; the fit fails where neither helps,
        # at the last evaluation, whose values `seen` holds.
        assert f"evaluation {calls[0]}" in msg and calls[0] > GOOD_AT + 1
    else:
        assert f"evaluation {GOOD_AT + 1}" in msg
    for name, value in seen.items():
        assert f"{name}={value!r}" in msg
    assert seen["A"] != 2.0 or seen["tau"] != 1.5  # the fault really came mid-fit
    assert snapshot(p) == before
    if kind == "raises":
        assert isinstance(err.value.__cause__, ZeroDivisionError)
        assert "boom in the model" in msg
    check_good_fit_after(p)


def test_fault_with_minimizer_method_restores():
    p = used_params()
    before = snapshot(p)
    fcn, _, _ = faulty("nan")
    m = Minimizer(fcn, p, fcn_args=(X, Y))
    with pytest.raises(FitError, match="nan"):
        m.leastsq()
    assert snapshot(p) == before


def test_fault_at_first_evaluation():
    p = used_params()
    before = snapshot(p)
    with pytest.raises(FitError, match="evaluation 1"):
        minimize(lambda params, x, data: None, p, args=(X, Y))
    assert snapshot(p) == before


def test_dfun_raising_is_fit_error():
    p = used_params()
    before = snapshot(p)

    def bad_jacobian(params, x, data):
        raise ValueError("no derivative today")
    with pytest.raises(FitError, match="no derivative today") as err:
        minimize(residual, p, args=(X, Y), Dfun=bad_jacobian)
    assert isinstance(err.value.__cause__, ValueError)
    assert snapshot(p) == before
    check_good_fit_after(p)


def test_dfun_returning_nan_is_fit_error():
    p = used_params()
    before = snapshot(p)
    with pytest.raises(FitError):
        minimize(residual, p, args=(X, Y), Dfun=lambda *a: jacobian(*a) * np.nan)
    assert snapshot(p) == before


def test_fewer_residuals_than_variables():
    p = used_params()
    before = snapshot(p)
    with pytest.raises(FitError, match="fewer") as err:
        minimize(lambda params, x, data: residual(params, x, data)[:2], p, args=(X, Y))
    assert "3" in str(err.value)
    assert snapshot(p) == before
    check_good_fit_after(p)


def test_keyboard_interrupt_propagates_and_restores():
    p = used_params()
    before = snapshot(p)
    calls = [0]

    def interrupted(params, x, data):
        calls[0] += 1
        if calls[0] > GOOD_AT:
            raise KeyboardInterrupt
        return residual(params, x, data)
    with pytest.raises(KeyboardInterrupt):
        minimize(interrupted, p, args=(X, Y))
    assert calls[0] == GOOD_AT + 1
    assert snapshot(p) == before
    check_good_fit_after(p)


def test_many_faults_in_a_row_then_good_fit():
    p = used_params()
    before = snapshot(p)
    for kind in FAULTS:
        with pytest.raises(FitError):
            minimize(faulty(kind)[0], p, args=(X, Y))
    assert snapshot(p) == before
    check_good_fit_after(p)
    assert lmfit_ref.Parameters is Parameters


@pytest.mark.parametrize("kws, culprit", [
    (dict(maxfev="100"), "maxfev"), (dict(maxfev=0), "maxfev"), (dict(maxfev=2.5), "maxfev"),
    (dict(xtol=-1e-7), "xtol"), (dict(ftol="tight"), "ftol"), (dict(gtol=float("nan")), "gtol"),
    (dict(factor=True), "factor"),
])
def test_bad_engine_keyword_values_are_named(kws, culprit):
    p = make_params()
    before = snapshot(p)
    with pytest.raises(TypeError, match=culprit):
        minimize(residual, p, args=(X, Y), **kws)
    assert snapshot(p) == before


# -- the final stage and its budget ------------------------------------------------------
def mgh09():
    """NIST MGH09 from start 2: MINPACK stops where the polish still has work."""
    from lmfit_ref import nist
    ds = nist.load("MGH09")
    first = minimize(ds.residual, ds.parameters(2), args=ds.args, polish=False)
    assert first.success and first.engine_info["certificate"] > certify.FINISH
    return nist, ds, first


def worst_lre(nist, ds, params, what="value"):
    """The smallest LRE of the fitted values (or stderr) against NIST's certified ones."""
    certified = ds.certified_values if what == "value" else ds.certified_stderr
    return min(nist.lre(getattr(params[n], what), c) for n, c in zip(ds.names, certified))


def test_the_final_stage_stays_within_maxfev():
    # Given at least what the unpolished fit used, nfev never passes maxfev:
    # the final stage's Gauss-Newton step (1 evaluation) and its polish (a
    # Jacobian of 2n and a trial per step) are skipped or cut short.
    nist, ds, hard = mgh09()
    easy = minimize(residual, make_params(), args=(X, Y), polish=False)
    for name, fcn, params, args, first in (("exp", residual, make_params, (X, Y), easy),
                                           ("MGH09", ds.residual, lambda: ds.parameters(2),
                                            ds.args, hard)):
        for extra in (0, 1, 3, 14, 15, 25, 100, 4000):
            counted, calls = counting(fcn)
            out = minimize(counted, params(), args=args, maxfev=first.nfev + extra)
            assert out.nfev == calls[0] <= first.nfev + extra, (name, extra, out.message)
            # (the engine's own point is certified: skipping the polish is no failure)
            assert out.success and out.errorbars, (name, extra, out.message)
            assert out.chisqr <= first.chisqr, (name, extra)


def test_a_polish_cut_short_keeps_a_better_point_and_its_error_bars():
    # MGH09 from start 2: the polish needs ~200 evaluations; given 100, it
    # stops with a better point than the engine's and the error bars of its
    # last Jacobian, both checked against NIST's certified values.
    nist, ds, first = mgh09()
    p = ds.parameters(2)
    out = minimize(ds.residual, p, args=ds.args, maxfev=first.nfev + 100)
    assert out.nfev <= first.nfev + 100
    assert out.success and out.errorbars and "polished (stopped after" in out.message
    assert out.chisqr <= first.chisqr
    assert worst_lre(nist, ds, p) > worst_lre(nist, ds, first.params) + 1
    assert worst_lre(nist, ds, p, "stderr") >= 4


def test_the_polish_stops_after_polish_steps(monkeypatch):
    # Each trial step of the polish costs itself and a central-difference
    # Jacobian (2n): with POLISH_STEPS = 10 the polish of MGH09 (n = 4) is
    # cut short, says so, and costs at most 1 + 10 (2n + 1) evaluations.
    nist, ds, first = mgh09()
    steps = 10
    monkeypatch.setattr(finishing, "POLISH_STEPS", steps)
    p = ds.parameters(2)
    out = minimize(ds.residual, p, args=ds.args)
    assert f"polished (stopped after {steps} trial steps" in out.message
    assert first.nfev < out.nfev <= first.nfev + 1 + steps * (2 * 4 + 1)
    assert out.success and out.chisqr <= first.chisqr
    assert worst_lre(nist, ds, p) > worst_lre(nist, ds, first.params)


CERTIFICATE = re.compile(r"Not certified: not at a minimum: '(\w+)' is ([0-9.e+-]+) standard "
                         r"errors from a stationary point")


def test_a_fit_that_never_leaves_its_start_is_not_certified():
    # NIST MGH17 from start 1 with lmfit 0.5's settings: every trial step
    # overflows, the trust region shrinks to nothing and MINPACK's xtol test
    # fires at the start. MINPACK calls that convergence; the final stage
    # finds the start several standard errors from a stationary point and
    # says so, naming the parameter.
    from lmfit_ref import nist
    ds = nist.load("MGH17")
    p = ds.parameters(1)
    out = minimize(ds.residual, p, args=ds.args, polish=False, factor=100)
    assert out.ier in (1, 2, 3, 4)  # what MINPACK itself says
    assert out.success is False and out.errorbars is False
    found = CERTIFICATE.search(out.message)
    assert found and found.group(1) in ds.names and float(found.group(2)) > certify.CERTIFY
    assert [p[n].value for n in ds.names] == list(ds.starts[0])
    assert all(p[n].stderr is None for n in ds.names)
    assert out.engine_info["nonfinite"] > 0 and "non-finite" in out.message
    # The default's final stage, whose central differences step around the
    # overflow, does the fit: NIST's certified values to LRE 6.
    q = ds.parameters(1)
    out = minimize(ds.residual, q, args=ds.args)
    assert out.success and out.errorbars, out.message
    assert min(nist.lre(q[n].value, c) for n, c in zip(ds.names, ds.certified_values)) >= 6


def test_col_deriv_without_dfun_is_harmless():
    # col_deriv describes a user's Dfun; without one it changes nothing
    # (the polish's own differences come as rows = residuals).
    p, q = make_params(), make_params()
    out = minimize(residual, p, args=(X, Y), col_deriv=True)
    minimize(residual, q, args=(X, Y))
    assert out.success and all(p[n].value == q[n].value for n in p)


def test_a_fit_walled_in_by_nan_is_not_certified():
    # NaN for b > 1 and the minimum at b = 10: no step from b = 1 is finite,
    # neither the engine's nor the polish's. The fit stays at b = 1, which
    # is no stationary point, and says so, naming b.
    x = np.linspace(0.0, 1.0, 20)

    def res(p):
        b = p["b"].value
        return (b - 10.0) * x + (np.nan if b > 1.0 else 0.0)

    p = Parameters()
    p.add("b", value=1.0)
    out = minimize(res, p)
    assert out.success is False and out.errorbars is False and p["b"].stderr is None
    found = CERTIFICATE.search(out.message)
    assert found and found.group(1) == "b" and float(found.group(2)) > certify.CERTIFY
    assert p["b"].value == 1.0 and out.engine_info["nonfinite"] > 0


@pytest.mark.parametrize("start", [1e-13, 1e-11, 0.0])
def test_stderr_of_a_parameter_near_zero(start):
    # A straight line whose least-squares slope is ~1e-13: a difference step
    # relative to |b| alone would be below rounding. The exact stderr is the
    # closed form of linear regression.
    x = np.linspace(0.0, 1.0, 30)
    y = 1.0 + np.random.default_rng(5).normal(0.0, 0.01, x.size)
    y -= np.polyval(np.polyfit(x, y, 1), x) - (1.0 + 1e-13 * x)  # slope 1e-13, same scatter
    exact = np.sqrt((np.sum((y - 1.0 - 1e-13 * x) ** 2) / (x.size - 2))
                    / np.sum((x - x.mean()) ** 2))
    p = Parameters()
    p.add("a", value=1.0)
    p.add("b", value=start)
    out = minimize(lambda p: p["a"].value + p["b"].value * x - y, p)
    assert out.success and out.errorbars
    assert p["b"].stderr == pytest.approx(exact, rel=1e-6)


def test_a_fit_trapped_against_two_bounds_is_a_constrained_minimum():
    # A decaying sine from omega = 1: Levenberg-Marquardt ends with omega
    # and decay against their bounds, pushed there by the data: a local
    # minimum of the bounded problem (not the global one, near omega = 3.1).
    # SciPy's bounded trust-region method from the same start ends at the
    # same point. The fit is certified there; the two parameters on their
    # bounds get no error bars, and the message names them.
    from scipy.optimize import least_squares
    x = np.linspace(0.0, 10.0, 201)
    data = (12 * np.sin(3.1 * x + 0.25) * np.exp(-0.007 * x * x)
            + np.random.default_rng(0).normal(0.0, 0.5, x.size))
    names = ["amp", "omega", "shift", "decay"]
    start = [10.0, 1.0, 0.2, 0.02]
    lower, upper = [0, 0.5, -np.pi, 0], [20, 5, np.pi, 0.1]

    def model(v):
        return v[0] * np.sin(x * v[1] + v[2]) * np.exp(-x * x * v[3])

    p = Parameters()
    for name, v, a, b in zip(names, start, lower, upper):
        p.add(name, value=v, min=a, max=b)
    out = minimize(lambda p: data - model([p[n].value for n in names]), p)
    ref = least_squares(lambda v: data - model(v), start, bounds=(lower, upper),
                        method="trf", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    assert ref.status > 0 and ref.x[1] == pytest.approx(0.5) and ref.x[3] == pytest.approx(0.1)
    assert out.success is True and out.errorbars is False
    for name in ("omega", "decay"):
        assert f"'{name}' ended at its bound" in out.message and p[name].stderr is None
    # The free parameters within CERTIFY = 1e-3 standard errors of SciPy's;
    # chi-square above SciPy's by less than 1e-3 s**2 (no statistic tells
    # them apart): the map of a bound is flat there, and holds omega a hair
    # (~1e-4) inside it.
    for j in (0, 2):
        par = p[names[j]]
        assert abs(par.value - ref.x[j]) <= certify.CERTIFY * par.stderr, names[j]
    assert 0.5 < p["omega"].value < 0.5 + 1e-3 and 0.1 - 1e-9 < p["decay"].value < 0.1
    assert out.chisqr - 2 * ref.cost <= 1e-3 * out.chisqr / out.nfree


def _tanh_problem(c_true, seed=2):
    """A * tanh(k t) + c with k ~ 1e-4, and the analytic Jacobian in (A, k)."""
    t = np.linspace(0.0, 3e4, 50)
    y = 5.0 * np.tanh(1e-4 * t) + c_true + np.random.default_rng(seed).normal(0.0, 0.01, t.size)

    def jac(A, k):
        return np.column_stack([np.tanh(k * t), A * t / np.cosh(k * t) ** 2])
    return t, y, jac


def test_error_bars_beside_a_parameter_on_its_bound_are_exact():
    # c >= 0 ends on its fold (the data want c = -0.05); A and k keep error
    # bars with c held, which must match the analytic Jacobian's. (A floor
    # of 1 under every step once gave k, ~1e-4, a 6 % step: 0.3 % off.)
    t, y, jac = _tanh_problem(-0.05)
    p = Parameters()
    p.add("A", value=5.0)
    p.add("k", value=1e-4)
    p.add("c", value=0.1, min=0.0)
    out = minimize(lambda q: q["A"].value * np.tanh(q["k"].value * t) + q["c"].value - y, p)
    assert out.errorbars is False and p["c"].stderr is None
    J = jac(p["A"].value, p["k"].value)
    exact = np.sqrt(np.diag(np.linalg.inv(J.T @ J)) * out.chisqr / (t.size - 3))
    assert [p["A"].stderr, p["k"].stderr] == pytest.approx(exact, rel=1e-7)


def test_lbfgsb_error_bars_of_a_small_parameter_are_exact():
    # The Minimizer's own central differences (engines without a
    # covariance): k ~ 1e-4 must get a step relative to itself.
    t, y, jac = _tanh_problem(0.0)
    p = Parameters()
    p.add("A", value=5.0)
    p.add("k", value=1e-4)
    out = minimize(lambda q: q["A"].value * np.tanh(q["k"].value * t) - y, p, engine="lbfgsb")
    assert out.success and out.errorbars
    J = jac(p["A"].value, p["k"].value)
    exact = np.sqrt(np.diag(np.linalg.inv(J.T @ J)) * out.chisqr / (t.size - 2))
    assert [p["A"].stderr, p["k"].stderr] == pytest.approx(exact, rel=1e-7)
