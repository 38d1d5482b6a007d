"""Where lmfit_ref's extra time goes, per evaluation and per fit.

The question: ``overhead.py`` measures how much longer a fit takes than
raw ``scipy.optimize.leastsq``; what is that time spent on?

Same problem as ``overhead.py`` (the manual's decaying sine, 4 varying
parameters, plain, with a bound on ``decay``, with ``omega`` tied to
``period`` by an expression).

Part 1, per evaluation. The objective the engine calls, ``residual(u)``, is
built as the fit builds it (``Minimizer.prepare_fit`` then
``Minimizer._make_objective``) and timed at a fixed u (best of several
rounds of timeit), beside the user's function alone, written with a
vector (what raw leastsq calls) and with Parameters (what lmfit_ref
calls). Then each step of the hot path is timed alone, re-enacted here on
the same objects: ``u.tolist()``, writing the values into the Parameters,
the call through ``functools.partial``, the type-and-length test, the
finiteness test (``np.isfinite(r).all()``), the engine's guard against
non-finite residuals (``engines/leastsq._Guarded``), a bound's map. Their
sum should be close to the measured difference. Last, the Jacobian the
engine is given (``Objective.jacobian``: forward differences in the
user's units, chained through dP/du), per column, beside one evaluation:
what a column costs beyond its evaluation is the differences' own work.

Then the finiteness test as a fit meets it, on a fresh residual just
after the user's function, against a BLAS dot product and NumPy's own
sum, at 100 and 100000 points (a BLAS dot of many elements may run on
several threads).

Part 2, per fit. Many fits are run with timers wrapped around the stages
of ``Minimizer._fit`` (preparing, building the objective, MINPACK with its
evaluations and Jacobians, the final stage, the statistics), alternating
with raw leastsq. ``polish=False, factor=100`` against raw leastsq with
the same options, then the default fit against raw leastsq at SciPy's
defaults. The difference Jacobians are timed apart, inside MINPACK (the
engine's) and in the final stage (the certificate's), and so is
``uncertainty.analyse`` (the SVD behind the certificate and the error
bars). Inside MINPACK the time per evaluation is printed beside raw
leastsq's: the difference is the hot path and the differences' own work.
What is outside MINPACK and outside the final stage is paid once per fit.

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
from lmfit_ref import bounds, differences, minimizer  # noqa: E402
from lmfit_ref import certify as certify_module  # noqa: E402
from lmfit_ref.engines import leastsq as engine  # noqa: E402


GUARDED = "  + the engine's guard: what MINPACK calls"


def best_us(fn, repeat=7, target=0.01):
    """Best time of one call of `fn`, in microseconds."""
    number = max(1, int(target / max(timeit.timeit(fn, number=1), 1e-7)))
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def unmemoized(guarded, u):
    """Call the engine's guard at u as at a new point (it remembers the last one)."""
    guarded.last = (None, None)
    return guarded(u)


def objective_for(case, x, data):
    """The `Objective` a fit of `case` hands its engine, its start u, and the Minimizer."""
    params = overhead.make_params(lmfit_ref, case)
    fitter = lmfit_ref.Minimizer(overhead.residual_params, params, fcn_args=(x, data))
    fitter.prepare_fit()
    return fitter._make_objective(), fitter._u0.copy(), fitter


def per_evaluation(npoints=100, repeat=7):
    """Part 1: microseconds per evaluation, whole and in pieces. A dict label -> us."""
    x, data = overhead.make_data(npoints)
    out = {}
    objectives = {case: objective_for(case, x, data) for case in overhead.CASES}
    obj, u, fitter = objectives["plain"]
    params, varying = fitter.params, fitter._varying
    v = overhead.raw_start("plain")
    out["user's function, vector (raw leastsq's)"] = best_us(
        lambda: overhead.residual_plain(v, x, data), repeat)
    out["user's function, Parameters"] = best_us(
        lambda: overhead.residual_params(params, x, data), repeat)
    out["objective residual(u), plain"] = best_us(lambda: obj.residual(u), repeat)
    guarded = engine._Guarded(obj.residual, obj.evaluations, 10**12)
    out[GUARDED] = best_us(lambda: unmemoized(guarded, u), repeat)
    for case in ("bound", "constraint"):
        obj_c, u_c, _ = objectives[case]
        out[f"objective residual(u), {case}"] = best_us(lambda: obj_c.residual(u_c), repeat)

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
    guarded_nothing = engine._Guarded(nothing, obj.evaluations, 10**12)
    bare = best_us(lambda: nothing(params, x, data), repeat)
    pieces = {
        "u.tolist()": best_us(lambda: u.tolist(), repeat),
        "write 4 values into the Parameters": best_us(lambda: write(values), repeat),
        "call through functools.partial": best_us(through_partial, repeat) - bare,
        "type-and-length test": best_us(lambda: r.dtype is f64 and r.shape == shape, repeat),
        "finiteness test: np.isfinite(r).all()": best_us(lambda: np.isfinite(r).all(),
                                                          repeat),
        "the engine's guard (one more call)": best_us(
            lambda: unmemoized(guarded_nothing, u), repeat) - bare,
    }
    for label, us in pieces.items():
        out["  piece: " + label] = max(us, 0.0)

    out["  bound: to_external(u, a, b)"] = best_us(lambda: bounds.both_to_external(-1.2, a, b),
                                                   repeat)
    # The engine's Jacobian, per column, beside one evaluation at the values.
    P = np.array(obj.values(u))
    r_u = np.array(obj.residual(u))
    out["  jacobian: at_values(P), one difference step"] = best_us(lambda: obj.at_values(P),
                                                                   repeat)
    out["  jacobian: forward differences, per column"] = best_us(
        lambda: obj.jacobian(u, r_u), repeat) / len(u)
    return out


def print_per_evaluation(out, npoints):
    print(f"Part 1. Per evaluation, {npoints} points (microseconds, best of\n"
          "repeated timeit; in brackets: more than your function with Parameters)\n")
    user = out["user's function, Parameters"]
    for label, us in out.items():
        if label.startswith(("  piece", "  bound", "  jacobian")):
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
    step = out["  jacobian: at_values(P), one difference step"]
    column = out["  jacobian: forward differences, per column"]
    print("\n  the engine's Jacobian (forward differences in the user's units):")
    print(f"    {'at_values(P): one evaluation at a step':48s} {step:8.2f}  (+{step - user:.2f})")
    print(f"    {'one column of the Jacobian':48s} {column:8.2f}  (+{column - user:.2f})")


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


#: The stages of a fit that Part 2 times: (owner, attribute, label). Nested
#: ones are counted inside their parents too.
ENGINE_JACOBIANS = "    of which difference Jacobians (the engine's)"
FINAL_JACOBIANS = "    of which difference Jacobians"
ANALYSE = "    of which uncertainty.analyse (SVD)"
INSIDE = "inside MINPACK"
FINAL = "the final stage (certify)"
POLISH = "    of which the polish (MINPACK again)"
FINISH = "statistics, uncertainties, final stage"
OWN_WORK = "  the engine's own work (options, guard)"


def per_fit(npoints=100, fits=1000, rounds=5, polished=False):
    """Part 2: microseconds per fit in each stage, best of `rounds` rounds of `fits` fits.

    ``polished=False``: polish=False, factor=100 against raw leastsq with the
    same options; True: the default fit against raw leastsq at its defaults.
    """
    x, data = overhead.make_data(npoints)
    spent = {}
    active = set()  # labels of the stages running now

    def timed(owner, name, label):
        inner = getattr(owner, name)

        def wrapper(*args, **kws):
            # MINPACK run by the final stage is the polish, not the engine
            charged = POLISH if label == INSIDE and FINAL in active else label
            active.add(charged)
            t0 = time.perf_counter()
            try:
                return inner(*args, **kws)
            finally:
                spent[charged] = spent.get(charged, 0.0) + time.perf_counter() - t0
                active.discard(charged)
        setattr(owner, name, wrapper)
        return owner, name, inner

    def jacobians(*args, **kws):  # differences.jacobian, charged to where it runs
        label = FINAL_JACOBIANS if FINAL in active else ENGINE_JACOBIANS
        t0 = time.perf_counter()
        try:
            return plain_jacobian(*args, **kws)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0

    kws = {} if polished else overhead.SAME_REF
    raw = overhead.fit_raw_default if polished else overhead.fit_raw_same
    params = overhead.make_params(lmfit_ref, "plain")
    calls, shares = [0], []

    def counting(*args):
        calls[0] += 1
        return overhead.residual_params(*args)
    with overhead.engine_share(calls, shares):
        overhead.refit(lmfit_ref, params, "plain", x, data, counting, **kws)
    nfev, engine_nfev = calls[0], shares[0]
    raw_nfev = overhead.count_calls(lambda f: raw("plain", x, data, f), overhead.RAW["plain"])[0]
    originals = [
        timed(minimizer.Minimizer, "__init__", "Minimizer(): store, check inputs"),
        timed(minimizer.Minimizer, "_save", "save the Parameters' state"),
        timed(minimizer.Minimizer, "_prepare", "prepare (checks, maps, u0)"),
        timed(minimizer.Minimizer, "_make_objective", "build the objective"),
        timed(minimizer.Minimizer, "_finish", FINISH),
        timed(minimizer, "certify", FINAL),
        timed(engine, "run", "engine.run"),
        timed(engine, "_scipy_leastsq", INSIDE),
        # (certify.py calls analyse by the name it imported)
        timed(certify_module, "analyse", ANALYSE),
    ]
    plain_jacobian = differences.jacobian
    differences.jacobian = jacobians
    originals.append((differences, "jacobian", plain_jacobian))
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
        for owner, name, inner in reversed(originals):
            setattr(owner, name, inner)
    total, t_raw, parts = best
    return {"nfev": nfev, "engine_nfev": engine_nfev, "raw_nfev": raw_nfev, "total": total,
            "raw": t_raw, "parts": parts, "polished": polished, "fits": fits, "rounds": rounds,
            "npoints": npoints}


def print_per_fit(res):
    us, nfev, raw_nfev, engine_nfev = 1e6, res["nfev"], res["raw_nfev"], res["engine_nfev"]
    total, t_raw, parts = res["total"], res["raw"], dict(res["parts"])
    what = ("the default fit against raw leastsq at its defaults" if res["polished"]
            else "polish=False, factor=100 against raw leastsq, same options")
    print(f"Part 2. Per fit, {res['npoints']} points: {what};\n"
          f"best of {res['rounds']} rounds of {res['fits']} fits (microseconds)\n")
    width = 52
    get = parts.get
    inside, final, finish = get(INSIDE, 0.0), get(FINAL, 0.0), get(FINISH, 0.0)
    print(f"  {f'raw leastsq, {raw_nfev} evaluations':{width}s} {t_raw * us:9.1f}"
          f"   {t_raw * us / raw_nfev:.2f} per evaluation")
    print(f"  {f'lmfit_ref.minimize, {nfev} evaluations':{width}s} {total * us:9.1f}"
          f"   ratio {total / t_raw:.2f}")
    print(f"  {f'  {INSIDE}, {engine_nfev} evaluations':{width}s} {inside * us:9.1f}"
          f"   {inside * us / engine_nfev:.2f} per evaluation")
    print(f"  {ENGINE_JACOBIANS:{width}s} {get(ENGINE_JACOBIANS, 0.0) * us:9.1f}")
    print(f"  {OWN_WORK:{width}s} {(get('engine.run', 0.0) - inside) * us:9.1f}")
    print(f"  {f'  {FINAL}, {nfev - engine_nfev} evaluations':{width}s} {final * us:9.1f}")
    print(f"  {FINAL_JACOBIANS:{width}s} {get(FINAL_JACOBIANS, 0.0) * us:9.1f}")
    if POLISH in parts:
        print(f"  {POLISH:{width}s} {get(POLISH) * us:9.1f}")
    print(f"  {ANALYSE:{width}s} {get(ANALYSE, 0.0) * us:9.1f}")
    print(f"  {'  statistics, uncertainties (the rest of _finish)':{width}s} "
          f"{(finish - final) * us:9.1f}")
    once = 0.0
    for label in ("Minimizer(): store, check inputs", "save the Parameters' state",
                  "prepare (checks, maps, u0)", "build the objective"):
        once += get(label, 0.0)
        print(f"  {'  ' + label:{width}s} {get(label, 0.0) * us:9.1f}")
    rest = total - get("engine.run", 0.0) - finish - once
    print(f"  {'  the rest (minimize, _fit, resetting the start)':{width}s} {rest * us:9.1f}")


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
    print_per_fit(per_fit(polished=True))


if __name__ == "__main__":
    main()
