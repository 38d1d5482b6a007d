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
of a fit (``Minimizer._prepare``, building the objective, MINPACK with its
evaluations and Jacobians, ``results.finish_fit`` and the final stage
``certify`` inside it), alternating with raw leastsq: ``polish=False,
factor=100`` against raw leastsq with the same options, then the default
fit against raw leastsq at SciPy's defaults, at 100 points and at 100000.
The difference Jacobians are timed apart (``Objective.jacobian`` for the
engine's, ``Objective.jacobian_P`` for the final stage's), and so is
``uncertainty.analyse`` (one QR of the column-scaled Jacobian beside the
residual, then the SVD of its small triangle). An untimed run first
counts the user's calls in each stage. Last, the extra time over raw
leastsq is split by cause (`accounting`), with one evaluation's cost
timed alone: the Parameters path on every evaluation, the differences'
own work beyond their evaluations (raw leastsq's are MINPACK's fdjac2, in
Fortran), the final stage's arithmetic, the once-per-fit work, the
evaluations more than raw's, and MINPACK's own arithmetic beside raw's
(what is left; the lines add up to the extra time).

Timers cost a little themselves (well under a microsecond for each of
the few dozen timed calls in a fit). Times differ between machines; nothing
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
from lmfit_ref import bounds, minimizer, objective, results  # noqa: E402
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


#: The stages of a fit that Part 2 times: (owner, attribute, key). A stage
#: nested in another is counted inside its parent too; a Jacobian is
#: charged to the engine or to the final stage, whichever is running it.
def _stages():
    return [
        (minimizer.Minimizer, "__init__", "init"),
        (minimizer.Minimizer, "_save", "save"),
        (minimizer.Minimizer, "_prepare", "prepare"),
        (minimizer.Minimizer, "_make_objective", "build"),
        (minimizer, "finish_fit", "finish"),       # (by the name minimizer.py calls)
        (results, "certify", "certify"),           # (by the name results.py calls)
        (engine, "run", "run"),
        (engine, "_scipy_leastsq", "minpack"),
        (certify_module, "analyse", "analyse"),    # (by the name certify.py calls)
        (objective.Objective, "jacobian", "jacobian"),    # the engine's, chained to u
        (objective.Objective, "jacobian_P", "jacobian"),  # the final stage's
    ]


class _Timers:
    """Timers, and counts of the user's calls, around the stages of a fit (a context).

    `counter` is a one-element list that the user's function increments in
    an untimed counting run (and leaves alone in the timed ones).
    """

    def __init__(self, counter):
        self.counter = counter
        self.spent, self.evals, self.runs, self.active = {}, {}, {}, set()
        self._originals = []

    def clear(self):
        self.spent.clear()
        self.evals.clear()
        self.runs.clear()

    def _charge(self, key):
        """The stage a call of `key` is charged to; None if its parent already counts it."""
        if key == "minpack" and "certify" in self.active:
            return "polish"  # MINPACK run by the final stage
        if key == "jacobian":
            if self.active & {"jac_engine", "jac_final"}:
                return None
            return "jac_final" if "certify" in self.active else "jac_engine"
        return key

    def _wrap(self, owner, name, key):
        inner = getattr(owner, name)
        timers = self

        def wrapper(*args, **kws):
            charged = timers._charge(key)
            if charged is None:
                return inner(*args, **kws)
            timers.active.add(charged)
            n0, t0 = timers.counter[0], time.perf_counter()
            try:
                return inner(*args, **kws)
            finally:
                timers.spent[charged] = timers.spent.get(charged, 0.0) + time.perf_counter() - t0
                timers.evals[charged] = timers.evals.get(charged, 0) + timers.counter[0] - n0
                timers.runs[charged] = timers.runs.get(charged, 0) + 1
                timers.active.discard(charged)
        self._originals.append((owner, name, inner))
        setattr(owner, name, wrapper)

    def __enter__(self):
        for owner, name, key in _stages():
            self._wrap(owner, name, key)
        return self

    def __exit__(self, *exc):
        for owner, name, inner in reversed(self._originals):
            setattr(owner, name, inner)
        self._originals.clear()


def evaluation_costs(npoints, repeat=7):
    """Seconds per evaluation at the start, as Part 2's accounting uses them.

    ``vector``: your function written for raw leastsq; ``params``: written
    with Parameters; ``trial``: what MINPACK calls for a trial step (the
    engine's guard around ``residual(u)``); ``step``: a difference step
    (``at_values(P)``); ``objective``: ``residual(u)`` without the guard.
    """
    x, data = overhead.make_data(npoints)
    obj, u, fitter = objective_for("plain", x, data)
    v = overhead.raw_start("plain")
    guarded = engine._Guarded(obj.residual, obj.evaluations, 10**12)
    P = np.array(obj.values(u))
    times = {
        "vector": best_us(lambda: overhead.residual_plain(v, x, data), repeat),
        "params": best_us(lambda: overhead.residual_params(fitter.params, x, data), repeat),
        "objective": best_us(lambda: obj.residual(u), repeat),
        "trial": best_us(lambda: unmemoized(guarded, u), repeat),
        "step": best_us(lambda: obj.at_values(P), repeat),
    }
    return {label: us * 1e-6 for label, us in times.items()}


def per_fit(npoints=100, fits=1000, rounds=5, polished=False):
    """Part 2: seconds per fit in each stage, from the best of `rounds` rounds of `fits` fits.

    ``polished=False``: polish=False, factor=100 against raw leastsq with the
    same options; True: the default fit against raw leastsq at its defaults.
    The best round is the one with the least extra time over raw leastsq.
    """
    x, data = overhead.make_data(npoints)
    kws = {} if polished else overhead.SAME_REF
    raw = overhead.fit_raw_default if polished else overhead.fit_raw_same
    params = overhead.make_params(lmfit_ref, "plain")
    raw_nfev = overhead.count_calls(lambda f: raw("plain", x, data, f), overhead.RAW["plain"])[0]
    counter = [0]

    def counting(*args):
        counter[0] += 1
        return overhead.residual_params(*args)
    best = None
    with _Timers(counter) as timers:
        overhead.refit(lmfit_ref, params, "plain", x, data, counting, **kws)  # untimed: counts
        nfev, evals, runs = counter[0], dict(timers.evals), dict(timers.runs)
        gc.disable()
        try:
            for _ in range(rounds):
                timers.clear()
                t0 = time.perf_counter()
                for _ in range(fits):
                    overhead.refit(lmfit_ref, params, "plain", x, data, **kws)
                total = (time.perf_counter() - t0) / fits
                t0 = time.perf_counter()
                for _ in range(fits):
                    raw("plain", x, data)
                t_raw = (time.perf_counter() - t0) / fits
                if best is None or total - t_raw < best[0] - best[1]:
                    best = (total, t_raw, {k: s / fits for k, s in timers.spent.items()})
        finally:
            gc.enable()
    total, t_raw, parts = best
    return {"nfev": nfev, "evals": evals, "runs": runs, "raw_nfev": raw_nfev, "total": total,
            "raw": t_raw, "parts": parts, "costs": evaluation_costs(npoints),
            "polished": polished, "fits": fits, "rounds": rounds, "npoints": npoints}


def accounting(res):
    """The extra time of a fit over raw leastsq's, by cause (seconds per fit).

    From the stage timers of `per_fit` and the costs of one evaluation
    (`evaluation_costs`): the Parameters path is what each evaluation
    costs beyond your vector function; the differences' own work is the
    Jacobians' time beyond their evaluations; the final stage's arithmetic
    is its time beyond its Jacobians and evaluations; MINPACK's share is
    what is left, its time beside raw leastsq's beyond their evaluations.
    The lines add up to the extra time exactly; the estimates of one
    evaluation's cost move time between them.
    """
    get, ev, c = res["parts"].get, res["evals"].get, res["costs"]
    steps = ev("jac_engine", 0) + ev("jac_final", 0)
    trials_engine = ev("minpack", 0) - ev("jac_engine", 0)
    others = res["nfev"] - steps - trials_engine  # the final stage's own (a Gauss-Newton step)
    jacobians = get("jac_engine", 0.0) + get("jac_final", 0.0)
    final = get("certify", 0.0)
    engine_own = (get("minpack", 0.0) - get("jac_engine", 0.0) - trials_engine * c["trial"]
                  - (res["raw"] - res["raw_nfev"] * c["vector"]))
    once = res["total"] - get("minpack", 0.0) - final
    return {
        f"more evaluations than raw leastsq ({res['nfev'] - res['raw_nfev']:+d})":
            (res["nfev"] - res["raw_nfev"]) * c["vector"],
        f"the Parameters path, on {res['nfev']} evaluations":
            trials_engine * (c["trial"] - c["vector"]) + steps * (c["step"] - c["vector"])
            + others * (c["objective"] - c["vector"]),
        f"the differences' own work, {steps} steps":
            jacobians - steps * c["step"],
        "the final stage's arithmetic (analysis, tests)":
            final - get("jac_final", 0.0) - others * c["objective"],
        "once per fit (setup, statistics, error bars)": once,
        "MINPACK's own arithmetic, beside raw's": engine_own,
    }


def print_per_fit(res):
    us, nfev, raw_nfev = 1e6, res["nfev"], res["raw_nfev"]
    total, t_raw, get = res["total"], res["raw"], res["parts"].get
    ev, runs = res["evals"].get, res["runs"].get
    what = ("the default fit against raw leastsq at its defaults" if res["polished"]
            else "polish=False, factor=100 against raw leastsq, same options")
    print(f"Part 2. Per fit, {res['npoints']} points: {what};\n"
          f"best of {res['rounds']} rounds of {res['fits']} fits (microseconds)\n")
    width = 52

    def line(label, seconds, note=""):
        print(f"  {label:{width}s} {seconds * us:9.1f}{note}")
    line(f"raw leastsq, {raw_nfev} evaluations", t_raw,
         f"   {t_raw * us / raw_nfev:.2f} per evaluation")
    line(f"lmfit_ref.minimize, {nfev} evaluations", total, f"   ratio {total / t_raw:.2f}")
    line(f"  inside MINPACK, {ev('minpack', 0)} evaluations", get("minpack", 0.0))
    jac = ev("jac_engine", 0)
    line(f"    of which {runs('jac_engine', 0)} difference Jacobians, {jac} evaluations",
         get("jac_engine", 0.0), f"   {get('jac_engine', 0.0) * us / max(jac, 1):.2f} per step")
    line("  the engine's own work (options, guard)", get("run", 0.0) - get("minpack", 0.0))
    line(f"  the final stage (certify), {ev('certify', 0)} evaluations", get("certify", 0.0))
    jac = ev("jac_final", 0)
    line(f"    of which {runs('jac_final', 0)} difference Jacobian(s), {jac} evaluations",
         get("jac_final", 0.0))
    if "polish" in res["parts"]:
        line("    of which the polish (MINPACK again)", get("polish"))
    line("    of which uncertainty.analyse (one QR, an SVD)", get("analyse", 0.0))
    line("  statistics, uncertainties (the rest of finish_fit)",
         get("finish", 0.0) - get("certify", 0.0))
    once = 0.0
    for key, label in (("init", "Minimizer(): store, check inputs"),
                       ("save", "save the Parameters' state"),
                       ("prepare", "prepare (checks, maps, u0)"),
                       ("build", "build the objective")):
        once += get(key, 0.0)
        line("  " + label, get(key, 0.0))
    line("  the rest (minimize, _fit, freeing the last fit)",
         total - get("run", 0.0) - get("finish", 0.0) - once)
    c = res["costs"]
    print(f"\n  The extra {(total - t_raw) * us:.0f} over raw leastsq's time, by cause. One "
          f"evaluation,\n  timed alone at the start: your function {c['vector'] * us:.2f} "
          f"(vector) and {c['params'] * us:.2f}\n  (Parameters); a trial step "
          f"{c['trial'] * us:.2f}, a difference step {c['step'] * us:.2f}.")
    for label, seconds in accounting(res).items():
        line("  " + label, seconds, f"   {seconds / (total - t_raw):4.0%}")


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
    print()
    print_per_fit(per_fit(100000, fits=10, rounds=3, polished=True))


if __name__ == "__main__":
    main()
