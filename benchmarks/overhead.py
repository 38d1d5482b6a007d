"""What lmfit_ref costs per fit and per evaluation, against raw scipy.optimize.leastsq.

The question: how much slower is ``lmfit_ref.minimize`` than calling
``scipy.optimize.leastsq`` on a residual of a plain vector, and is the
difference overhead (time per call of the user's function) or work (more
calls)?

The problem is the manual's decaying sine (2.4),
``data - amp * sin(x * omega + shift) * exp(-x*x*decay)``, all four
parameters varying, on 100, 1000 and 100000 points (seeded data), in three
forms, each also written by hand for raw leastsq:

* plain: the four parameters, unbounded;
* bound: ``decay`` in [0, 0.1] (the manual's 2.1 bounds), which the optimum
  (0.007) does not touch; by hand, raw leastsq moves u and the residual
  computes ``decay = a + (b - a) * (sin(u) + 1) / 2`` (the MINUIT map);
* constraint: the fit varies ``period`` and ``omega`` is a Parameter with
  ``expr='2*pi/period'``; by hand, ``omega = 2*pi/period`` inside the
  residual.

Table 1, the same algorithm step by step: lmfit_ref with
``polish=False, factor=100`` (and xtol = ftol = 1e-7, maxfev = 5000) is
lmfit 0.5's fit, which makes exactly the calls raw leastsq makes with the
same options. Both evaluation counts are counted in an untimed run by a
counter inside the residual (independent of the library's ``nfev``); a
row where they differ, or where the values differ from raw leastsq's by
more than 1e-12 relative, is flagged. The time ratio and the extra
microseconds per evaluation (all the extra time, per-fit costs included,
divided by the evaluations) are then overhead and nothing else.

Table 2, the default fit (``factor=1``, then polished): its evaluations
and time against raw leastsq at SciPy's own defaults, and against raw
leastsq run with the same recipe by hand (``factor=1``; then a second run
from that solution with a central-difference ``Dfun``, step
``eps**(1/3)*|u|``, and xtol = ftol = 1e-15, gtol = 0). Against the
recipe the ratio is again overhead; against SciPy's defaults it is mostly
the polish's extra evaluations.

If the published ``lmfit`` is importable it gets columns of its own (its
calls counted the same way; in Table 1 it is given the same tolerances,
``gtol=0``, ``epsfcn=None`` and ``factor=100``; in Table 2 its defaults).
It is never required.

Timing: everything in this one process; the candidates of one size are
timed in turn, round after round, and each keeps its best round (the one
least disturbed by the machine). Times differ between machines; nothing
here asserts on them.

Run: ``python3 tasks.py bench`` (all benchmarks), or
``.venv/bin/python benchmarks/overhead.py``.
"""
import math
import timeit

import numpy as np
from scipy.optimize import leastsq

import lmfit_ref

START = dict(amp=10.0, phase_shift=0.2, omega=3.0, decay=0.02)
BOUNDS = (0.0, 0.1)   # decay's, as in the manual's 2.1
TOL = dict(xtol=1e-7, ftol=1e-7)
MAXFEV = 5000         # 1000 * (nvarys + 1), the manual's default for 4 variables
POLISH_TOL = 1e-15
EPS3 = float(np.finfo(float).eps ** (1.0 / 3.0))  # central-difference relative step
SIZES = (100, 1000, 100000)
CASES = ("plain", "bound", "constraint")


def published_lmfit():
    """The published ``lmfit`` if it is importable, else None (never required)."""
    try:
        import lmfit
    except ImportError:
        return None
    return lmfit


def make_data(npoints, seed=20261130):
    """x on [0, 10] and a noisy decaying sine (amp 12, omega 3.1, shift 0.25, decay 0.007)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 10.0, npoints)
    y = 12.0 * np.sin(3.1 * x + 0.25) * np.exp(-0.007 * x * x) + rng.normal(0.0, 0.5, npoints)
    return x, y


# -- the residual written with Parameters (the user's function) --------------------
def residual_params(params, x, data):
    """The manual's 2.4 residual; ``omega`` may be a constrained Parameter."""
    amp = params['amp'].value
    shift = params['phase_shift'].value
    omega = params['omega'].value
    decay = params['decay'].value
    return data - amp * np.sin(x * omega + shift) * np.exp(-x * x * decay)


def make_params(module, case):
    """Parameters for `case` from the start values, for lmfit_ref or lmfit."""
    p = module.Parameters()
    if case == "constraint":
        p.add('amp', value=START['amp'])
        p.add('phase_shift', value=START['phase_shift'])
        p.add('period', value=2 * math.pi / START['omega'])
        p.add('decay', value=START['decay'])
        p.add('omega', expr='2*pi/period')
        return p
    for name, value in START.items():
        p.add(name, value=value)
    if case == "bound":
        p['decay'].min, p['decay'].max = BOUNDS
    return p


def varying_start(case):
    """The varying parameters' names and start values, in the fit's order."""
    if case == "constraint":
        return {'amp': START['amp'], 'phase_shift': START['phase_shift'],
                'period': 2 * math.pi / START['omega'], 'decay': START['decay']}
    return dict(START)


# -- the same residuals by hand, for raw leastsq ----------------------------------
def residual_plain(v, x, data):
    amp, shift, omega, decay = v.tolist()
    return data - amp * np.sin(x * omega + shift) * np.exp(-x * x * decay)


def residual_bound(v, x, data):
    amp, shift, omega, u = v.tolist()
    a, b = BOUNDS
    decay = a + (b - a) * (math.sin(u) + 1.0) * 0.5  # the MINUIT map, by hand
    return data - amp * np.sin(x * omega + shift) * np.exp(-x * x * decay)


def residual_constraint(v, x, data):
    amp, shift, period, decay = v.tolist()
    omega = 2 * math.pi / period  # the constraint, by hand
    return data - amp * np.sin(x * omega + shift) * np.exp(-x * x * decay)


RAW = {"plain": residual_plain, "bound": residual_bound, "constraint": residual_constraint}


def raw_start(case):
    """Start vector for raw leastsq (decay's internal value for the bound case)."""
    v = list(varying_start(case).values())
    if case == "bound":
        a, b = BOUNDS
        # the branch around 2 pi, as bounds.both_to_internal takes it
        v[3] = 2.0 * math.pi + math.asin(2.0 * (v[3] - a) / (b - a) - 1.0)
    return np.array(v)


def raw_external(case, v):
    """Raw leastsq's solution in the Parameters' units."""
    v = list(v)
    if case == "bound":
        a, b = BOUNDS
        v[3] = a + (b - a) * (math.sin(v[3]) + 1.0) * 0.5
    return np.array(v)


# -- the fits ------------------------------------------------------------------------
def fit_raw_same(case, x, data, fcn=None):
    """Raw leastsq as lmfit 0.5 called it: xtol = ftol = 1e-7, maxfev 5000, factor 100."""
    return leastsq(fcn or RAW[case], raw_start(case), args=(x, data), full_output=True,
                   maxfev=MAXFEV, **TOL)


def fit_raw_default(case, x, data, fcn=None):
    """Raw leastsq at SciPy's defaults."""
    return leastsq(fcn or RAW[case], raw_start(case), args=(x, data), full_output=True)


def central_jacobian(fcn, args):
    """Dfun by central differences, once per point (SciPy asks twice at the start)."""
    last = [None, None]

    def dfun(u, *_):
        key = u.tolist()
        if key != last[0]:
            columns = []
            for j, uj in enumerate(key):
                h = EPS3 * abs(uj) if uj != 0.0 else EPS3
                up, down = np.array(key), np.array(key)
                up[j], down[j] = uj + h, uj - h
                columns.append((fcn(up, *args) - fcn(down, *args)) / (up[j] - down[j]))
            last[:] = [key, np.column_stack(columns)]
        return last[1]
    return dfun


def fit_raw_recipe(case, x, data, fcn=None):
    """The default fit's recipe, by hand: lmdif with factor=1, then lmder polished."""
    fcn = fcn or RAW[case]
    n = 4
    u, _, info, _, ier = leastsq(fcn, raw_start(case), args=(x, data), full_output=True,
                                 maxfev=MAXFEV, factor=1.0, **TOL)
    used = info['nfev'] + 1  # SciPy calls fcn once more, to check its shape
    if ier not in (1, 2, 3, 4) or used >= MAXFEV:
        return u
    return leastsq(fcn, u, args=(x, data), Dfun=central_jacobian(fcn, (x, data)),
                   full_output=True, xtol=POLISH_TOL, ftol=POLISH_TOL, gtol=0.0, factor=1.0,
                   maxfev=max(1, (MAXFEV - used) // (2 * n + 1)))[0]


def refit(module, params, case, x, data, fcn=residual_params, **kws):
    """Reset the start values (as a user would) and fit again; the fitted values."""
    for name, value in varying_start(case).items():
        params[name].value = value
    out = module.minimize(fcn, params, args=(x, data), **kws)
    values = out.params if hasattr(out, 'params') else params  # lmfit >= 1 returns a copy
    return np.array([values[name].value for name in varying_start(case)])


SAME_REF = dict(polish=False, factor=100, **TOL)  # lmfit 0.5's fit, step by step
SAME_LMFIT = dict(gtol=0.0, epsfcn=None, factor=100, max_nfev=MAXFEV // 2, **TOL)


def count_calls(run, fcn):
    """Run ``run(counting_fcn)`` once; return (calls of fcn, run's result)."""
    calls = [0]

    def counting(*args):
        calls[0] += 1
        return fcn(*args)
    out = run(counting)
    return calls[0], out


def best_times(candidates, repeat, target=0.02):
    """Best time per call of each candidate, timed in turn, round after round."""
    numbers = {}
    for label, fn in candidates.items():
        single = timeit.timeit(fn, number=1)
        numbers[label] = max(1, int(target / max(single, 1e-7)))
    best = {label: math.inf for label in candidates}
    for _ in range(repeat):
        for label, fn in candidates.items():
            t = timeit.timeit(fn, number=numbers[label]) / numbers[label]
            best[label] = min(best[label], t)
    return best


def measure(npoints, repeat=5, cases=CASES, with_lmfit=True):
    """Measure one size; a list of row dicts (one per case) for the two tables."""
    x, data = make_data(npoints)
    other = published_lmfit() if with_lmfit else None
    modules = [lmfit_ref] + ([other] if other is not None else [])
    rows, candidates = [], {}
    for case in cases:
        row = {"points": npoints, "case": case,
               "lmfit_version": other.__version__ if other is not None else None}
        n_raw, raw = count_calls(lambda f: fit_raw_same(case, x, data, f), RAW[case])
        n_def, _ = count_calls(lambda f: fit_raw_default(case, x, data, f), RAW[case])
        n_rec, rec = count_calls(lambda f: fit_raw_recipe(case, x, data, f), RAW[case])
        row.update(raw_nfev=n_raw, default_nfev=n_def, recipe_nfev=n_rec)
        v_raw, v_rec = raw_external(case, raw[0]), raw_external(case, rec)
        for module in modules:
            key = "ref" if module is lmfit_ref else "lmfit"
            same = SAME_REF if module is lmfit_ref else SAME_LMFIT
            p = make_params(module, case)
            n_same, v_same = count_calls(lambda f: refit(module, p, case, x, data, f, **same),
                                         residual_params)
            n_fit, v_fit = count_calls(lambda f: refit(module, p, case, x, data, f),
                                       residual_params)
            row[f"{key}_nfev"], row[f"{key}_default_nfev"] = n_same, n_fit
            row[f"{key}_same_dev"] = float(np.max(np.abs(v_same / v_raw - 1.0)))
            row[f"{key}_default_dev"] = float(np.max(np.abs(v_fit / v_rec - 1.0)))
            candidates[case, key] = (lambda m=module, p=p, kw=same, c=case:
                                     refit(m, p, c, x, data, **kw))
            candidates[case, key + "_default"] = (lambda m=module, p=p, c=case:
                                                  refit(m, p, c, x, data))
        candidates[case, "raw"] = lambda c=case: fit_raw_same(c, x, data)
        candidates[case, "raw_default"] = lambda c=case: fit_raw_default(c, x, data)
        candidates[case, "recipe"] = lambda c=case: fit_raw_recipe(c, x, data)
        rows.append(row)
    times = best_times(candidates, repeat)
    for row in rows:
        for (case, key), t in times.items():
            if case == row["case"]:
                row[f"{key}_time"] = t
    return rows


def print_same_algorithm(rows):
    """Table 1: polish=False, factor=100 against raw leastsq with the same options."""
    version = rows[0]["lmfit_version"]
    print("Table 1. The same algorithm, step by step: raw scipy.optimize.leastsq\n"
          "(xtol=ftol=1e-7, factor=100) against lmfit_ref with polish=False,\n"
          "factor=100. nfev: calls counted inside the residual, the same for\n"
          "both (or the row says so); us/eval = (ref - raw) / nfev.\n")
    head = (f"{'points':>6s}  {'case':10s} {'nfev':>5s} {'raw ms':>8s} {'ref ms':>8s} "
            f"{'ratio':>6s} {'us/eval':>8s}")
    if version:
        head += f"  | lmfit {version}: {'nfev':>5s} {'ratio':>6s} {'us/eval':>8s}"
    print(head)
    for r in rows:
        t_raw = r["raw_time"]
        flag = ""
        if r["ref_nfev"] != r["raw_nfev"] or r["ref_same_dev"] > 1e-12:
            flag = f"  <- differs from raw: nfev {r['raw_nfev']}, values {r['ref_same_dev']:.1e}"
        line = (f"{r['points']:6d}  {r['case']:10s} {r['ref_nfev']:5d} {t_raw * 1e3:8.3f} "
                f"{r['ref_time'] * 1e3:8.3f} {r['ref_time'] / t_raw:6.2f} "
                f"{(r['ref_time'] - t_raw) / r['ref_nfev'] * 1e6:8.2f}")
        if version:
            line += (f"  | {'':>{len(version) + 7}s}{r['lmfit_nfev']:5d} "
                     f"{r['lmfit_time'] / t_raw:6.2f} "
                     f"{(r['lmfit_time'] - t_raw) / r['lmfit_nfev'] * 1e6:8.2f}")
        print(line + flag)


def print_default_fit(rows):
    """Table 2: the default (polished) fit against raw leastsq's defaults and the same recipe."""
    version = rows[0]["lmfit_version"]
    print("Table 2. The default fit (factor=1, then polished): its calls (ref)\n"
          "against raw leastsq at SciPy's defaults (dflt) and raw leastsq running\n"
          "the same recipe by hand (recipe); time ratios to each; us/eval =\n"
          "(ref - recipe) / nfev.\n")
    head = (f"{'points':>6s}  {'case':10s} {'dflt':>5s} {'recipe':>6s} {'ref':>5s} "
            f"{'ref/dflt':>8s} {'ref/recipe':>10s} {'us/eval':>8s}")
    if version:
        head += f"  | lmfit dflt: {'nfev':>5s} {'/dflt':>6s}"
    print(head)
    for r in rows:
        flag = ""
        if r["ref_default_nfev"] != r["recipe_nfev"] or r["ref_default_dev"] > 1e-12:
            flag = (f"  <- differs from the recipe: nfev {r['recipe_nfev']}, "
                    f"values {r['ref_default_dev']:.1e}")
        t = r["ref_default_time"]
        line = (f"{r['points']:6d}  {r['case']:10s} {r['default_nfev']:5d} {r['recipe_nfev']:6d} "
                f"{r['ref_default_nfev']:5d} {t / r['raw_default_time']:8.2f} "
                f"{t / r['recipe_time']:10.2f} "
                f"{(t - r['recipe_time']) / r['ref_default_nfev'] * 1e6:8.2f}")
        if version:
            line += (f"  | {'':11s}{r['lmfit_default_nfev']:5d} "
                     f"{r['lmfit_default_time'] / r['raw_default_time']:6.2f}")
        print(line + flag)


def main(sizes=SIZES):
    rows = []
    for npoints in sizes:
        rows += measure(npoints, repeat=5 if npoints < 10000 else 3)
    print("The manual's decaying sine, 4 varying parameters; times: best of 5\n"
          "rounds (3 for 100000 points)\n")
    print_same_algorithm(rows)
    print()
    print_default_fit(rows)
    return rows


if __name__ == "__main__":
    main()
