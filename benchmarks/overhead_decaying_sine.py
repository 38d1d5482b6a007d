"""Per-call overhead of lmfit_ref against raw scipy.optimize.leastsq.

The problem is the manual's decaying sine (2.4), 100 points, all four
parameters varying, fitted from the same start with the same tolerances
(xtol = ftol = 1e-7) by

* raw ``scipy.optimize.leastsq`` on a residual of a plain vector, and
* ``lmfit_ref.minimize`` on the same residual written with Parameters,
  unbounded, and again with one two-sided bound that the optimum does not
  touch.

Both are run in this process, alternating, and each timing is the best of
several repeats (the least disturbed by the machine). The table prints the
evaluations (which must agree, or the comparison means nothing), the time
per fit, the ratio to raw leastsq, and the overhead per residual
evaluation in microseconds. If the published ``lmfit`` is importable it is
added as a column; it is never required.

Run: ``python3 tasks.py bench`` or ``.venv/bin/python benchmarks/overhead_decaying_sine.py``.
"""
import timeit

import numpy as np
from scipy.optimize import leastsq

import lmfit_ref

try:  # optional comparison, never required
    import lmfit as published_lmfit
except ImportError:
    published_lmfit = None

rng = np.random.default_rng(20261130)
x = np.linspace(0.0, 10.0, 100)
data = 12.0 * np.sin(3.1 * x + 0.25) * np.exp(-0.007 * x * x) + rng.normal(0.0, 0.5, x.size)
start = dict(amp=10.0, phase_shift=0.2, omega=3.0, decay=0.02)
TOL = dict(xtol=1e-7, ftol=1e-7)


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
    for name, value in start.items():
        p.add(name, value=value)
    if bounded:  # a two-sided bound the optimum does not touch
        p['decay'].min, p['decay'].max = 0.0, 1.0
    return p


def count_raw_evaluations():
    """Evaluations raw leastsq makes (counted in a separate, untimed run)."""
    calls = [0]

    def counting(v, x, data):
        calls[0] += 1
        return residual_vector(v, x, data)
    best = leastsq(counting, list(start.values()), args=(x, data), maxfev=5000, **TOL)[0]
    return calls[0], best


def fit_raw():
    return leastsq(residual_vector, list(start.values()), args=(x, data), maxfev=5000,
                   full_output=True, **TOL)


def refit(module, params):
    """Reset the start values (as a user would) and fit again."""
    for name, value in start.items():
        params[name].value = value
    return module.minimize(residual_params, params, args=(x, data), **TOL)


def best_time(fn, repeat=7, number=20):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main():
    n_raw, v_raw = count_raw_evaluations()
    cases = [("lmfit_ref", lmfit_ref, False), ("lmfit_ref, 1 bound", lmfit_ref, True)]
    if published_lmfit is not None:
        name = f"lmfit {published_lmfit.__version__}"
        cases += [(name, published_lmfit, False), (name + ", 1 bound", published_lmfit, True)]
    print(f"decaying sine, {x.size} points, 4 varying parameters; best of 7 x 20 fits\n")
    print(f"{'method':28s} {'nfev':>5s} {'ms/fit':>8s} {'ratio':>6s} {'us/call over raw':>17s}")
    t_raw = best_time(fit_raw)
    print(f"{'scipy.optimize.leastsq':28s} {n_raw:5d} {t_raw * 1e3:8.3f} {1.0:6.3f} {0.0:17.2f}")
    for label, module, bounded in cases:
        params = make_params(module, bounded)
        out = refit(module, params)
        values = np.array([params[n].value for n in start])
        comparable = out.nfev == n_raw and np.allclose(values, v_raw, rtol=1e-6)
        t = best_time(lambda: refit(module, params))
        over = (t - t_raw) / out.nfev * 1e6
        note = "" if comparable else "   (evaluations or result differ from raw)"
        print(f"{label:28s} {out.nfev:5d} {t * 1e3:8.3f} {t / t_raw:6.3f} {over:17.2f}{note}")


if __name__ == "__main__":
    main()
