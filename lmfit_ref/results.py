"""From the final stage's verdict to the error bars on the Parameters.

The covariance comes from ``uncertainty.analyse`` at the certified point
(in the user's units; a parameter held on its bound left out). Here it is
written where the manual says (3.3): ``stderr`` and ``correl`` on each
varying Parameter, ``covar`` on the Minimizer, and propagated to the
constrained parameters (``constraints.propagate``). What cannot be
estimated is ``None``, with the reason returned for the fit's message.

Book: book/uncertainties.md
"""
from .constraints import propagate
from .uncertainty import stderr_correl

__all__ = ["write_uncertainties"]


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
