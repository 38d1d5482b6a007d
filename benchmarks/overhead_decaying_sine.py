"""Per-call overhead of lmfit_ref against raw scipy.optimize.leastsq.

The problem is the manual's decaying sine (2.4), all four parameters
varying, fitted from the same start with the same tolerances
(xtol = ftol = 1e-7, maxfev = 5000) by

* raw ``scipy.optimize.leastsq`` on a residual of a plain vector, and
* ``lmfit_ref.minimize`` on the same residual written with Parameters
  (the start values are reset through ``Parameter.value`` before each fit,
  as a user would), unbounded, and again with a two-sided bound on
  ``decay`` that the optimum does not touch.

Everything runs in this one process; each time is the best of several
repeats (the least disturbed by the machine). The table prints the
evaluations (which must agree with raw leastsq's, or the row says so),
the time per fit, the ratio to raw leastsq and the overhead per residual
evaluation in microseconds (all of the extra time, per-fit costs included,
divided by the evaluations). If the published ``lmfit`` is importable it is
added as rows for comparison; it is never required.

Run: ``python3 tasks.py bench`` (all benchmarks), or
``.venv/bin/python benchmarks/overhead_decaying_sine.py``.
"""
import timeit

import numpy as np
from scipy.optimize import leastsq

import lmfit_ref

try:  # optional comparison, never required
    import lmfit as published_lmfit
except ImportError:
    published_lmfit = None

START = dict(amp=10.0, phase_shift=0.2, omega=3.0, decay=0.02)
TOL = dict(xtol=1e-7, ftol=1e-7)


def make_data(npoints, seed=20261130):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 10.0, npoints)
    y = 12.0 * np.sin(3.1 * x + 0.25) * np.exp(-0.007 * x * x) + rng.normal(0.0, 0.5, npoints)
    return x, y


def residual_vector(v, x, data):
    amp, shift, omega, decay = v
    return data - amp * np.sin(x * omega + shift) * np.exp(-x * x * decay)


def residual_params(params, x, data):
    amp = params['amp'].value
    shift = params['phase_shift'].value
    omega = params['omega'].value
    decay = params['decay'].value
    return data - amp * np.sin(x * omega + shift) * np.exp(-x * x * decay)


def make_params(module, bounded):
    p = module.Parameters()
    for name, value in START.items():
        p.add(name, value=value)
    if bounded:  # a two-sided bound the optimum does not touch
        p['decay'].min, p['decay'].max = 0.0, 1.0
    return p


def fit_raw(x, data):
    return leastsq(residual_vector, list(START.values()), args=(x, data), maxfev=5000,
                   full_output=True, **TOL)


def count_raw_evaluations(x, data):
    """Evaluations raw leastsq makes (counted in a separate, untimed run)."""
    calls = [0]

    def counting(v, x, data):
        calls[0] += 1
        return residual_vector(v, x, data)
    best = leastsq(counting, list(START.values()), args=(x, data), maxfev=5000, **TOL)[0]
    return calls[0], best


def refit(module, params, x, data):
    """Reset the start values (as a user would) and fit again."""
    for name, value in START.items():
        params[name].value = value
    return module.minimize(residual_params, params, args=(x, data), **TOL)


def best_time(fn, repeat=7):
    number = max(1, int(0.05 / max(timeit.timeit(fn, number=1), 1e-6)))
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main(sizes=(100, 1000)):
    print("decaying sine, 4 varying parameters; time = best of 7 repeats\n")
    print(f"{'points':>6s}  {'method':26s} {'nfev':>5s} {'ms/fit':>8s} {'ratio':>6s} "
          f"{'us/eval over raw':>16s}")
    for npoints in sizes:
        x, data = make_data(npoints)
        n_raw, v_raw = count_raw_evaluations(x, data)
        t_raw = best_time(lambda: fit_raw(x, data))
        print(f"{npoints:6d}  {'scipy.optimize.leastsq':26s} {n_raw:5d} {t_raw * 1e3:8.3f} "
              f"{1.0:6.3f} {0.0:16.2f}")
        cases = [("lmfit_ref", lmfit_ref, False), ("lmfit_ref, 1 bound", lmfit_ref, True)]
        if published_lmfit is not None:
            name = f"lmfit {published_lmfit.__version__}"
            cases += [(name, published_lmfit, False), (name + ", 1 bound", published_lmfit, True)]
        for label, module, bounded in cases:
            params = make_params(module, bounded)
            out = refit(module, params, x, data)
            values = np.array([params[n].value for n in START])
            comparable = out.nfev == n_raw and np.allclose(values, v_raw, rtol=1e-6)
            t = best_time(lambda: refit(module, params, x, data))
            over = (t - t_raw) / out.nfev * 1e6
            note = "" if comparable else "  (evaluations or result differ from raw)"
            print(f"{npoints:6d}  {label:26s} {out.nfev:5d} {t * 1e3:8.3f} {t / t_raw:6.3f} "
                  f"{over:16.2f}{note}")
        print()


if __name__ == "__main__":
    main()
