"""Where lmfit_ref's extra time goes in one fit, against raw scipy.optimize.leastsq.

Same problem as ``overhead_decaying_sine.py`` (the manual's decaying sine,
100 points, 4 varying parameters, same start and tolerances). The fit is
run many times with timers wrapped around its stages, and raw leastsq is
run alternately in the same process. The table splits lmfit_ref's extra
time into the part paid at every residual evaluation (writing the values
into the Parameters, calling the user's function through the wrapper,
checking what it returned) and the part paid once per fit (checking and
preparing the Parameters, building the closures, the engine wrapper,
statistics and uncertainties, the state saved for restore-on-fault).

The stage timers themselves cost a little; the totals are printed so the
reader can see the sum is close to the plain timing of the other script.

Run: ``.venv/bin/python benchmarks/where_the_time_goes.py``.
"""
import gc
import time

from overhead_decaying_sine import TOL, START, fit_raw, make_data, make_params, residual_params

import lmfit_ref
from lmfit_ref import minimizer
from lmfit_ref.engines import leastsq as engine


def main(npoints=100, fits=2000, rounds=5):
    x, data = make_data(npoints)
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
        return inner

    originals = [
        (minimizer.Minimizer, "_prepare",
         timed(minimizer.Minimizer, "_prepare", "prepare (checks, transforms)")),
        (minimizer.Minimizer, "_make_objective",
         timed(minimizer.Minimizer, "_make_objective", "build the closures")),
        (minimizer.Minimizer, "_finish", timed(minimizer.Minimizer, "_finish", "statistics + stderr")),
        (engine, "_scipy_leastsq", timed(engine, "_scipy_leastsq", "inside scipy leastsq")),
    ]
    params = make_params(lmfit_ref, False)
    best = None
    gc.disable()
    try:
        for _ in range(rounds):
            spent.clear()
            t0 = time.perf_counter()
            for _ in range(fits):
                for name, value in START.items():
                    params[name].value = value
                out = lmfit_ref.minimize(residual_params, params, args=(x, data), **TOL)
            total = (time.perf_counter() - t0) / fits
            t0 = time.perf_counter()
            for _ in range(fits):
                fit_raw(x, data)
            raw = (time.perf_counter() - t0) / fits
            t0 = time.perf_counter()
            for _ in range(fits):
                for name, value in START.items():
                    params[name].value = value
            spent["    (resetting the 4 start values)"] = (time.perf_counter() - t0)
            if best is None or total - raw < best[0] - best[1]:
                best = (total, raw, {k: v / fits for k, v in spent.items()}, out.nfev)
    finally:
        gc.enable()
        for owner, name, inner in originals:
            setattr(owner, name, inner)

    total, raw, parts, nfev = best
    inside = parts.pop("inside scipy leastsq")
    us = 1e6
    print(f"decaying sine, {npoints} points, {nfev} evaluations; best of {rounds} rounds of {fits} fits\n")
    print(f"{'':38s} {'us/fit':>8s} {'us/eval':>8s}")
    print(f"{'raw scipy.optimize.leastsq':38s} {raw * us:8.1f} {raw * us / nfev:8.2f}")
    print(f"{'lmfit_ref.minimize':38s} {total * us:8.1f} {total * us / nfev:8.2f}")
    print(f"{'  extra, total':38s} {(total - raw) * us:8.1f}   ratio {total / raw:.3f}")
    print(f"{'  extra inside leastsq (per evaluation)':38s} {(inside - raw) * us:8.1f} "
          f"{(inside - raw) * us / nfev:8.2f}")
    per_fit = total - inside
    print(f"{'  extra outside leastsq (once per fit)':38s} {per_fit * us:8.1f}")
    for label, t in parts.items():
        print(f"{'    ' + label:38s} {t * us:8.1f}")
    print("  (the reset of the start values is the user's code in the timed loop;")
    print("   raw leastsq is handed a fresh list instead)")
    rest = per_fit - sum(parts.values())
    print(f"{'    the rest (Minimizer, save state, engine':38s}")
    print(f"{'     wrapper, EngineResult, ...)':38s} {rest * us:8.1f}")


if __name__ == "__main__":
    main()
