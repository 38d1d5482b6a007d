"""From the engine's covariance to standard errors and correlations.

Derivation
----------
Near the best fit the residual is nearly linear in the internal variables
u: ``r(u) ~ r(u*) + J (u - u*)``, with ``J = dr/du`` the N x n Jacobian.
If the data errors are independent with standard deviation sigma (already
divided out by the residual function, so sigma = 1 when it is right), the
least-squares estimate has covariance::

    C_u = sigma**2 * (J^T J)^-1

MINPACK returns ``cov_x = (J^T J)^-1`` computed from the QR factorisation
of J at the solution; it carries no sigma.

*Scaling.* When the residual is not divided by trustworthy errors, sigma**2
is estimated from the scatter of the fit itself, by the reduced chi-square
``redchi = chisqr / nfree`` (its expectation is sigma**2 for a correct
linear model). ``scale_covar=True`` (the default, as in lmfit 0.5) does
this; ``scale_covar=False`` trusts the user's weighting and takes
sigma = 1. With ``scale_covar=True`` the error bars do not change when all
residuals are multiplied by a constant; that is the point.

*Bounds.* The engine worked in u, the user reads P. To first order
``dP = D du`` with ``D = diag(dP/du)`` (``bounds.slope``), so::

    C_P = D C_u D,    stderr_i = sqrt(C_P[i, i]),
    correl_ij = C_P[i, j] / (stderr_i * stderr_j)

A parameter that ends on its bound has ``dP/du = 0``: its row and column
of C_P vanish, and its standard error cannot be estimated (it is reported
as ``None``, not 0).

Notation
--------
J         Jacobian of the residual with respect to u, shape (N, n)
cov_u     (J^T J)^-1 in internal coordinates, shape (n, n)
dP_du     vector of dP/du at the solution, shape (n,)
redchi    chisqr / nfree
cov       covariance of the external values P, shape (n, n)

References: W. H. Press et al., *Numerical Recipes*, 15.4-15.6;
F. James, *MINUIT Reference Manual*, 1.3.1 (errors with limits).

Book: book/uncertainties.md
"""
import math

import numpy as np

__all__ = ["external_covariance", "conditional_covariance", "stderr_correl"]


def external_covariance(cov_u, dP_du, redchi=1.0, scale_covar=True):
    """Covariance of the external values: ``D cov_u D``, times redchi if scaled.

    Parameters
    ----------
    cov_u : ndarray, shape (n, n)
        ``(J^T J)^-1`` in internal coordinates, as MINPACK returns it.
    dP_du : array_like, shape (n,)
        Slope of each parameter's bounds transform at the solution.
    redchi : float
        Reduced chi-square of the fit.
    scale_covar : bool
        Multiply by `redchi` (estimate sigma**2 from the fit).

    Returns
    -------
    cov : ndarray, shape (n, n)

    Examples
    --------
    >>> external_covariance(np.eye(2), [2.0, 1.0], redchi=3.0)
    array([[12.,  0.],
           [ 0.,  3.]])
    >>> external_covariance(np.eye(2), [2.0, 1.0], redchi=3.0, scale_covar=False)
    array([[4., 0.],
           [0., 1.]])
    """
    D = np.asarray(dP_du, dtype=float)
    scale = redchi if scale_covar else 1.0
    # (D C D)_ij = D_i C_ij D_j: scale the columns by D, the rows by D * scale.
    return (cov_u * D) * (D * scale)[:, None]


def conditional_covariance(jtj, keep):
    """Covariance (in u, unscaled) of the parameters `keep`, the others held fixed.

    A parameter that ends on its bound has no error bar of its own, and the
    engine's full covariance is unreliable in its row and column (it came
    from a Jacobian at an earlier iterate, where dP/du was not yet ~0). The
    other parameters' covariance is taken with it held where it is: invert
    only the kept block of the normal matrix,
    ``C_kk = ((J^T J)_kk)^-1`` (the Schur complement of the full inverse),
    which is what a refit with those parameters fixed would report.

    Parameters
    ----------
    jtj : ndarray, shape (n, n)
    keep : list of int
        Indices of the parameters to keep.

    Returns
    -------
    cov : ndarray, shape (n, n), or None
        The kept block filled in, NaN in the rows and columns of the others;
        None if the kept block is singular too.

    Examples
    --------
    >>> conditional_covariance(np.array([[2.0, 1.0], [1.0, 1.0]]), [0])
    array([[0.5, nan],
           [nan, nan]])
    """
    n = len(jtj)
    cov = np.full((n, n), np.nan)
    if not keep:
        return cov
    block = np.asarray(jtj)[np.ix_(keep, keep)]
    try:
        inverse = np.linalg.inv(block)
    except np.linalg.LinAlgError:
        return None
    cov[np.ix_(keep, keep)] = inverse
    return cov


def stderr_correl(cov, names):
    """Standard errors and correlations from a covariance matrix.

    Parameters
    ----------
    cov : ndarray, shape (n, n)
    names : sequence of str, length n

    Returns
    -------
    stderr : list of float or None, length n
        ``None`` where the variance is not a positive finite number (the
        parameter's effect on the fit is nil to first order: at a bound,
        or degenerate with others).
    correl : list of dict or None, length n
        ``correl[i][names[j]]`` for every other j with a stderr; ``None``
        where ``stderr[i]`` is ``None``.

    Examples
    --------
    >>> cov = np.array([[4.0, 1.2], [1.2, 1.0]])
    >>> stderr, correl = stderr_correl(cov, ['a', 'b'])
    >>> stderr, correl[0]
    ([2.0, 1.0], {'b': 0.6})
    >>> stderr_correl(np.diag([1.0, 0.0]), ['a', 'b'])[0]
    [1.0, None]
    """
    # Plain Python on a nested list: for the few parameters of a typical
    # fit this is several times faster than NumPy's per-call overhead.
    C = np.asarray(cov, dtype=float).tolist()
    stderr = []
    for i, row in enumerate(C):
        var = row[i]  # NaN fails both tests, so it gives None too
        stderr.append(math.sqrt(var) if 0.0 < var < math.inf else None)
    correl = []
    for i, (row, si) in enumerate(zip(C, stderr)):
        if si is None:
            correl.append(None)
            continue
        correl.append({name: cij / (si * sj)
                       for j, (name, cij, sj) in enumerate(zip(names, row, stderr))
                       if j != i and sj is not None})
    return stderr, correl
