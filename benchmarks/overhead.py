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

Every evaluation count is taken in an untimed run, by a counter inside the
residual: every call of the user's function (SciPy's extra call at the
start, to check the shape, included), independent of each library's own
``nfev``. End points are compared in standard errors: the largest
``|P_j - P_j(raw)| / sigma_j``, with sigma from raw leastsq's own
``cov_x`` (scaled by the reduced chi-square; through dP/du for the bound),
and a row beyond ``AGREE`` standard errors is flagged.

Table 1, the same settings: lmfit_ref with ``polish=False, factor=100``
(xtol = ftol = 1e-7, maxfev = 5000) against raw leastsq with the same
options. Both run MINPACK's Levenberg-Marquardt with forward-difference
Jacobians, but not the same ones: raw leastsq (lmdif) steps each u_j by
``sqrt(eps) * |u_j|``, lmfit_ref (lmder, given its Jacobian) steps each
parameter in its own units, ``sqrt(eps) * max(|P_j|, floor_j)``, and
divides by the step the arithmetic took (``lmfit_ref/differences.py``).
So the iterates agree only to rounding where the two rules give the same
step, and the end points are the same minimum within a tolerance, not to
the last digit. lmfit_ref then certifies the best point (its final stage,
without a polish), with the engine's last Jacobian where it may be reused
and else with one taken there, n calls more. The time ratio and the
extra microseconds per evaluation (``T_ref / nfev_ref - T_raw /
nfev_raw``: the per-call overhead plus the differences' and the per-fit
costs spread over the calls) are then
overhead.

Table 2, the default fit (``lmfit_ref.minimize`` with no options): one
MINPACK run (``factor=1``, the Jacobian by forward differences in the
user's units), then the final stage (``lmfit_ref/certify.py``): a Jacobian
at the best point (the engine's last one, no calls, if the values moved
by at most ``certify.ERRORBARS`` = 1e-6 of their scale since it was taken
and its test holds with a margin for that move, ``lmfit_ref/reuse.py``;
else forward differences, n calls, or central ones, 2n, where forward
ones would be too coarse for J's condition number), the test in standard
errors, then one Gauss-Newton step (1 call) if the values' 7th digit is
not yet settled, or the polish if the point is not within
``certify.FINISH``. Against raw leastsq at SciPy's own defaults: its
calls, split into the engine's and the final stage's (``engine_share``:
the counter's value when the engine returns); the limit ``raw + 2*nvarys
+ 2`` (raw's calls plus a central-difference Jacobian and two calls) and
whether the default fit stays within it; the end points' distance; the
time ratio; what the final stage did (``final_stage``). The last lines
count the rows that meet each target: evaluations within the limit, and
a time ratio no worse than lmfit's (when it is installed) at every size
and at most ``RATIO`` = 1.35 from ``LARGE`` = 1000 points up.

If the published ``lmfit`` is importable it gets columns of its own (its
calls counted the same way; in Table 1 it is given the same tolerances,
``gtol=0``, ``epsfcn=None`` and ``factor=100``; in Table 2 its defaults).
It is never required.

Timing: everything in this one process; the candidates of one size are
timed in turn, round after round, and each keeps its best round (the one
least disturbed by the machine). Times differ between machines; nothing
here asserts on them.

Run: ``python3 tasks.py bench`` (all benchmarks), or
``.venv/bin/python benchmarks/overhead.py`` (``--sizes 100 1000`` for
fewer sizes).
"""
import argparse
import contextlib
import math
import timeit

import numpy as np
from scipy.optimize import leastsq

import lmfit_ref
from lmfit_ref.engines import leastsq as leastsq_engine

START = dict(amp=10.0, phase_shift=0.2, omega=3.0, decay=0.02)
BOUNDS = (0.0, 0.1)   # decay's, as in the manual's 2.1
TOL = dict(xtol=1e-7, ftol=1e-7)
MAXFEV = 5000         # 1000 * (nvarys + 1), the manual's default for 4 variables
NVARYS = 4
SIZES = (100, 1000, 100000)
CASES = ("plain", "bound", "constraint")
#: End points further apart than this many standard errors are flagged. Each
#: fit stops within about 1e-3 standard errors of the minimum (raw leastsq by
#: its xtol, lmfit_ref by its certificate), so two fits of the same minimum
#: agree to well within 0.01.
AGREE = 0.01


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


def raw_sigma(case, fit):
    """Standard errors in the Parameters' units from a raw leastsq full output."""
    v, cov_x, info = fit[0], fit[1], fit[2]
    fvec = info["fvec"]
    sigma = np.sqrt(np.diag(cov_x) * (fvec @ fvec) / (len(fvec) - len(v)))
    if case == "bound":  # dP/du of the MINUIT map
        a, b = BOUNDS
        sigma[3] *= abs(0.5 * (b - a) * math.cos(v[3]))
    return sigma


# -- the fits ------------------------------------------------------------------------
def fit_raw_same(case, x, data, fcn=None):
    """Raw leastsq as lmfit 0.5 called it: xtol = ftol = 1e-7, maxfev 5000, factor 100."""
    return leastsq(fcn or RAW[case], raw_start(case), args=(x, data), full_output=True,
                   maxfev=MAXFEV, **TOL)


def fit_raw_default(case, x, data, fcn=None):
    """Raw leastsq at SciPy's defaults."""
    return leastsq(fcn or RAW[case], raw_start(case), args=(x, data), full_output=True)


def refit(module, params, case, x, data, fcn=residual_params, **kws):
    """Reset the start values (as a user would) and fit again: (fitted values, result)."""
    for name, value in varying_start(case).items():
        params[name].value = value
    out = module.minimize(fcn, params, args=(x, data), **kws)
    values = out.params if hasattr(out, 'params') else params  # lmfit >= 1 returns a copy
    return np.array([values[name].value for name in varying_start(case)]), out


SAME_REF = dict(polish=False, factor=100, **TOL)  # the same settings as raw, Table 1
SAME_LMFIT = dict(gtol=0.0, epsfcn=None, factor=100, max_nfev=MAXFEV // 2, **TOL)


def count_calls(run, fcn):
    """Run ``run(counting_fcn)`` once; return (calls of fcn, run's result)."""
    calls = [0]

    def counting(*args):
        calls[0] += 1
        return fcn(*args)
    out = run(counting)
    return calls[0], out


@contextlib.contextmanager
def engine_share(calls, shares):
    """Append ``calls[0]`` to `shares` each time lmfit_ref's leastsq engine returns.

    A diagnostic for an untimed run: what the counter reads when MINPACK is
    done is the engine's share of the evaluations; the rest is the final
    stage's.
    """
    original = leastsq_engine.run

    def run(*args, **kws):
        try:
            return original(*args, **kws)
        finally:
            shares.append(calls[0])
    leastsq_engine.run = run
    try:
        yield
    finally:
        leastsq_engine.run = original


#: The final stage's Jacobian, from the start of ``engine_info['jacobian']``:
#: the engine's last one reused (no evaluations), fresh forward differences
#: (n), fresh central ones (2n), or the user's Dfun checked against central
#: differences (2n).
JACOBIANS = (("the engine", "engine's J reused"), ("forward", "forward J"),
             ("central", "central J"), ("the user's Dfun", "Dfun checked"))
#: What the final stage did after its test, from the start of each note in
#: ``engine_info['final_stage']``.
STEPS = (("one Gauss-Newton step", " + GN step"), ("polished, but", " + polish (no gain)"),
         ("polished", " + polish"), ("refitted from the start, but", " + refit (no gain)"),
         ("refitted from the start", " + refit"))


def final_stage(out):
    """A short account of lmfit_ref's final stage, from ``engine_info``.

    >>> class Out:
    ...     success = True
    ...     engine_info = {"jacobian": "the engine's last (forward differences), reused",
    ...                    "final_stage": []}
    >>> final_stage(Out())
    "engine's J reused"
    """
    how = out.engine_info.get("jacobian", "")
    words = next((label for start, label in JACOBIANS if how.startswith(start)), how)
    for note in out.engine_info.get("final_stage", []):
        words += next((label for start, label in STEPS if note.startswith(start)),
                      " + " + note)
    return words + ("" if out.success else ", not certified")


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
        n_def, raw_def = count_calls(lambda f: fit_raw_default(case, x, data, f), RAW[case])
        row.update(raw_nfev=n_raw, default_nfev=n_def, limit=n_def + 2 * NVARYS + 2)
        v_raw, v_def = raw_external(case, raw[0]), raw_external(case, raw_def[0])
        s_raw, s_def = raw_sigma(case, raw), raw_sigma(case, raw_def)
        for module in modules:
            key = "ref" if module is lmfit_ref else "lmfit"
            same = SAME_REF if module is lmfit_ref else SAME_LMFIT
            p = make_params(module, case)
            n_same, (v_same, _) = count_calls(
                lambda f: refit(module, p, case, x, data, f, **same), residual_params)
            calls, shares = [0], []

            def counting(*args):
                calls[0] += 1
                return residual_params(*args)
            with engine_share(calls, shares):
                v_fit, out = refit(module, p, case, x, data, counting)
            row[f"{key}_nfev"], row[f"{key}_default_nfev"] = n_same, calls[0]
            row[f"{key}_same_dev"] = float(np.max(np.abs(v_same - v_raw) / s_raw))
            row[f"{key}_default_dev"] = float(np.max(np.abs(v_fit - v_def) / s_def))
            if module is lmfit_ref:
                row["ref_engine_nfev"] = shares[0]
                row["ref_final"] = final_stage(out)
                row["ref_success"] = out.success
                row["ref_reported_nfev"] = out.nfev
            candidates[case, key] = (lambda m=module, p=p, kw=same, c=case:
                                     refit(m, p, c, x, data, **kw))
            candidates[case, key + "_default"] = (lambda m=module, p=p, c=case:
                                                  refit(m, p, c, x, data))
        candidates[case, "raw"] = lambda c=case: fit_raw_same(c, x, data)
        candidates[case, "raw_default"] = lambda c=case: fit_raw_default(c, x, data)
        rows.append(row)
    times = best_times(candidates, repeat)
    for row in rows:
        for (case, key), t in times.items():
            if case == row["case"]:
                row[f"{key}_time"] = t
    return rows


def _per_eval_us(t, n, t_raw, n_raw):
    """Extra microseconds per evaluation: T / nfev - T_raw / nfev_raw."""
    return (t / n - t_raw / n_raw) * 1e6


def print_same_algorithm(rows):
    """Table 1: polish=False, factor=100 against raw leastsq with the same options."""
    version = rows[0]["lmfit_version"]
    print("Table 1. The same settings: raw scipy.optimize.leastsq (xtol=ftol=1e-7,\n"
          "factor=100) against lmfit_ref with polish=False, factor=100 (its\n"
          "differences in the user's units, then its certificate). nfev: calls\n"
          "counted inside the residual; dev: largest distance between the end\n"
          "points, in standard errors; us/eval = ref/nfev - raw/nfev_raw.\n")
    head = (f"{'points':>6s}  {'case':10s} {'raw':>4s} {'ref':>4s} {'dev':>7s} {'raw ms':>8s} "
            f"{'ref ms':>8s} {'ratio':>6s} {'us/eval':>8s}")
    if version:
        head += f"  | lmfit {version}: {'nfev':>4s} {'ratio':>6s} {'us/eval':>8s}"
    print(head)
    for r in rows:
        t_raw, n_raw = r["raw_time"], r["raw_nfev"]
        flag = f"  <- ends {r['ref_same_dev']:.2g} sigma away" if r["ref_same_dev"] > AGREE else ""
        line = (f"{r['points']:6d}  {r['case']:10s} {n_raw:4d} {r['ref_nfev']:4d} "
                f"{r['ref_same_dev']:7.1e} {t_raw * 1e3:8.3f} {r['ref_time'] * 1e3:8.3f} "
                f"{r['ref_time'] / t_raw:6.2f} "
                f"{_per_eval_us(r['ref_time'], r['ref_nfev'], t_raw, n_raw):8.2f}")
        if version:
            line += (f"  | {'':>{len(version) + 7}s}{r['lmfit_nfev']:4d} "
                     f"{r['lmfit_time'] / t_raw:6.2f} "
                     f"{_per_eval_us(r['lmfit_time'], r['lmfit_nfev'], t_raw, n_raw):8.2f}")
        print(line + flag)


def print_default_fit(rows):
    """Table 2: the default fit against raw leastsq at SciPy's defaults."""
    version = rows[0]["lmfit_version"]
    print("Table 2. The default fit (lmfit_ref.minimize, no options) against raw\n"
          "leastsq at SciPy's defaults. raw, ref: calls counted inside the\n"
          "residual, ref split as engine + final stage; limit = raw + 2*nvarys + 2;\n"
          "dev: largest distance between the end points, in standard errors;\n"
          "ratio: time over raw's; final stage: its Jacobian (the engine's last\n"
          "one reused, or fresh forward or central differences) and what followed.\n")
    head = (f"{'points':>6s}  {'case':10s} {'raw':>4s} {'limit':>5s} {'ref':>10s} "
            f"{'met':>3s} {'dev':>7s} {'ratio':>6s}  {'final stage':24s}")
    if version:
        head += f"| lmfit {version}: {'nfev':>4s} {'ratio':>6s}"
    print(head)
    for r in rows:
        n = r["ref_default_nfev"]
        split = f"{r['ref_engine_nfev']}+{n - r['ref_engine_nfev']}={n}"
        flag = (f"  <- ends {r['ref_default_dev']:.2g} sigma away"
                if r["ref_default_dev"] > AGREE else "")
        line = (f"{r['points']:6d}  {r['case']:10s} {r['default_nfev']:4d} {r['limit']:5d} "
                f"{split:>10s} {'yes' if n <= r['limit'] else 'NO':>3s} "
                f"{r['ref_default_dev']:7.1e} "
                f"{r['ref_default_time'] / r['raw_default_time']:6.2f}  {r['ref_final']:24s}")
        if version:
            line += (f"| {'':>{len(version) + 7}s}{r['lmfit_default_nfev']:4d} "
                     f"{r['lmfit_default_time'] / r['raw_default_time']:6.2f}")
        print(line + flag)


#: The time ratio (default fit over raw leastsq at its defaults) aimed at
#: from LARGE points up.
RATIO, LARGE = 1.35, 1000


def print_summary(rows):
    """Table 2's rows against the two targets: evaluations, and the time ratio."""
    within = sum(r["ref_default_nfev"] <= r["limit"] for r in rows)
    print(f"Evaluations: default fit within raw leastsq's + 2*nvarys + 2 in "
          f"{within} of {len(rows)} rows.")
    ratio = [r["ref_default_time"] / r["raw_default_time"] for r in rows]
    version = rows[0]["lmfit_version"]
    if version:
        theirs = [r["lmfit_default_time"] / r["raw_default_time"] for r in rows]
        print(f"Time ratio to raw leastsq no worse than lmfit {version}'s in "
              f"{sum(a <= b for a, b in zip(ratio, theirs))} of {len(rows)} rows.")
    else:
        print("Time ratio beside lmfit's: not measured (lmfit is not importable).")
    large = [a for a, r in zip(ratio, rows) if r["points"] >= LARGE]
    if large:
        print(f"Time ratio to raw leastsq at most {RATIO} from {LARGE} points up in "
              f"{sum(a <= RATIO for a in large)} of {len(large)} rows "
              f"(largest {max(large):.2f}).")


def main(sizes=SIZES):
    rows = []
    for npoints in sizes:
        rows += measure(npoints, repeat=5 if npoints < 10000 else 3)
    print("The manual's decaying sine, 4 varying parameters; times: best of 5\n"
          "rounds (3 for 100000 points)\n")
    print_same_algorithm(rows)
    print()
    print_default_fit(rows)
    print()
    print_summary(rows)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                        help="numbers of points (default: %(default)s)")
    main(parser.parse_args().sizes)
