"""Residual evaluations of conf_interval and conf_interval2d on the manual's example.

The question: how many calls of the user's function does a confidence
search cost? Every profile point is a sub-fit. A default fit ends with the
final stage (``certify.py``), which polishes a point that is not yet within
its finishing tolerance (MINPACK again, with a central-difference Jacobian
and tolerances near machine epsilon); the profile's sub-fits are run with
``polish=False``, as only their chi-square is used. What would polishing
them cost, and change?

The problem is the manual's advanced example (4.3): two exponentials,
data from ``numpy.random.RandomState(1)`` as the manual draws them, fitted
from the manual's start. Every call of the residual is counted by a
counter inside it (independent of the library's own counts), for

* ``conf_interval(mi, sigmas=(0.6827, 0.9545))``;
* ``conf_interval2d(mi, 'a1', 't2', 30, 30)`` with limits +/- 3 stderr;
* the same grid with the default limits (+/- 5 stderr).

Columns: lmfit_ref as it is (sub-fits unpolished); for comparison, lmfit_ref
with every sub-fit given ``polish=True`` (a diagnostic: ``Minimizer.leastsq``
is wrapped for the duration, nothing else changes), and the largest
relative change this makes to the intervals; the targets an earlier issue
set (a third of lmfit 1.3.4's 4036 evaluations for conf_interval, half of
its 29096 for the +/- 3 stderr grid); and, if the published ``lmfit`` is
importable (never required), its own counts.

Run: ``python3 tasks.py bench`` (all benchmarks), or
``.venv/bin/python benchmarks/confidence_counts.py``.
"""
import contextlib
import warnings

import numpy as np

import lmfit_ref
from lmfit_ref import minimizer

#: lmfit 1.3.4's counts on this problem, measured once; the earlier targets.
TARGETS = {"conf_interval": 4036 // 3, "grid, +/- 3 stderr": 29096 // 2}


def make_problem():
    """The manual's 4.3 data and a residual with a call counter: (residual, calls)."""
    rs = np.random.RandomState(1)
    x = np.linspace(0.3, 10, 100)
    y = 3 * np.exp(-x / 2.0) - 5 * np.exp(-x / 10.0) + 0.2 * rs.randn(x.size)
    calls = [0]

    def residual(p):
        calls[0] += 1
        a1, a2, t1, t2 = [p[name].value for name in ("a1", "a2", "t1", "t2")]
        return a1 * np.exp(-x / t1) + a2 * np.exp(-x / t2) - y
    return residual, calls


@contextlib.contextmanager
def polished_subfits():
    """Every fit inside runs the final stage with its polish (a diagnostic).

    (The confidence search's sub-fits skip the final stage; this puts it
    back, to measure what it would cost.)
    """
    original = minimizer.Minimizer._fit

    def _fit(self, engine_name, kws, final_stage=True):
        return original(self, engine_name, {**kws, "polish": True}, final_stage=True)
    minimizer.Minimizer._fit = _fit
    try:
        yield
    finally:
        minimizer.Minimizer._fit = original


def count(module, grids=True, nx=30, ny=30):
    """Counts for `module` (lmfit_ref or lmfit): dict label -> evaluations, and the intervals."""
    residual, calls = make_problem()
    p = module.Parameters()
    p.add_many(('a1', 5), ('a2', -5), ('t1', 2), ('t2', 5))
    if module is lmfit_ref:
        mi = module.minimize(residual, p)
        args, values = (mi,), p
    else:  # lmfit >= 1.0: conf_interval(minimizer, result, ...)
        mini = module.Minimizer(residual, p)
        result = mini.minimize()
        args, values = (mini, result), result.params
    out = {}
    calls[0] = 0
    ci = module.conf_interval(*args, sigmas=(0.6827, 0.9545))
    out["conf_interval"] = calls[0]
    if grids:
        lim = tuple((values[n].value - 3 * values[n].stderr, values[n].value + 3 * values[n].stderr)
                    for n in ("a1", "t2"))
        calls[0] = 0
        module.conf_interval2d(*args, 'a1', 't2', nx, ny, limits=lim)
        out["grid, +/- 3 stderr"] = calls[0]
        calls[0] = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _, _, grid = module.conf_interval2d(*args, 'a1', 't2', nx, ny)
                out["grid, default limits"] = calls[0]
                out["NaN cells, default limits"] = int(np.isnan(grid).sum())
            except Exception as err:  # lmfit 1.3.4 aborts here (a NaN residual)
                out["grid, default limits"] = f"raised {type(err).__name__}"
    return out, ci


def largest_change(ci, other):
    """Largest relative difference between two conf_interval results."""
    return max(abs(a[1] / b[1] - 1.0) for name in ci for a, b in zip(ci[name], other[name]))


def main(with_lmfit=True, grids=True):
    plain, ci = count(lmfit_ref, grids)
    with polished_subfits():
        polished, ci_polished = count(lmfit_ref, grids)
    published = None
    if with_lmfit:
        try:  # optional comparison, never required
            import lmfit as published
        except ImportError:
            published = None
    pub = count(published, grids) if published is not None else None
    print("manual 4.3, two exponentials (RandomState(1)), 100 points; residual evaluations "
          "counted inside the residual\n")
    head = f"{'':28s} {'lmfit_ref':>10s} {'sub-fits polished':>18s} {'earlier target':>15s}"
    if pub:
        head += f" {'lmfit ' + published.__version__:>12s}"
    print(head)
    for label in plain:
        if label.startswith("NaN"):
            continue
        line = (f"{label:28s} {plain[label]:>10} {polished[label]:>18} "
                f"{TARGETS.get(label, ''):>15}")
        if pub:
            line += f" {pub[0].get(label, ''):>12}"
        print(line)
    if grids:
        print(f"(NaN cells in the default grid: {plain['NaN cells, default limits']}; "
              f"{polished['NaN cells, default limits']} with the sub-fits polished)")
    print(f"\nlargest relative change of the intervals when the sub-fits are polished: "
          f"{largest_change(ci, ci_polished):.1e}")
    if pub:
        print(f"largest relative difference from lmfit {published.__version__}'s intervals: "
              f"{largest_change(ci, pub[1]):.1e}")
    print()
    lmfit_ref.printfuncs.report_ci(ci)
    return plain, polished


if __name__ == "__main__":
    main()
