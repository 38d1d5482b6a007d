"""Report text (manual 4.2, 4.3) against stored expected text in tests/expected/.

The Parameters are built by hand (value, stderr, correl, init_value set
directly), so every number in the expected files is ours, not a fit's.
"""
from pathlib import Path

import pytest

from lmfit_ref import Parameters, printfuncs

EXPECTED = Path(__file__).parent / "expected"

# The manual's 4.2 output, as printed there.
MANUAL_4_2 = [
    "  a:      0.09992+/- 0.00019 (initial= 0.100000)",
    "  b:      2.00189+/- 0.01196 (initial= 1.000000)",
    "Correlations:",
    "  C(a, b)                                = 0.601",
]


def expected(name):
    return (EXPECTED / name).read_text()


def fitted(par, value, stderr, correl=None):
    """Set what a fit would leave, without a fit."""
    par._value = value
    par.stderr = stderr
    par.correl = correl


def basic():
    p = Parameters()
    p.add_many(("a", 0.1), ("b", 1))
    fitted(p["a"], 0.09992, 0.00019, {"b": 0.601})
    fitted(p["b"], 2.00189, 0.01196, {"a": 0.601})
    return p


def manual_4_3():
    p = Parameters()
    p.add_many(("a1", 5), ("a2", -5), ("t1", 2), ("t2", 5))
    for name, v, s in [("a1", 2.61101, 0.32796), ("a2", -4.51293, 0.39919),
                       ("t1", 1.56948, 0.33450), ("t2", 10.96137, 1.26387)]:
        others = {o: 0.9 for o in ("a1", "a2", "t1", "t2") if o != name}
        fitted(p[name], v, s, others)
    return p


def mixed():
    p = Parameters()
    p.add("amp", value=10.0, min=0.0)
    p.add("center", value=1.2)
    p.add("sigma", value=-0.01, max=0.0)
    p.add("background", value=0.25, vary=False)
    p.add("ratio", value=-0.000243, expr="sigma/amp")
    p.add("tilt", value=100000.0)
    fitted(p["amp"], 12.345678, 0.4321, {"center": 0.25, "sigma": -0.8234})
    fitted(p["center"], 1.5, 0.001234, {"amp": 0.25, "sigma": 0.0999})
    fitted(p["sigma"], -0.0030001, 0.00012345, {"amp": -0.8234, "center": 0.0999})
    p["background"].stderr = 0.0
    fitted(p["tilt"], 123456.789, None, None)
    return p


def test_basic_matches_the_manual_and_the_stored_text():
    text = printfuncs.format_errors(basic())
    assert text.splitlines() == MANUAL_4_2
    assert text + "\n" == expected("report_basic.txt")


def test_report_errors_prints_format_errors(capsys):
    for params, kws in [(basic(), {}), (mixed(), {}), (mixed(), dict(min_correl=0.05)),
                        (basic(), dict(show_correl=False))]:
        printfuncs.report_errors(params, **kws)
        out = capsys.readouterr().out
        assert out == printfuncs.format_errors(params, **kws) + "\n"
    printfuncs.report_errors(basic())
    assert capsys.readouterr().out == expected("report_basic.txt")


def test_manual_4_3_layout():
    text = printfuncs.format_errors(manual_4_3(), show_correl=False)
    assert text + "\n" == expected("report_manual_4_3.txt")
    # The manual's own lines for a1 and a2 (its t1, t2 lines are garbled there).
    assert text.splitlines()[:2] == ["  a1:      2.61101+/- 0.32796 (initial= 5.000000)",
                                     "  a2:     -4.51293+/- 0.39919 (initial= -5.000000)"]


def test_show_correl_false():
    text = printfuncs.format_errors(basic(), show_correl=False)
    assert text + "\n" == expected("report_basic_no_correl.txt")
    assert "Correlations" not in text


def test_mixed_fixed_expr_unknown_stderr_sorted_correlations():
    text = printfuncs.format_errors(mixed())
    assert text + "\n" == expected("report_mixed.txt")


def test_min_correl_filters():
    full = expected("report_mixed.txt").splitlines()
    head, corr = full[:7], full[7:]
    # Default 0.1: |0.0999| is left out; 0.3 leaves only the largest.
    assert printfuncs.format_errors(mixed(), min_correl=0.3).splitlines() == head + corr[:1]
    low = printfuncs.format_errors(mixed(), min_correl=0.05).splitlines()
    assert low[:9] == head + corr
    assert len(low) == 10
    assert low[9].startswith("  C(center, sigma) ") and low[9].endswith("= 0.100")
    # Nothing passes: no Correlations header at all.
    assert printfuncs.format_errors(mixed(), min_correl=0.9).splitlines() == head[:6]


def test_correlations_sorted_by_magnitude():
    p = Parameters()
    names = ["p0", "p1", "p2", "p3"]
    for n in names:
        p.add(n, value=1.0)
    values = {("p0", "p1"): 0.2, ("p0", "p2"): -0.95, ("p0", "p3"): 0.5,
              ("p1", "p2"): -0.3, ("p1", "p3"): 0.7, ("p2", "p3"): 0.15}
    for n in names:
        correl = {}
        for (a, b), c in values.items():
            if n in (a, b):
                correl[b if n == a else a] = c
        fitted(p[n], 1.0, 0.1, correl)
    lines = printfuncs.format_errors(p).splitlines()
    assert lines[4] == "Correlations:"
    got = [(line.split("=")[0].strip(), float(line.split("=")[1])) for line in lines[5:]]
    want = sorted(((f"C({a}, {b})", c) for (a, b), c in values.items()), key=lambda t: -abs(t[1]))
    assert got == want
    assert len({line.index("=") for line in lines[5:]}) == 1  # aligned


def test_modelpars():
    truth = Parameters()
    truth.add("a", value=0.1)
    truth.add("b", value=2.0)
    text = printfuncs.format_errors(basic(), modelpars=truth)
    assert text + "\n" == expected("report_modelpars.txt")
    # A modelpars without a parameter leaves that line as usual.
    part = Parameters()
    part.add("b", value=2.0)
    lines = printfuncs.format_errors(basic(), modelpars=part).splitlines()
    assert lines[0] == MANUAL_4_2[0]
    assert lines[1] == expected("report_modelpars.txt").splitlines()[1]


def test_long_names_keep_columns_aligned():
    p = Parameters()
    p.add("x", value=1.0)
    p.add("a_rather_long_name", value=2.0)
    fitted(p["x"], 1.0, 0.5, {"a_rather_long_name": 0.5})
    fitted(p["a_rather_long_name"], 2.0, 0.5, {"x": 0.5})
    lines = printfuncs.format_errors(p).splitlines()
    assert lines[0].index("+/-") == lines[1].index("+/-")
    assert lines[3].startswith("  C(x, a_rather_long_name)") and lines[3].endswith("= 0.500")


def test_empty_parameters():
    assert printfuncs.format_errors(Parameters()) == ""


@pytest.mark.parametrize("value, text", [(None, "None"), (1e6, "1000000.00000"), (-1e-9, "-0.00000")])
def test_value_formats(value, text):
    p = Parameters()
    p.add("q", value=0.5, vary=False)
    p["q"]._value = value
    assert printfuncs.format_errors(p) == "  q: " + text.rjust(12) + " (fixed)"
