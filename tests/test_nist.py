"""The NIST StRD problems: the loader, and the default fit against certified answers.

References: the certified values, standard deviations and residual sums of
squares in NIST's own files (lmfit_ref/data/nist_strd/*.dat), computed by
NIST in 128-bit arithmetic. Nothing here is compared with lmfit_ref's own
earlier output.

The accuracy test pins the floor reached when the polish was introduced
(book/nist.md): every one of the 54 cases meets NIST's customary bar (LRE
>= 6 on every value, >= 4 on every standard error). The closest cases then
measured were Lanczos3 from start 1 (value LRE 6.19, stderr LRE 6.21) and
Lanczos2 (RSS LRE 9.8). The value floor is the bar itself; the others sit
a little under what was measured (LRE moves by a few tenths between BLAS
builds). Floors may only be raised.
"""
import math
import re

import numpy as np
import pytest

import lmfit_ref
from lmfit_ref import nist

#: Pinned floors (see the module docstring).
FLOOR_VALUES = 6.0
FLOOR_STDERR = 5.5
FLOOR_RSS = 9.0

DATASETS = {name: nist.load(name) for name in nist.NAMES}

#: Models unchanged by exchanging two terms' parameters: MGH17's
#: b1 + b2*exp(-x*b4) + b3*exp(-x*b5) under (b2, b4) <-> (b3, b5). NIST
#: certifies one labelling; the other is the same minimum.
#: name -> (index to test the labelling by, the exchanged order)
SYMMETRIC = {"MGH17": (1, [0, 2, 1, 4, 3])}


# -- the loader -----------------------------------------------------------------------
def test_there_are_27_in_nists_three_levels():
    assert len(nist.NAMES) == 27 == len(set(nist.NAMES))
    levels = [ds.difficulty for ds in DATASETS.values()]
    # NIST rates 8 lower, 11 average and 8 higher difficulty.
    assert (levels.count("lower"), levels.count("average"), levels.count("higher")) == (8, 11, 8)


@pytest.mark.parametrize("name", nist.NAMES)
def test_loader_reads_the_file(name):
    ds = DATASETS[name]
    # The header's own statements about the file.
    header = re.search(r"(\d+) Parameters \(b1 (?:to|and) b(\d+)\)", ds.model_text)
    assert int(header.group(1)) == int(header.group(2)) == ds.nparams
    assert ds.names == tuple(f"b{i}" for i in range(1, ds.nparams + 1))
    assert all(len(s) == ds.nparams for s in ds.starts)
    assert len(ds.certified_stderr) == ds.nparams and (ds.certified_stderr > 0).all()
    n = ds.y.size
    assert ds.x.shape == ((2, n) if name == "Nelson" else (n,))
    assert ds.dof == n - ds.nparams
    # Residual standard deviation = sqrt(RSS / dof), both as printed by NIST.
    assert ds.residual_sd == pytest.approx(math.sqrt(ds.certified_rss / ds.dof), rel=1e-9)
    for start in (1, 2):
        params = ds.parameters(start)
        assert list(params) == list(ds.names)
        assert [p.value for p in params.values()] == list(ds.starts[start - 1])
        assert all(p.vary and p.min is None and p.max is None for p in params.values())


@pytest.mark.parametrize("name", nist.NAMES)
def test_certified_values_give_the_certified_rss(name):
    ds = DATASETS[name]
    params = ds.parameters(1)
    for par, value in zip(params.values(), ds.certified_values):
        par.value = float(value)
    r = ds.residual(params, *ds.args)
    assert r.shape == ds.y.shape
    rss = float(r @ r)
    assert rss == ds.rss(ds.certified_values)
    if name == "Lanczos1":
        # Certified RSS 1.4e-25, below float64 resolution: the 11-digit
        # certified values alone move y (~1) by ~1e-11, so the residual is
        # rounding noise of that size and no more.
        assert ds.certified_rss < 1e-24 and rss < ds.y.size * 1e-20
    else:
        # 11 certified digits in the values: the RSS agrees to ~1e-10.
        assert rss == pytest.approx(ds.certified_rss, rel=1e-9)


def test_bad_names_and_starts_are_refused():
    with pytest.raises(KeyError, match="MGH09"):
        nist.load("mgh09")
    with pytest.raises(ValueError, match="start must be 1 or 2"):
        DATASETS["Misra1a"].parameters(start=3)
    with pytest.raises(ValueError, match="start must be 1 or 2"):
        DATASETS["Misra1a"].parameters(start=True)


def test_lre():
    assert nist.lre(1.0, 1.0) == 11.0
    assert nist.lre(1.000001, 1.0) == pytest.approx(6.0, abs=1e-6)
    assert nist.lre(-2.0 * (1 + 1e-4), -2.0) == pytest.approx(4.0, abs=1e-6)
    assert nist.lre(None, 1.0) == nist.lre(math.nan, 1.0) == nist.lre(math.inf, 1.0) == 0.0
    assert nist.lre(3.0, 1.0) == 0.0  # off by more than the value itself


def test_rat43_misprint_is_corrected():
    # The file says 9 degrees of freedom; N - P = 11, and its residual
    # standard deviation is sqrt(RSS / 11) (checked above for every file).
    ds = DATASETS["Rat43"]
    assert ds.y.size == 15 and ds.nparams == 4 and ds.dof == 11
    assert "Degrees of Freedom:                                9" in _raw_text("Rat43")


def _raw_text(name):
    from importlib import resources
    return resources.files("lmfit_ref").joinpath("data", "nist_strd", f"{name}.dat").read_text()


# -- accuracy of the default fit -------------------------------------------------------
def fit_default(ds, start):
    params = ds.parameters(start)
    out = lmfit_ref.minimize(ds.residual, params, args=ds.args)
    values = [params[n].value for n in ds.names]
    stderr = [params[n].stderr for n in ds.names]
    if ds.name == "Lanczos1":
        # Its certified RSS is below float64 resolution, so the fit's
        # chi-square (rounding noise) sets a different redchi: compare the
        # stderr at NIST's scale, sqrt(certified RSS / chisqr).
        scale = math.sqrt(ds.certified_rss / out.chisqr)
        stderr = [s * scale for s in stderr]
    return out, values, stderr


CASES = [(name, start) for name in nist.NAMES for start in (1, 2)]


@pytest.mark.parametrize("name, start", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_default_fit_meets_the_certified_values(name, start):
    ds = DATASETS[name]
    out, values, stderr = fit_default(ds, start)
    assert out.success and out.errorbars, out.message
    if name in SYMMETRIC and values[SYMMETRIC[name][0]] != pytest.approx(
            ds.certified_values[SYMMETRIC[name][0]], rel=1e-3):
        # The same minimum with the two exponentials' labels exchanged.
        order = SYMMETRIC[name][1]
        values, stderr = [values[i] for i in order], [stderr[i] for i in order]
    lre_values = [nist.lre(v, c) for v, c in zip(values, ds.certified_values)]
    lre_stderr = [nist.lre(s, c) for s, c in zip(stderr, ds.certified_stderr)]
    assert min(lre_values) >= FLOOR_VALUES, dict(zip(ds.names, lre_values))
    assert min(lre_stderr) >= FLOOR_STDERR, dict(zip(ds.names, lre_stderr))
    if name != "Lanczos1":
        assert nist.lre(out.chisqr, ds.certified_rss) >= FLOOR_RSS
    assert out.nfev <= 1000 * (ds.nparams + 1)


def test_lmfit_05_settings_fall_short_somewhere():
    # The same 54 cases with lmfit 0.5's settings (MINPACK's factor=100, no
    # polish) do not all meet the bar: what the default's deviation buys.
    short = 0
    for name, start in CASES:
        ds = DATASETS[name]
        params = ds.parameters(start)
        try:
            lmfit_ref.minimize(ds.residual, params, args=ds.args, polish=False, factor=100)
        except lmfit_ref.FitError:
            short += 1
            continue
        worst = min(nist.lre(params[n].value, c) for n, c in zip(ds.names, ds.certified_values))
        short += worst < 6
    assert short >= 10


def test_residual_stays_quiet_where_the_model_overflows():
    # A far trial step (b2 = -400 in BoxBOD) overflows exp: the residual is
    # inf without a NumPy warning (pytest turns warnings into errors here).
    ds = DATASETS["BoxBOD"]
    params = ds.parameters(1)
    params["b2"].value = -400.0
    r = ds.residual(params, *ds.args)
    assert not np.isfinite(r).all()
