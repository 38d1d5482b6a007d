"""The cost of a constraint expression, against the same constraint written by hand.

Two Gaussian peaks on 200 points, the second peak's width tied to the
first's, ``w2 = 2*w1/3``, five varying parameters. Fitted from the same
start with the same tolerances by

* raw ``scipy.optimize.leastsq``, the constraint computed by hand inside
  the residual function, and
* ``lmfit_ref.minimize`` with ``w2`` a Parameter with ``expr='2*w1/3'``
  (the start values are reset through ``Parameter.value`` before each fit),
  and, for reference, the same lmfit_ref fit with the constraint written
  by hand inside the residual instead.

One process, best of several repeats; the table prints evaluations, time
per fit, the ratio to raw leastsq and the extra time per evaluation. If
the published ``lmfit`` is importable it is added as a row.

Run: ``python3 tasks.py bench`` or ``.venv/bin/python benchmarks/overhead_constraint.py``.
"""
import timeit

import numpy as np
from scipy.optimize import leastsq

import lmfit_ref

try:  # optional comparison, never required
    import lmfit as published_lmfit
except ImportError:
    published_lmfit = None

START = dict(a1=2.0, c1=3.8, w1=0.5, a2=1.5, c2=6.4)
TOL = dict(xtol=1e-7, ftol=1e-7)


def make_data(npoints=200, seed=20261130):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 10.0, npoints)
    y = gauss(x, 3.0, 4.0, 0.6) + gauss(x, 2.0, 6.5, 0.4) + rng.normal(0.0, 0.05, npoints)
    return x, y


def gauss(x, a, c, w):
    return a * np.exp(-(x - c) ** 2 / (2 * w * w))


def residual_vector(v, x, y):
    a1, c1, w1, a2, c2 = v
    w2 = 2 * w1 / 3  # the constraint, by hand
    return gauss(x, a1, c1, w1) + gauss(x, a2, c2, w2) - y


def residual_params(p, x, y):
    return (gauss(x, p['a1'].value, p['c1'].value, p['w1'].value)
            + gauss(x, p['a2'].value, p['c2'].value, p['w2'].value) - y)


def residual_params_by_hand(p, x, y):
    w1 = p['w1'].value
    return (gauss(x, p['a1'].value, p['c1'].value, w1)
            + gauss(x, p['a2'].value, p['c2'].value, 2 * w1 / 3) - y)


def make_params(module, with_expr):
    p = module.Parameters()
    for name, value in START.items():
        p.add(name, value=value)
    if with_expr:
        p.add('w2', expr='2*w1/3')
    return p


def refit(module, params, residual, x, y):
    for name, value in START.items():
        params[name].value = value
    return module.minimize(residual, params, args=(x, y), **TOL)


def best_time(fn, repeat=7):
    number = max(1, int(0.05 / max(timeit.timeit(fn, number=1), 1e-6)))
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main():
    x, y = make_data()
    calls = [0]

    def counting(v, x, y):
        calls[0] += 1
        return residual_vector(v, x, y)
    v_raw = leastsq(counting, list(START.values()), args=(x, y), maxfev=6000, **TOL)[0]
    n_raw = calls[0]
    t_raw = best_time(lambda: leastsq(residual_vector, list(START.values()), args=(x, y),
                                      maxfev=6000, full_output=True, **TOL))
    print("two Gaussians, w2 = 2*w1/3, 200 points, 5 varying parameters; best of 7 repeats\n")
    print(f"{'method':36s} {'nfev':>5s} {'ms/fit':>8s} {'ratio':>6s} {'us/eval over raw':>17s}")
    print(f"{'scipy leastsq, constraint by hand':36s} {n_raw:5d} {t_raw * 1e3:8.3f} {1.0:6.3f} {0.0:17.2f}")
    cases = [("lmfit_ref, expr='2*w1/3'", lmfit_ref, True, residual_params),
             ("lmfit_ref, constraint by hand", lmfit_ref, False, residual_params_by_hand)]
    if published_lmfit is not None:
        cases.append((f"lmfit {published_lmfit.__version__}, expr", published_lmfit, True,
                      residual_params))
    for label, module, with_expr, residual in cases:
        params = make_params(module, with_expr)
        out = refit(module, params, residual, x, y)
        values = np.array([params[n].value for n in START])
        comparable = out.nfev == n_raw and np.allclose(values, v_raw, rtol=1e-6)
        t = best_time(lambda: refit(module, params, residual, x, y))
        note = "" if comparable else "  (evaluations or result differ from raw)"
        print(f"{label:36s} {out.nfev:5d} {t * 1e3:8.3f} {t / t_raw:6.3f} "
              f"{(t - t_raw) / out.nfev * 1e6:17.2f}{note}")


if __name__ == "__main__":
    main()
