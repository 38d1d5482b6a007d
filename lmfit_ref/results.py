"""The end of a fit: the final stage, then the Table of Fit Results and the error bars.

The covariance comes from ``uncertainty.analyse`` at the certified point
(in the user's units; a parameter held on its bound left out). Here it is
written where the manual says (3.3): ``stderr`` and ``correl`` on each
varying Parameter, ``covar`` on the Minimizer, and propagated to the
constrained parameters (``constraints.propagate``). What cannot be
estimated is ``None``, with the reason returned for the fit's message.

Book: book/uncertainties.md
"""
import math

import numpy as np

from .certify import certify
from .constraints import propagate
from .uncertainty import stderr_correl

__all__ = ["finish_fit", "write_uncertainties"]


def write_uncertainties(fit, verdict):
    """Set stderr, correl and covar of a finished fit; return what went wrong.

    `fit` is the Minimizer (its params, varying parameters, nfree, success,
    constraints); `verdict` the final stage's (``certify.Verdict``).
    Returns a list of sentences, empty if every error bar was estimated.
    """
    fit.covar = None
    # deviation: a stderr that could not be estimated is None, never a
    # silent 0, and errorbars is False with the reason in the message.
    for par in fit.params.values():
        # A fixed parameter is not estimated: its uncertainty within this
        # fit is exactly zero (the manual's 2.4 prints it with %.4f). A
        # constrained one gets a propagated error below, if it can.
        fixed = not par.vary and par.expr is None
        par.stderr, par.correl = (0.0, None) if fixed else (None, None)
    out = verdict.analysis
    # A parameter on its bound has no Gaussian error bar (the manual's
    # 3.4); the others get the covariance with it held there.
    # deviation: lmfit 0.5 reported whatever the engine's covariance gave
    # for a parameter on its bound and kept it in the others' errors.
    problems = [f"{par.name!r} ended at its bound (value {par.value!r}, bounds "
                f"[{par.min}, {par.max}]), where dP/du is ~0"
                for par, flag in zip(fit._varying, verdict.on_bound) if flag]
    if fit.nfree <= 0:
        return problems + [f"no degrees of freedom ({fit.ndata} residuals for "
                           f"{fit.nvarys} variables)"]
    if out.undetermined:
        return problems + list(out.undetermined)
    if not fit.success:
        return problems + ["the fit is not at a minimum"]
    fit.covar = out.cov
    stderr, correl = stderr_correl(fit.covar, fit.var_names)
    for par, s, c, flag in zip(fit._varying, stderr, correl, verdict.on_bound):
        if s is None and not flag:
            problems.append(f"the variance of {par.name!r} is not a positive number")
        par.stderr, par.correl = s, c
    if fit._constraints:
        propagate(fit._constraints, fit._varying, fit.covar)
    return problems


def finish_fit(fit, result, obj, polish, maxfev, final_stage):
    """Certify the engine's point, write it back, compute the Table of Fit Results.

    `fit` is the Minimizer; `result` the engine's ``EngineResult``; `obj`
    the fit's ``Objective``. With `final_stage` False (the sub-fits of a
    confidence search) the engine's own verdict is reported and no error
    bars are computed.
    """
    u = result.u
    fvec = result.fvec if result.fvec is not None else np.array(obj.residual(u))
    fit.ndata = len(fvec)
    fit.nfree = fit.ndata - fit.nvarys
    if maxfev is None and fit.engine == "leastsq":
        maxfev = 1000 * (fit.nvarys + 1)
    verdict = None
    if final_stage:
        # deviation: lmfit 0.5 reported the engine's own verdict and
        # covariance; here every fit is certified after its engine.
        verdict = certify(obj, u, fvec, fit.var_names, fit.nfree, polish=polish,
                          maxfev=maxfev, scale_covar=fit.scale_covar, start=fit._u0)
        u, fvec = verdict.u, verdict.r
    # Leave the Parameters at the best point: the last call may have
    # been a rejected trial or a difference step.
    for par, v in zip(fit._varying, obj.values(u)):
        par._value = v
    if fit._constraints:
        symtable = fit._asteval.symtable
        for par in fit._varying:
            symtable[par.name] = par._value
        fit._constraints.evaluate()

    # deviation: nfev counts every call of the user's function (the
    # Jacobians' and the final stage's included), where lmfit 0.5
    # reported MINPACK's own count.
    fit.nfev = obj.evaluations()
    fit.engine_info = dict(result.info)
    fit.ier = result.info.get("ier")
    fit.lmdif_message = result.info.get("lmdif_message")
    fit.residual = fvec
    fit.chisqr = float(fvec @ fvec)
    fit.redchi = fit.chisqr / fit.nfree if fit.nfree > 0 else math.nan
    message = " ".join(str(result.message).split())
    if verdict is None:
        fit.success = bool(result.success)
        fit.message = f"{'Fit succeeded' if fit.success else 'Fit did not converge'}: {message}"
        fit.covar, fit.errorbars = None, False
        return
    fit.engine_info.update(certificate=float(verdict.distance),
                            jacobian=verdict.jacobian, final_stage=verdict.notes)
    # A certified point is a minimum, whatever the engine's own test said.
    fit.success = verdict.certified
    status = "Fit succeeded" if fit.success else "Fit did not converge"
    fit.message = f"{status}: {message}"
    if not fit.message.endswith("."):  # (MINPACK's own messages have no full stop)
        fit.message += "."
    if verdict.notes:
        fit.message += " Then " + "; ".join(verdict.notes) + "."
    if verdict.limits:
        fit.message += " Note: " + "; ".join(verdict.limits) + "."
    if verdict.problems:
        fit.message += " Not certified: " + "; ".join(verdict.problems) + "."
    problems = write_uncertainties(fit, verdict)
    fit.errorbars = fit.success and not problems
    if problems:
        fit.message += " Uncertainties not estimated: " + "; ".join(problems) + "."
