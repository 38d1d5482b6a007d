"""Where lmfit_ref's extra time goes, per evaluation and per fit.

The question: ``overhead.py`` measures how much longer a fit takes than
raw ``scipy.optimize.leastsq``; what is that time spent on?

Same problem as ``overhead.py`` (the manual's decaying sine, 4 varying
parameters, plain, with a bound on ``decay``, with ``omega`` tied to
``period`` by an expression).

Part 1, per evaluation. The objective MINPACK calls, ``residual(u)``, is
built as the fit builds it (``Minimizer.prepare_fit`` then
``make_objective``) and timed at a fixed u (best of several rounds of
timeit), beside the user's function alone, written with a vector (what
raw leastsq calls) and with Parameters (what lmfit_ref calls). Then each
step of the hot path is timed alone, re-enacted here on the same objects:
``u.tolist()``, writing the values into the Parameters, the call through
``functools.partial``, the type-and-length test, the finiteness test (one
dot product), the engine's guard against non-finite residuals
(``engines/leastsq._Guarded``), a bound's map and a constraint. Their sum
should be close to the measured difference.

Then the finiteness test as a fit meets it, on a fresh residual just
after the user's function, against NumPy's own sum, at 100 and 100000
points (a BLAS dot of many elements may run on several threads).

Part 2, per fit. Many fits are run with timers wrapped around the stages
of ``Minimizer._fit`` (preparing, building the closures, MINPACK with
its evaluations, statistics and uncertainties), alternating with raw
leastsq doing the same work. ``polish=False, factor=100`` against raw
leastsq with the same options (same evaluations), then the default fit
against the same recipe run by hand (``overhead.fit_raw_recipe``).
"Inside MINPACK" minus raw leastsq's whole time is the per-evaluation
overhead times nfev; what is outside MINPACK is paid once per fit.

Timers cost a little themselves; the totals are printed beside the plain
timing so the reader can judge. Times differ between machines; nothing
here asserts on them.

Run: ``python3 tasks.py bench`` (all benchmarks), or
``.venv/bin/python benchmarks/where_the_time_goes.py``.
"""
import functools
import gc
import math
import os
import sys
import time
import timeit

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import overhead  # noqa: E402  (this folder's shared problem definition)

import lmfit_ref  # noqa: E402
from lmfit_ref import bounds, minimizer  # noqa: E402
from lmfit_ref.engines import leastsq as engine  # noqa: E402


GUARDED = "  + the engine's guard: what MINPACK calls"


def best_us(fn, repeat=7, target=0.01):
    """Best time of one call of `fn`, in microseconds."""
    number = max(1, int(target / max(timeit.timeit(fn, number=1), 1e-7)))
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def objective_for(case, x, data):
    """The objective a fit of `case` hands MINPACK, its start u, and the Minimizer."""
    params = overhead.make_params(lmfit_ref, case)
    fitter = lmfit_ref.Minimizer(overhead.residual_params, params, fcn_args=(x, data))
    fitter.prepare_fit()
    residual, _, _ = fitter._make_objective()
    return residual, fitter._u0.copy(), fitter


def per_evaluation(npoints=100, repeat=7):
    """Part 1: microseconds per evaluation, whole and in pieces. A dict label -> us."""
    x, data = overhead.make_data(npoints)
    out = {}
    objectives = {case: objective_for(case, x, data) for case in overhead.CASES}
    residual, u, fitter = objectives["plain"]
    params, varying = fitter.params, fitter._varying
    v = overhead.raw_start("plain")
    out["user's function, vector (raw leastsq's)"] = best_us(
        lambda: overhead.residual_plain(v, x, data), repeat)
    out["user's function, Parameters"] = best_us(
        lambda: overhead.residual_params(params, x, data), repeat)
    out["objective residual(u), plain"] = best_us(lambda: residual(u), repeat)
    guarded = engine._Guarded(residual)
    out[GUARDED] = best_us(lambda: guarded(u), repeat)
    for case in ("bound", "constraint"):
        res_c, u_c, _ = objectives[case]
        out[f"objective residual(u), {case}"] = best_us(lambda: res_c(u_c), repeat)

    # The pieces, re-enacted on the same objects (objective.py, the hot path).
    # The two call layers are timed around a function that does nothing, so
    # that only the layer is measured.
    def write(values):
        for par, value in zip(varying, values):
            par._value = value
    values = u.tolist()
    r = overhead.residual_params(params, x, data)
    shape, f64 = r.shape, np.dtype(np.float64)
    a, b = overhead.BOUNDS

    def nothing(*args):
        return r
    through_partial = functools.partial(nothing, params, x, data)
    guarded_nothing = engine._Guarded(nothing)
    bare = best_us(lambda: nothing(params, x, data), repeat)
    pieces = {
        "u.tolist()": best_us(lambda: u.tolist(), repeat),
        "write 4 values into the Parameters": best_us(lambda: write(values), repeat),
        "call through functools.partial": best_us(through_partial, repeat) - bare,
        "type-and-length test": best_us(lambda: r.dtype is f64 and r.shape == shape, repeat),
        "finiteness test: np.isfinite(r).all()": best_us(lambda: np.isfinite(r).all(),
                                                          repeat),
        "the engine's guard (one more call)": best_us(lambda: guarded_nothing(u),
                                                             repeat) - bare,
    }
    for label, us in pieces.items():
        out["  piece: " + label] = max(us, 0.0)

    out["  bound: to_external(u, a, b)"] = best_us(lambda: bounds.both_to_external(-1.2, a, b),
                                                   repeat)
    return out


def print_per_evaluation(out, npoints):
    print(f"Part 1. Per evaluation, {npoints} points (microseconds, best of\n"
          "repeated timeit; in brackets: more than your function with Parameters)\n")
    user = out["user's function, Parameters"]
    for label, us in out.items():
        if label.startswith(("  piece", "  bound")):
            continue
        extra = f"  (+{us - user:.2f})" if label.startswith(("objective", "  +")) else ""
        print(f"  {label:50s} {us:8.2f}{extra}")
    print("\n  the hot path's steps, each timed alone:")
    total = 0.0
    for label, us in out.items():
        if label.startswith("  piece"):
            total += us
            print(f"    {label[9:]:48s} {us:8.2f}")
    print(f"    {'sum of the steps above':48s} {total:8.2f}")
    print(f"    {'the rest: the objective (frame, loops, try)':48s} "
          f"{out[GUARDED] - user - total:8.2f}")
    print(f"    {'(a bound) to_external, per bounded parameter':48s} "
          f"{out['  bound: to_external(u, a, b)']:8.2f}")


def finiteness_tests(npoints=100000, rounds=7, number=20):
    """The finiteness test as a fit meets it: just after the user's function.

    Microseconds per call of the user's function alone, then followed by
    ``np.isfinite(r).all()`` (the hot path's test), by
    ``isfinite(r.dot(ones))`` (a BLAS dot product) and by
    ``isfinite(np.add.reduce(r))`` (NumPy's own sum), timed in turn: the
    best and the median of `rounds` rounds of `number` calls, as a dict
    label -> (best, median).

    NumPy hands a dot product to BLAS; OpenBLAS runs a dot of more than
    about 10000 elements on several threads, and waking them, or waiting
    for a core when the machine is busy, can cost more than the
    arithmetic. The sum and ``isfinite`` run on the calling thread; the
    sum warns on inf - inf, ``isfinite`` never warns.
    """
    x, data = overhead.make_data(npoints)
    params = overhead.make_params(lmfit_ref, "plain")
    ones = np.ones(npoints)

    def user():
        return overhead.residual_params(params, x, data)
    candidates = {"your function alone": user,
                  "+ np.isfinite(r).all()": lambda: np.isfinite(user()).all(),
                  "+ isfinite(r.dot(ones))": lambda: math.isfinite(user().dot(ones)),
                  "+ isfinite(np.add.reduce(r))": lambda: math.isfinite(np.add.reduce(user()))}
    times = {label: [] for label in candidates}
    for _ in range(rounds):
        for label, fn in candidates.items():
            times[label].append(timeit.timeit(fn, number=number) / number * 1e6)
    return {label: (min(t), float(np.median(t))) for label, t in times.items()}


def print_finiteness_tests(times, npoints):
    print(f"The finiteness test after the user's function, {npoints} points\n"
          "(microseconds per evaluation: best and median round; extra over\n"
          "your function alone)\n")
    best0, median0 = times["your function alone"]
    print(f"  {'':30s} {'best':>9s} {'median':>9s} {'extra':>8s} {'extra':>8s}")
    for label, (best, median) in times.items():
        extra = ("" if label == "your function alone"
                 else f" {best - best0:8.2f} {median - median0:8.2f}")
        print(f"  {label:30s} {best:9.2f} {median:9.2f}{extra}")


def per_fit(npoints=100, fits=1000, rounds=5, polished=False):
    """Part 2: microseconds per fit in each stage, best of `rounds` rounds of `fits` fits.

    ``polished=False``: polish=False, factor=100 against raw leastsq with the
    same options; True: the default fit against the same recipe by hand.
    """
    x, data = overhead.make_data(npoints)
    spent = {}

    def timed(owner, name, label):
        inner = getattr(owner, name)

        def wrapper(*args, **kws):
            t0 = time.perf_counter()
            try:
                return inner(*args, **kws)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
        setattr(owner, name, wrapper)
        return owner, name, inner

    kws = {} if polished else overhead.SAME_REF
    raw = overhead.fit_raw_recipe if polished else overhead.fit_raw_same
    params = overhead.make_params(lmfit_ref, "plain")
    nfev = overhead.count_calls(
        lambda f: overhead.refit(lmfit_ref, params, "plain", x, data, f, **kws),
        overhead.residual_params)[0]
    originals = [
        timed(minimizer.Minimizer, "__init__", "Minimizer(): store, check inputs"),
        timed(minimizer.Minimizer, "_save", "save the Parameters' state"),
        timed(minimizer.Minimizer, "_prepare", "prepare (checks, maps, u0)"),
        timed(minimizer.Minimizer, "_make_objective", "build the closures"),
        timed(minimizer.Minimizer, "_finish", "statistics, uncertainties"),
        timed(engine, "run", "engine.run"),
        timed(engine, "_scipy_leastsq", "inside MINPACK (with the evaluations)"),
    ]
    if polished:
        originals.append(timed(engine, "central_differences",
                               "  of which central differences (inside)"))
    best = None
    gc.disable()
    try:
        for _ in range(rounds):
            spent.clear()
            t0 = time.perf_counter()
            for _ in range(fits):
                overhead.refit(lmfit_ref, params, "plain", x, data, **kws)
            total = (time.perf_counter() - t0) / fits
            t0 = time.perf_counter()
            for _ in range(fits):
                raw("plain", x, data)
            t_raw = (time.perf_counter() - t0) / fits
            if best is None or total - t_raw < best[0] - best[1]:
                best = (total, t_raw, {k: s / fits for k, s in spent.items()})
    finally:
        gc.enable()
        for owner, name, inner in originals:
            setattr(owner, name, inner)
    total, t_raw, parts = best
    return {"nfev": nfev, "total": total, "raw": t_raw, "parts": parts, "polished": polished,
            "fits": fits, "rounds": rounds, "npoints": npoints}


def print_per_fit(res):
    us, nfev = 1e6, res["nfev"]
    total, t_raw, parts = res["total"], res["raw"], dict(res["parts"])
    inside = parts.pop("inside MINPACK (with the evaluations)")
    parts["the engine's own work (options, guard)"] = parts.pop("engine.run") - inside
    what = ("the default fit against the recipe by hand" if res["polished"]
            else "polish=False, factor=100 against raw leastsq")
    print(f"Part 2. Per fit, {res['npoints']} points, {nfev} evaluations:\n{what};\n"
          f"best of {res['rounds']} rounds of {res['fits']} fits (microseconds)\n")
    width = 42
    print(f"  {'raw leastsq' + (' (the recipe)' if res['polished'] else ''):{width}s} "
          f"{t_raw * us:9.1f}")
    print(f"  {'lmfit_ref.minimize':{width}s} {total * us:9.1f}   ratio {total / t_raw:.2f}")
    print(f"  {'extra, in all':{width}s} {(total - t_raw) * us:9.1f}")
    print(f"  {'  inside MINPACK: per-call overhead':{width}s} {(inside - t_raw) * us:9.1f}   "
          f"{(inside - t_raw) * us / nfev:.2f} per call")
    outside = total - inside
    print(f"  {'  outside MINPACK: once per fit':{width}s} {outside * us:9.1f}")
    for label, t in parts.items():
        if not label.startswith("  of which"):
            print(f"  {'    ' + label:{width}s} {t * us:9.1f}")
    rest = outside - sum(t for k, t in parts.items() if not k.startswith("  of which"))
    print(f"  {'    the rest (minimize, _fit, the loop,':{width}s}")
    print(f"  {'     resetting the 4 start values, ...)':{width}s} {rest * us:9.1f}")
    for label, t in parts.items():
        if label.startswith("  of which"):
            print(f"  {label:{width}s} {t * us:9.1f}")


def main():
    for npoints in (100, 1000):
        print_per_evaluation(per_evaluation(npoints), npoints)
        print()
    for npoints in (100, 100000):
        print_finiteness_tests(finiteness_tests(npoints, number=200 if npoints < 10000 else 20),
                               npoints)
        print()
    print_per_fit(per_fit(polished=False))
    print()
    print_per_fit(per_fit(fits=500, polished=True))


if __name__ == "__main__":
    main()
