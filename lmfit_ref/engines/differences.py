"""The Jacobian by central differences, with the step that balances its two errors.

A difference quotient has two errors. *Truncation*: the Taylor series of
r(u + h) - r(u - h) has no even terms, so the central quotient is off by
about ``h**2 |r'''| / 6``; the forward quotient ``(r(u + h) - r(u)) / h``
by ``h |r''| / 2``. *Rounding*: each r value carries a relative error of
about eps = 2.2e-16, which the division by h magnifies to ``eps |r| / h``.
Their sum is least at::

    forward:  h ~ eps**(1/2) |u|    error ~ eps**(1/2) ~ 1e-8
    central:  h ~ eps**(1/3) |u|    error ~ eps**(2/3) ~ 4e-11

(with |u| setting the scale of the variable). MINPACK's lmdif uses the
forward quotient, one extra evaluation per column and about 8 correct
digits; that is plenty for choosing a step, but it caps how well the
solution and its covariance can be pinned down. The central quotient costs
two evaluations per column and gives about 10 digits; the NIST chapter
shows what that buys.

The quotient divides by the step the arithmetic actually took,
``(u + h) - (u - h)``, not by 2h.

*Where the model is not finite.* A model that overflows just past u (an
exponential of a large argument, a pole) gives a residual the hot path
refuses (``FloatingPointError``). The quotient then uses the other side of
u; only when both sides fail is it an error.

Notation
--------
u      internal vector, shape (n,)
r      residual vector, shape (N,)
J      Jacobian dr/du, shape (N, n)
h      step of column j

References: P. E. Gill, W. Murray, M. H. Wright, *Practical Optimization*
(1981), 8.6; J. E. Dennis, R. B. Schnabel, *Numerical Methods for
Unconstrained Optimization and Nonlinear Equations* (1983), 5.4.

Book: book/nist.md
"""
import numpy as np

#: Relative step of the central quotient, eps**(1/3) ~ 6.1e-6.
RELATIVE_STEP = float(np.finfo(float).eps ** (1.0 / 3.0))




def _evaluate(residual, u):
    """``residual(u)`` as a fresh float array, or None where it is not finite.

    The hot path raises ``FloatingPointError`` (``objective.NonFiniteResidual``)
    for a non-finite residual.
    """
    try:
        return np.array(residual(u), dtype=float)
    except FloatingPointError:
        return None


def central_differences(residual, u, rel_step=RELATIVE_STEP, scale=None):
    """J = dr/du at `u` by central differences: 2n evaluations, error O(h**2).

    Column j is ``(r(u + h e_j) - r(u - h e_j)) / ((u_j + h) - (u_j - h))``
    with ``h = rel_step * max(|u_j|, scale_j)``, or ``rel_step`` itself
    where both are 0. Where one side is not finite, the one-sided quotient
    of the other side and ``r(u)`` is used.

    The step must be relative to the size on which the residual changes.
    ``|u_j|`` is that size for most parameters, but not for one near 0: a
    slope of 1e-13 known to +/- 5e-3 would get a step of 6e-19, which moves
    no residual by more than its rounding. `scale` (the parameter's
    standard error, or 1 when nothing better is known) sets a floor.

    Parameters
    ----------
    residual : callable
        ``residual(u) -> ndarray, shape (N,)``. It may reuse its output
        array between calls: each result is copied before the next call.
    u : ndarray, shape (n,)
    rel_step : float, optional
    scale : array_like, shape (n,), or None
        The typical size of each u_j, a floor under ``|u_j|``.

    Returns
    -------
    J : ndarray, shape (N, n)

    Raises
    ------
    FloatingPointError
        If the residual is not finite at u, or on both sides of it.

    Examples
    --------
    >>> J = central_differences(lambda u: np.array([u[0] * u[1], u[0] ** 2]), np.array([2.0, 3.0]))
    >>> np.round(J, 8).tolist()
    [[3.0, 2.0], [4.0, 0.0]]
    >>> f = lambda u: np.array([1.0, 2.0]) * u[0] + 1.0  # exact column: [1, 2]
    >>> central_differences(f, np.array([1e-13]))[:, 0].round(3).tolist()  # step 6e-19: rounding
    [0.0, 0.0]
    >>> central_differences(f, np.array([1e-13]), scale=[1.0])[:, 0].round(6).tolist()
    [1.0, 2.0]
    """
    u = np.array(u, dtype=float)
    floor = [0.0] * u.size if scale is None else [abs(float(s)) for s in scale]
    r0 = None
    columns = []
    for j, uj in enumerate(u.tolist()):
        h = rel_step * max(abs(uj), floor[j]) or rel_step
        up, down = u.copy(), u.copy()
        up[j] = uj + h
        down[j] = uj - h
        r_up, r_down = _evaluate(residual, up), _evaluate(residual, down)
        if r_up is not None and r_down is not None:
            columns.append((r_up - r_down) / (up[j] - down[j]))  # the steps actually taken
            continue
        if r0 is None:
            r0 = np.array(residual(u), dtype=float)
        if r_up is not None:
            columns.append((r_up - r0) / (up[j] - uj))
        elif r_down is not None:
            columns.append((r0 - r_down) / (uj - down[j]))
        else:
            residual(up)  # raises, with the hot path's account of the fault
    return np.column_stack(columns)


def step_floor(jtj_diagonal, r):
    """A floor under each difference step: u_j's standard error with the others held, at most 1.

    ``sigma_j = sqrt(s**2 / (J^T J)_jj)`` with ``s**2 = r @ r / (N - n)``: how
    far u_j can move before the sum of squares notices, which is the scale
    on which the residual changes with it. It needs no matrix inverse, so
    it exists even when ``J^T J`` is singular, and a column that is ~0 (a
    parameter on its bound's fold) gives a large sigma_j, capped at 1
    (MINPACK's unit scale). Where ``|u_j| >= sigma_j`` the floor changes
    nothing: the relative step ``rel_step * |u_j|`` is then the smaller.

    Parameters
    ----------
    jtj_diagonal : ndarray, shape (n,)
        The diagonal of ``J^T J``.
    r : ndarray, shape (N,)
        The residual at the solution.

    Returns
    -------
    ndarray, shape (n,)

    Examples
    --------
    >>> step_floor(np.array([4.0, 0.0]), np.full(6, 0.5)).round(6).tolist()  # s**2 = 1.5 / 4
    [0.306186, 1.0]
    """
    n = len(jtj_diagonal)
    nfree = len(r) - n
    s2 = float(r @ r) / nfree if nfree > 0 else 1.0
    d = np.asarray(jtj_diagonal, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(s2 / d)
    return np.where(np.isfinite(sigma) & (d > 0), np.minimum(sigma, 1.0), 1.0)


def with_floored_steps(residual, u, jtj_diagonal, r):
    """J at a solution again, where a step relative to |u_j| was too small; else None.

    A Jacobian for error bars, taken with ``rel_step * |u_j|`` steps, is
    noise in the column of a parameter near 0 that is known to +/- sigma_j
    >> |u_j|: the step moves no residual beyond its rounding, and the error
    bar comes out confident and wrong. Where ``|u_j| < sigma_j``
    (`step_floor`, from the diagonal of the first J^T J), the Jacobian is
    computed again with sigma_j as the floor under the step: 2n more
    evaluations.

    Parameters
    ----------
    residual : callable
    u : ndarray, shape (n,)
    jtj_diagonal : ndarray, shape (n,)
        The diagonal of ``J^T J`` from the first Jacobian.
    r : ndarray, shape (N,)
        The residual at `u`.

    Returns
    -------
    J : ndarray, shape (N, n), or None
        None if no step needed a floor, or if the larger steps met a
        non-finite residual on both sides (then the first J stands).

    Examples
    --------
    >>> x = np.linspace(0.0, 1.0, 5)
    >>> f = lambda u: u[0] * x - np.array([0.01, -0.02, 0.0, 0.02, -0.01])
    >>> J = with_floored_steps(f, np.array([1e-13]), np.array([0.0]), f(np.array([1e-13])))
    >>> np.allclose(J[:, 0], x)
    True
    >>> with_floored_steps(f, np.array([2.0]), np.array([1.875]), f(np.array([2.0]))) is None
    True
    """
    floor = step_floor(jtj_diagonal, r)
    if not (np.abs(u) < floor).any():
        return None
    try:
        return central_differences(residual, u, scale=floor)
    except FloatingPointError:
        return None
