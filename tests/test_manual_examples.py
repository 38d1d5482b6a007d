"""Every example of the manual's chapters 2 and 3, and 4.2's basic fit.

Written as the manual writes them, in Python 3 syntax, with ``lmfit_ref``
in place of ``lmfit``, on seeded data (the manual has no data). What each
section claims is checked against something independent: the known true
values of the simulated data, scipy.optimize.leastsq / curve_fit called
directly (as the manual's own chapter 2 opening does), or the manual's
printed numbers with a stated tolerance.
"""
import re

import numpy as np
import pytest
from numpy import exp, pi, sign, sin
from scipy.optimize import curve_fit, leastsq

import lmfit_ref as lmfit
from lmfit_ref import Minimizer, Parameter, Parameters, minimize

# Data for chapter 2: a decaying sine with noise (seeded).
TRUE = dict(amp=10.5, phase=0.22, frequency=2.98, decay=0.007)
x = np.linspace(0.0, 15.0, 301)
data = (TRUE["amp"] * sin(x * TRUE["frequency"] + TRUE["phase"]) * exp(-x * x * TRUE["decay"])
        + 0.1 * np.random.default_rng(2012).standard_normal(x.size))


def within(par, truth, nsigma=5.0):
    """The fitted value is within nsigma error bars of the truth."""
    return abs(par.value - truth) <= nsigma * par.stderr


# -- chapter 2 opening: the traditional scipy way (the reference) -----------------------
def traditional():
    def residual(vars, x, data):
        amp = vars[0]
        phaseshift = vars[1]
        freq = vars[2]
        decay = vars[3]

        model = amp * sin(x * freq + phaseshift) * exp(-x*x*decay)

        return (data-model)

    vars = [10.0, 0.2, 3.0, 0.007]
    out = leastsq(residual, vars, args=(x, data), xtol=1e-7, ftol=1e-7, maxfev=5000)
    return out[0]


# -- 2.1 --------------------------------------------------------------------------------------
def residual_2_1(params, x, data):
    amp = params['amp'].value
    pshift = params['phase'].value
    freq = params['frequency'].value
    decay = params['decay'].value

    model = amp * sin(x * freq + pshift) * exp(-x*x*decay)

    return (data-model)


def test_2_1_first_definition():
    params = Parameters()
    params.add('amp', value=10)
    params.add('decay', value=0.007)
    params.add('phase', value=0.2)
    params.add('frequency', value=3.0)

    out = minimize(residual_2_1, params, args=(x, data))

    assert out.success and out.errorbars
    ref = traditional()
    for i, name in enumerate(['amp', 'phase', 'frequency', 'decay']):
        assert params[name].value == pytest.approx(ref[i], rel=1e-6)
        assert within(params[name], TRUE[name])


def test_2_1_second_definition_and_later_changes():
    params = Parameters()
    params.add('amp', value=10, vary=False)
    params.add('decay', value=0.007, min=0.0)
    params.add('phase', value=0.2)
    params.add('frequency', value=3.0, max=10)

    # "the fit will not vary the amplitude parameter"
    out = minimize(residual_2_1, params, args=(x, data))
    assert out.success and out.nvarys == 3
    assert params['amp'].value == 10.0 and params['amp'].stderr == 0.0
    assert params['decay'].value >= 0.0 and params['frequency'].value <= 10

    params['amp'].vary = True
    params['decay'].max = 0.10

    assert params['amp'].vary is True
    assert (params['decay'].min, params['decay'].max) == (0.0, 0.10)
    assert (params['frequency'].min, params['frequency'].max) == (None, 10.0)
    out = minimize(residual_2_1, params, args=(x, data))
    assert out.success and out.errorbars and out.nvarys == 4
    # Bounds not active at the optimum: same answer as the unbounded scipy fit.
    ref = traditional()
    for i, name in enumerate(['amp', 'phase', 'frequency', 'decay']):
        assert params[name].value == pytest.approx(ref[i], rel=1e-5)
        assert within(params[name], TRUE[name])


# -- 2.2 / 2.3 ----------------------------------------------------------------------------------
def test_2_2_parameter_class_signature():
    par = Parameter(value=None, vary=True, min=None, max=None, name=None, expr=None)
    assert (par.value, par.vary, par.min, par.max, par.name, par.expr) == (None, True, None, None, None, None)
    assert par.stderr is None and par.correl is None


def test_2_3_add():
    p = Parameters()
    p.add('myvar', value=1, vary=True)
    assert isinstance(p, dict) and list(p) == ['myvar']
    assert p['myvar'].value == 1 and p['myvar'].vary is True and p['myvar'].name == 'myvar'


def test_2_3_add_many_table():
    p = Parameters()
    #      (Name,   Value,   Vary,   Min,   Max,   Expr)
    p.add_many(('amp1',    10,   True, None, None, None),
               ('cen1',    1.2,   True,  0.5,  2.0, None),
               ('wid1',    0.8,   True,  0.1, None, None),
               ('amp2',    7.5,   True, None, None, None),
               ('cen2',    1.9,   True,  1.0,  3.0, None),
               ('wid2',   None, False, None, None, '2*wid1/3'))

    table = [('amp1', 10, True, None, None, None),
             ('cen1', 1.2, True, 0.5, 2.0, None),
             ('wid1', 0.8, True, 0.1, None, None),
             ('amp2', 7.5, True, None, None, None),
             ('cen2', 1.9, True, 1.0, 3.0, None),
             ('wid2', None, False, None, None, '2*wid1/3')]
    assert list(p) == [row[0] for row in table]
    for name, value, vary, lo, hi, expr in table:
        par = p[name]
        assert (par.name, par.value, par.vary, par.min, par.max, par.expr) == (name, value, vary, lo, hi, expr)


# -- 2.4 -----------------------------------------------------------------------------------------
def test_2_4_simple_example(capsys):
    def residual(params, x, data=None):
        amp = params['amp'].value
        shift = params['phase_shift'].value
        omega = params['omega'].value
        decay = params['decay'].value

        model = amp * sin(x * omega + shift) * exp(-x*x*decay)

        return (data-model)

    params = Parameters()
    params.add('amp', value=10)
    params.add('decay', value=0.007, vary=False)
    params.add('phase_shift', value=0.2)
    params.add('omega', value=3.0)

    result = minimize(residual, params, args=(x, data))

    print(result.chisqr)
    print('Best-Fit Values:')
    for name, par in params.items():
        print(' %s = %.4f +/- %.4f ' % (name, par.value, par.stderr))

    lines = capsys.readouterr().out.splitlines()
    # chisqr is the sum of squares of the residual at the printed values.
    r = residual(params, x, data)
    assert float(lines[0]) == pytest.approx(r @ r, rel=1e-9)
    assert lines[1] == 'Best-Fit Values:'
    assert lines[3] == ' decay = 0.0070 +/- 0.0000 '
    pattern = re.compile(r"^ (\w+) = (-?\d+\.\d{4}) \+/- (\d+\.\d{4}) $")
    names = [pattern.match(line).group(1) for line in lines[2:]]
    assert names == ['amp', 'decay', 'phase_shift', 'omega']
    # Against scipy directly with decay fixed at 0.007 (the truth).
    ref = leastsq(lambda v: data - v[0] * sin(x * v[2] + v[1]) * exp(-x * x * 0.007),
                  [10.0, 0.2, 3.0], xtol=1e-7, ftol=1e-7)[0]
    for value, name in zip(ref, ['amp', 'phase_shift', 'omega']):
        assert params[name].value == pytest.approx(value, rel=1e-6)
    truths = dict(amp=TRUE['amp'], phase_shift=TRUE['phase'], omega=TRUE['frequency'])
    for name, truth in truths.items():
        assert within(params[name], truth)


# -- 3.1 -------------------------------------------------------------------------------------------
def test_3_1_minimize_signature():
    params = Parameters()
    params.add('amp', value=10)
    params.add('decay', value=0.007)
    params.add('phase', value=0.2)
    params.add('frequency', value=3.0)
    out = minimize(residual_2_1, params, args=(x,), kws={'data': data}, engine='leastsq', xtol=1e-8)
    assert isinstance(out, Minimizer) and out.params is params
    for attr in ['nfev', 'success', 'errorbars', 'message', 'ier', 'lmdif_message',
                 'nvarys', 'ndata', 'nfree', 'residual', 'chisqr', 'redchi']:
        assert getattr(out, attr) is not None, attr
    assert out.ndata == x.size and out.nvarys == 4 and out.nfree == x.size - 4
    assert out.chisqr == pytest.approx(np.sum(out.residual**2), rel=1e-12)
    assert out.redchi == pytest.approx(out.chisqr / out.nfree, rel=1e-12)
    # The noise had sigma = 0.1, so redchi estimates 0.01.
    assert out.redchi == pytest.approx(0.01, rel=0.25)
    for name in params:
        assert set(params[name].correl) == set(params) - {name}


# -- 3.2 -------------------------------------------------------------------------------------------
TRUE_3 = dict(amp=14.0, period=2.05, shift=0.123, decay=0.1)
x3 = np.linspace(0.0, 10.0, 201)


def residual_3_2(pars, x, data=None):
    # unpack parameters:
    # extract .value attribute for each parameter
    amp = pars['amp'].value
    period = pars['period'].value
    shift = pars['shift'].value
    decay = pars['decay'].value

    if abs(shift) > pi/2:
        shift = shift - sign(shift)*pi

    if abs(period) < 1.e-10:
        period = sign(period)*1.e-10

    model = amp * sin(shift + x/period) * exp(-x*x*decay*decay)

    if data is None:
        return model
    return (model - data)


def data_3():
    truth = Parameters()
    for name, value in TRUE_3.items():
        truth.add(name, value=value)
    clean = residual_3_2(truth, x3)
    return clean + 0.2 * np.random.default_rng(32).standard_normal(x3.size)


def params_3():
    params = Parameters()
    params.add('amp', value=13.0)
    params.add('period', value=2)
    params.add('shift', value=0.0)
    params.add('decay', value=0.12)
    params['period'] = Parameter(value=2, min=1.e-10)
    return params


def test_3_2_writing_a_fitting_function():
    data3 = data_3()
    params = params_3()
    assert params['period'].name == 'period' and params['period'].min == 1.e-10
    assert list(params) == ['amp', 'period', 'shift', 'decay']
    # Without data the function returns the model.
    expected = 13.0 * np.sin(0.0 + x3 / 2.0) * np.exp(-x3 * x3 * 0.12 * 0.12)
    np.testing.assert_allclose(residual_3_2(params, x3), expected, rtol=1e-14)

    out = minimize(residual_3_2, params, args=(x3,), kws={'data': data3})
    assert out.success and out.errorbars
    assert params['period'].value > 0
    for name, truth in TRUE_3.items():
        assert within(params[name], truth), name
    # Against curve_fit on the same model (decay enters squared: compare |decay|).
    popt, pcov = curve_fit(lambda x, a, p, s, d: a * np.sin(s + x / p) * np.exp(-x * x * d * d),
                           x3, data3, p0=[13.0, 2.0, 0.0, 0.12])
    for i, name in enumerate(['amp', 'period', 'shift']):
        assert params[name].value == pytest.approx(popt[i], rel=1e-5)
        assert params[name].stderr == pytest.approx(np.sqrt(pcov[i, i]), rel=1e-3)
    assert abs(params['decay'].value) == pytest.approx(abs(popt[3]), rel=1e-5)


def test_3_2_period_guard():
    pars = params_3()
    pars['period'].value = 1e-10  # on the bound is allowed
    assert np.all(np.isfinite(residual_3_2(pars, x3)))
    with pytest.raises(ValueError, match="'period'"):
        pars['period'].value = 0.0  # below min=1.e-10


# -- 3.3 -------------------------------------------------------------------------------------------
def test_3_3_engine_keyword():
    params = params_3()
    out = minimize(residual_3_2, params, args=(x3,), kws={'data': data_3()}, engine='leastsq')
    assert out.success
    with pytest.raises(ValueError, match="leastsq"):
        minimize(residual_3_2, params_3(), args=(x3,), kws={'data': data_3()}, engine='no_such_engine')


# -- 3.5 -------------------------------------------------------------------------------------------
def test_3_5_minimizer_class():
    data3 = data_3()
    params = params_3()
    my_residual = residual_3_2

    myfit = Minimizer(my_residual, params, fcn_args=(x3,), fcn_kws={'data': data3})

    myfit.prepare_fit()
    init = my_residual(params, x3)   # the manual's "p_fit" is this params
    # (the manual plots init with pylab.plot(x, init, 'b--'); the test checks it)
    np.testing.assert_allclose(init, 13.0 * np.sin(x3 / 2.0) * np.exp(-x3 * x3 * 0.0144), rtol=1e-14)

    assert myfit.leastsq() is True
    assert myfit.params is params
    for name, truth in TRUE_3.items():
        assert within(params[name], truth), name
    assert myfit.nfev > 0 and myfit.ier in (1, 2, 3, 4)


def test_3_5_leastsq_keywords_and_defaults():
    data3 = data_3()
    myfit = Minimizer(residual_3_2, params_3(), fcn_args=(x3,), fcn_kws={'data': data3})
    assert myfit.leastsq(maxfev=3) is False
    assert myfit.ier == 5
    myfit = Minimizer(residual_3_2, params_3(), fcn_args=(x3,), fcn_kws={'data': data3}, maxfev=3)
    assert myfit.leastsq() is False  # Minimizer keywords act as leastsq defaults
    assert myfit.leastsq(maxfev=5000) is True


# -- 4.2, the basic example ---------------------------------------------------------------------------
def test_4_2_basic_example(capsys):
    x = np.linspace(0.3, 10, 100)
    y = 1/(0.1*x)+2+0.1*np.random.default_rng(42).standard_normal(x.size)
    p = lmfit.Parameters()
    p.add_many(('a', 0.1), ('b', 1))

    def residual(p):
        a = p['a'].value
        b = p['b'].value
        return 1/(a*x)+b-y

    mi = lmfit.minimize(residual, p)
    assert mi.leastsq() is True
    lmfit.printfuncs.report_errors(mi.params)

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[2] == "Correlations:"
    number = r"(-?\d+\.\d{5})"
    ma = re.fullmatch(r"  a: +" + number + r"\+/- " + r"(\d+\.\d{5}) \(initial= 0\.100000\)", lines[0])
    mb = re.fullmatch(r"  b: +" + number + r"\+/- " + r"(\d+\.\d{5}) \(initial= 1\.000000\)", lines[1])
    mc = re.fullmatch(r"  C\(a, b\) {32}= (-?\d\.\d{3})", lines[3])
    assert ma and mb and mc, lines
    a, sa = float(ma.group(1)), float(ma.group(2))
    b, sb = float(mb.group(1)), float(mb.group(2))
    c = float(mc.group(1))
    # The manual's data used unseeded randn: its numbers agree only within noise.
    assert abs(a - 0.1) < 0.005 and abs(a - 0.09992) < 4 * 0.00019
    assert 0.00019 / 2 < sa < 0.00019 * 2
    assert abs(b - 2.00189) < 4 * 0.01196
    assert 0.01196 / 2 < sb < 0.01196 * 2
    assert abs(c - 0.601) < 0.1
    # And exactly against curve_fit on the same data.
    popt, pcov = curve_fit(lambda x, a, b: 1/(a*x)+b, x, y, p0=[0.1, 1])
    assert p['a'].value == pytest.approx(popt[0], rel=1e-5)
    assert p['b'].value == pytest.approx(popt[1], rel=1e-5)
    assert p['a'].stderr == pytest.approx(np.sqrt(pcov[0, 0]), rel=1e-3)
    assert p['b'].stderr == pytest.approx(np.sqrt(pcov[1, 1]), rel=1e-3)
    assert p['a'].correl['b'] == pytest.approx(pcov[0, 1] / np.sqrt(pcov[0, 0] * pcov[1, 1]), abs=1e-3)
    assert (p['a'].init_value, p['b'].init_value) == (0.1, 1.0)


def test_4_3_advanced_example_fits(capsys):
    x = np.linspace(0.3, 10, 100)
    y = 3*np.exp(-x/2.)-5*np.exp(-x/10.)+0.2*np.random.default_rng(43).standard_normal(x.size)
    p = lmfit.Parameters()
    p.add_many(('a1', 5), ('a2', -5), ('t1', 2), ('t2', 5))

    def residual(p):
        a1, a2, t1, t2 = [i.value for i in p.values()]
        return a1*np.exp(-x/t1)+a2*np.exp(-x/t2)-y

    mi = lmfit.minimize(residual, p)
    assert mi.leastsq() is True
    lmfit.printfuncs.report_errors(mi.params, show_correl=False)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].strip() for line in lines] == ['a1', 'a2', 't1', 't2']
    popt, pcov = curve_fit(lambda x, a1, a2, t1, t2: a1*np.exp(-x/t1)+a2*np.exp(-x/t2), x, y,
                           p0=[5, -5, 2, 5], maxfev=10000)
    for i, name in enumerate(['a1', 'a2', 't1', 't2']):
        assert p[name].value == pytest.approx(popt[i], rel=1e-4)
        assert p[name].stderr == pytest.approx(np.sqrt(pcov[i, i]), rel=1e-2)
