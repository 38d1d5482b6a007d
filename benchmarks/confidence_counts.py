"""Residual evaluations of conf_interval and conf_interval2d on the manual's example.

The manual's advanced example (4.3): two exponentials, data from
``numpy.random.RandomState(1)``. Counts every call of the residual
function (a counter inside it, independent of the library's own counts)
for

* ``conf_interval(mi, sigmas=(0.6827, 0.9545))`` -- target: at most a third
  of the 4036 evaluations lmfit 1.3.4 needs, i.e. 1345;
* ``conf_interval2d(mi, 'a1', 't2', 30, 30)`` with limits +/- 3 stderr --
  target: at most half of lmfit 1.3.4's 29096, i.e. 14548;
* the same grid with the default limits (+/- 5 stderr), which must complete.

If the published ``lmfit`` is importable, it is run on the same problem
and its counts and intervals are printed beside (never required).

Run: ``.venv/bin/python benchmarks/confidence_counts.py``.
"""
import warnings

import numpy as np

import lmfit_ref

try:  # optional comparison, never required
    import lmfit as published_lmfit
except ImportError:
    published_lmfit = None

rs = np.random.RandomState(1)
x = np.linspace(0.3, 10, 100)
y = 3 * np.exp(-x / 2.0) - 5 * np.exp(-x / 10.0) + 0.2 * rs.randn(x.size)
calls = [0]


def residual(p):
    calls[0] += 1
    a1, a2, t1, t2 = [i.value for i in p.values()]
    return a1 * np.exp(-x / t1) + a2 * np.exp(-x / t2) - y


def counted(fn):
    calls[0] = 0
    out = fn()
    return out, calls[0]


def run(module):
    p = module.Parameters()
    p.add_many(('a1', 5), ('a2', -5), ('t1', 2), ('t2', 5))
    if module is lmfit_ref:
        mi = module.minimize(residual, p)
        ci_args, values = (mi,), p
    else:  # lmfit >= 1.0: conf_interval(minimizer, result, ...)
        mini = module.Minimizer(residual, p)
        result = mini.minimize()
        ci_args, values = (mini, result), result.params
    ci, n_ci = counted(lambda: module.conf_interval(*ci_args, sigmas=(0.6827, 0.9545)))
    lim = tuple((values[n].value - 3 * values[n].stderr, values[n].value + 3 * values[n].stderr)
                for n in ("a1", "t2"))
    _, n_2d = counted(lambda: module.conf_interval2d(*ci_args, 'a1', 't2', 30, 30, limits=lim))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            (_, _, grid), n_5 = counted(lambda: module.conf_interval2d(*ci_args, 'a1', 't2', 30, 30))
            five = f"{n_5} evaluations, {int(np.isnan(grid).sum())} NaN cells"
        except Exception as err:  # lmfit 1.3.4 aborts here
            five = f"aborted: {type(err).__name__}: {str(err)[:60]}"
    return ci, n_ci, n_2d, five


def main():
    ci, n_ci, n_2d, five = run(lmfit_ref)
    print("manual 4.3, two exponentials (RandomState(1)); residual evaluations counted\n")
    print(f"{'':34s} {'lmfit_ref':>10s} {'target':>8s}")
    print(f"{'conf_interval, sigmas 0.6827 0.9545':34s} {n_ci:10d} {4036 // 3:8d}")
    print(f"{'conf_interval2d 30x30, +/-3 stderr':34s} {n_2d:10d} {29096 // 2:8d}")
    print(f"{'conf_interval2d 30x30, default':34s} {five}")
    if published_lmfit is not None:
        ci_pub, n_ci_pub, n_2d_pub, five_pub = run(published_lmfit)
        print(f"\nlmfit {published_lmfit.__version__}: conf_interval {n_ci_pub}, "
              f"conf_interval2d +/-3 stderr {n_2d_pub}, default grid: {five_pub}")
        worst = max(abs(a[1] / b[1] - 1) for name in ci for a, b in zip(ci[name], ci_pub[name]))
        print(f"largest relative difference of the intervals: {worst:.2e}")
    print()
    lmfit_ref.printfuncs.report_ci(ci)


if __name__ == "__main__":
    main()
