"""Evaluations spent, and accuracy reached, on the 54 NIST StRD cases.

The question: the default fit starts with ``factor=1`` and ends with the
final stage (``lmfit_ref/certify.py``): a Jacobian at the best point, the
Gauss-Newton step measured in standard errors, and, where that is not
yet small enough, the polish (MINPACK again from there, with a
central-difference Jacobian and tolerances near machine epsilon; if that
cannot certify the point, once more from the start). What does that cost
in evaluations over the 27 NIST problems from both starting points, and
what does it buy?

Each case (``lmfit_ref.nist``: data, starts, certified values and standard
deviations) is fitted from its start by

* lmfit_ref's default fit;
* lmfit_ref with ``polish=False, factor=100`` (lmfit 0.5's engine
  settings, with the certificate but without the polish);
* raw ``scipy.optimize.leastsq`` at SciPy's defaults, on ``y - model(b, x)``
  (``log(y)`` for Nelson) written for a plain vector; its standard errors
  are ``sqrt(diag(cov_x) * RSS / (N - P))``;
* if the published ``lmfit`` is importable (never required), its
  ``minimize`` at its defaults, with the same residual read from lmfit's
  Parameters.

Evaluations are counted by a counter inside the residual (every call,
independent of each library's ``nfev``). Accuracy is NIST's log relative
error, ``LRE = -log10(|q - q_cert| / |q_cert|)`` capped at 11, taken as the
worst over a case's parameters (0 where a fit raised, or a stderr is
missing). A case passes on values at LRE >= 6 and on standard errors at
LRE >= 4. Lanczos1's certified RSS (1.4e-25) is below what double
precision can reach, so its standard errors, which scale with
``sqrt(RSS)``, are compared after scaling by ``sqrt(certified RSS / RSS)``.

Run: ``python3 tasks.py bench`` (all benchmarks), or
``.venv/bin/python benchmarks/nist_evaluations.py``.
"""
import math
import warnings

import numpy as np
from scipy.optimize import leastsq

import lmfit_ref
from lmfit_ref import nist

DIGITS = 11.0


def lre(found, certified):
    """NIST's log relative error, capped at 11 digits; 0 for a missing or non-finite value."""
    if found is None or not math.isfinite(found):
        return 0.0
    if found == certified:
        return DIGITS
    return min(DIGITS, max(0.0, -math.log10(abs(found - certified) / abs(certified))))


def counting(fcn):
    """`fcn` with a call counter: returns (wrapped, counter list)."""
    calls = [0]

    def wrapped(*args):
        calls[0] += 1
        return fcn(*args)
    return wrapped, calls


def fit_ref(ds, start, **kws):
    params = ds.parameters(start)
    fcn, calls = counting(ds.residual)
    out = lmfit_ref.minimize(fcn, params, args=ds.args, **kws)
    return ([params[n].value for n in ds.names], [params[n].stderr for n in ds.names],
            out.chisqr, calls[0])


def fit_scipy(ds, start):
    observed = np.log(ds.y) if ds.name == "Nelson" else ds.y

    def residual(b, x, y):
        with np.errstate(all="ignore"):  # a trial step may overflow the model
            return y - ds.model(b, x)
    fcn, calls = counting(residual)
    b, cov, info, _, _ = leastsq(fcn, ds.starts[start - 1], args=(ds.x, observed),
                                 full_output=True)
    rss = float(info["fvec"] @ info["fvec"])
    nfree = len(ds.y) - ds.nparams
    stderr = ([math.sqrt(c * rss / nfree) if c > 0 else None for c in np.diag(cov)]
              if cov is not None else [None] * ds.nparams)
    return list(b), stderr, rss, calls[0]


def published_lmfit():
    """The published ``lmfit`` if it is importable, else None (never required)."""
    try:
        import lmfit
    except ImportError:
        return None
    return lmfit


def fit_lmfit(ds, start):
    lmfit = published_lmfit()
    params = lmfit.Parameters()
    for name, value in zip(ds.names, ds.starts[start - 1]):
        params.add(name, value=float(value))
    fcn, calls = counting(ds.residual)
    out = lmfit.minimize(fcn, params, args=ds.args)
    return ([out.params[n].value for n in ds.names], [out.params[n].stderr for n in ds.names],
            out.chisqr, calls[0])


def methods(with_lmfit=True):
    """The fits to compare: label -> fit(ds, start)."""
    out = {"lmfit_ref default": fit_ref,
           "lmfit_ref polish=False, factor=100": lambda ds, s: fit_ref(ds, s, polish=False,
                                                                       factor=100),
           "scipy leastsq, its defaults": fit_scipy}
    other = published_lmfit() if with_lmfit else None
    if other is not None:
        out[f"lmfit {other.__version__}, its defaults"] = fit_lmfit
    return out


def score(ds, values, stderr, chisqr):
    """Worst LRE over the parameters: (values, standard errors)."""
    v = min(lre(f, c) for f, c in zip(values, ds.certified_values))
    scale = 1.0
    if ds.name == "Lanczos1" and chisqr and chisqr > 0:
        scale = math.sqrt(ds.certified_rss / chisqr)
    s = min(lre(None if e is None else e * scale, c)
            for e, c in zip(stderr, ds.certified_stderr))
    return v, s


def run_all(names=nist.NAMES, with_lmfit=True):
    """Fit every case with every method; a list of rows (one per case and method)."""
    rows = []
    fits = methods(with_lmfit)
    for name in names:
        ds = nist.load(name)
        for start in (1, 2):
            for label, fit in fits.items():
                row = {"name": name, "start": start, "method": label}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        values, stderr, chisqr, calls = fit(ds, start)
                        row["values_lre"], row["stderr_lre"] = score(ds, values, stderr, chisqr)
                        row["nfev"], row["error"] = calls, None
                    except Exception as err:  # a fit that raises scores 0
                        row.update(values_lre=0.0, stderr_lre=0.0, nfev=None,
                                   error=f"{type(err).__name__}: {str(err)[:50]}")
                rows.append(row)
    return rows


def summary(rows):
    """Per method: cases, total evaluations, cases at value LRE >= 6, stderr LRE >= 4, raised."""
    out = {}
    for r in rows:
        s = out.setdefault(r["method"], {"cases": 0, "nfev": 0, "values6": 0, "stderr4": 0,
                                         "raised": 0})
        s["cases"] += 1
        s["nfev"] += r["nfev"] or 0
        s["values6"] += r["values_lre"] >= 6
        s["stderr4"] += r["stderr_lre"] >= 4
        s["raised"] += r["error"] is not None
    return out


def print_summary(rows):
    print("NIST StRD nonlinear regression, 27 problems x 2 starts; calls counted\n"
          "inside the residual; cases at value LRE >= 6 and stderr LRE >= 4\n")
    print(f"{'method':34s} {'cases':>5s} {'calls':>6s} {'values':>6s} {'stderr':>6s} "
          f"{'raised':>6s}")
    for label, s in summary(rows).items():
        print(f"{label:34s} {s['cases']:5d} {s['nfev']:6d} {s['values6']:6d} "
              f"{s['stderr4']:6d} {s['raised']:6d}")
    print("(the calls of a fit that raised are not counted)")


def print_cases(rows):
    labels = list(dict.fromkeys(r["method"] for r in rows))
    short = {label: label.split(",")[0].replace("lmfit_ref polish=False", "no polish")
             for label in labels}
    print("Per case: calls / worst value LRE / worst stderr LRE\n")
    print(f"{'case':12s}" + "".join(f" {short[lb][:19]:>19s}" for lb in labels))
    by_case = {}
    for r in rows:
        by_case.setdefault((r["name"], r["start"]), {})[r["method"]] = r
    for (name, start), cases in by_case.items():
        cells = []
        for lb in labels:
            r = cases[lb]
            cells.append("raised" if r["error"] else
                         f"{r['nfev']:d}/{r['values_lre']:.1f}/{r['stderr_lre']:.1f}")
        print(f"{name + ' ' + str(start):12s}" + "".join(f" {c:>19s}" for c in cells))


def main():
    rows = run_all()
    print_summary(rows)
    print()
    print_cases(rows)
    return rows


if __name__ == "__main__":
    main()
