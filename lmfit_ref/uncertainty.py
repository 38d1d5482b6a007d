"""From a Jacobian at the best fit to error bars and to the test that it is a minimum.

Everything here is a pure function of the Jacobian J = dr/dP (in the
user's units, ``differences.py``), the residual r there, and the degrees
of freedom: no evaluations, no state.

Derivation
----------
Near the best fit the residual is nearly linear in the values P:
``r(P + d) ~ r + J d``. The sum of squares of that model is least at the
*Gauss-Newton step*::

    d = -(J^T J)^-1 J^T r                                   (1)

and if the data errors are independent with standard deviation sigma,
the least-squares estimate has covariance ``C = sigma**2 (J^T J)^-1``.
sigma**2 is estimated by the reduced chi-square ``s**2 = r @ r / nfree``
(``scale_covar=True``, the default, as in lmfit 0.5; with
``scale_covar=False`` the user's weighting is trusted and sigma = 1). The
standard error of P_j is ``sqrt(C_jj)`` and the correlation of P_i and P_j
is ``C_ij / sqrt(C_ii C_jj)``.

*The certificate.* Equation (1) says how far the best fit still is from
the stationary point of the linearised problem. Measured in standard
errors, ``z_j = |d_j| / sigma_j``, it is a test of convergence with a
meaning: a point whose every ``z_j`` is below ``CERTIFY`` = 1e-3 is closer to the
minimum than a thousandth of its own error bar, which no statistic can
tell from the minimum itself; a point with ``z_j = 3`` is three error bars
from where the data put P_j, whatever the engine said. The test does not
depend on the units of P or of r, on the number of data, or on how the
engine measured its own progress. (``certify.py`` applies it.)

*Rank.* ``J^T J`` is inverted through the singular value decomposition
of J with its columns scaled to unit length, ``J S^-1 = U diag(w) V^T``
(computed as a QR factorisation of the long matrix, then the SVD of its
small triangle)
(the scaling makes the test independent of each parameter's units). A
singular value below ``RCOND`` times the largest marks a direction in
which the data do not determine the parameters: its right singular vector
names the parameters involved (``a - b``, when only ``a + b`` is
determined). Then there are no error bars; the Gauss-Newton step is the
one of least length (the pseudo-inverse), and measured in the spread of
what is determined.

*Rounding.* A residual that is itself at the level of rounding (a model
fitted to exact data) cannot resolve a step smaller than the rounding
error it carries, about eps times the model's size: the scale s used to
measure the step has that as a floor (`noise_floor`). Nor can a step
smaller than the rounding of P_j itself be taken (``ROUNDING * eps *
|P_j|``, coarser through a bounds transform): such a step counts as none.

*A parameter on its bound* is held there: the error bars of the others
are those of the fit with it fixed (its column left out), and its own
test is the pull of the data inward, ``-J_j . r / |J_j|**2`` in units of
``s / |J_j|``: a bound is a constrained minimum only if the data push
against it.

Notation
--------
J        Jacobian dr/dP at the best fit, shape (N, n)
r        residual there, shape (N,)
nfree    N - n
s        sqrt(r @ r / nfree), the scale of the residuals
C        covariance of P, shape (n, n)
d        Gauss-Newton step (1), shape (n,);  z = |d| / sigma

References: W. H. Press et al., *Numerical Recipes*, 15.4-15.6; G. H.
Golub, C. F. Van Loan, *Matrix Computations*, 5.5 (rank-deficient least
squares); J. E. Dennis, R. B. Schnabel (1983), 7.2 (stopping tests
scaled to the variables).

Book: book/certificate.md
"""
import math
from dataclasses import dataclass

import numpy as np

from .differences import model_size

__all__ = ["CERTIFY", "RCOND", "Analysis", "analyse", "condition", "stderr_correl", "noise_floor"]

#: Relative cutoff on the singular values of the column-scaled J: below
#: it, a direction counts as undetermined. A difference Jacobian carries a
#: relative error of 1e-8 (forward) to 1e-10 (central), so two exactly
#: degenerate columns differ by about that much; error bars from a
#: condition number beyond 1e7 would carry errors of that order anyway.
RCOND = 1.0e-7

#: The certificate: a fit is at a minimum when its Gauss-Newton step is at
#: most this many standard errors in every parameter (or below what can be
#: represented, see ``analyse``).
CERTIFY = 1.0e-3

#: Units of rounding (eps times the model's size) in a computed residual.
ROUNDING = 16.0
EPS = float(np.finfo(float).eps)


@dataclass(frozen=True)
class Analysis:
    """What one Jacobian says about the best fit (see `analyse`)."""

    names: tuple       #: the parameters, in the order of J's columns
    held: tuple        #: indices of parameters held on their bounds
    s2: float          #: the scale of the residuals, s**2 (floored at rounding)
    cov: object        #: covariance of P, shape (n, n) (NaN where held), or None
    step: np.ndarray   #: Gauss-Newton step (1), shape (n,), 0 where held
    z: np.ndarray      #: |step| / sigma, shape (n,); for a held one, its inward pull
    sigma: np.ndarray  #: the standard errors the step is measured in, shape (n,)
    pull: np.ndarray   #: for a held parameter, the 1-d Newton step inward (else 0)
    undetermined: tuple  #: a sentence for each undetermined direction
    kappa: float       #: condition number of the column-scaled J (free columns)

    def worst(self):
        """(index, z) of the parameter furthest from stationary."""
        j = int(np.argmax(self.z)) if len(self.z) else 0
        return j, float(self.z[j]) if len(self.z) else 0.0


def noise_floor(J, r, P):
    """The rounding error of one computed residual: ROUNDING * eps * the model's size.

    The model's size is ``differences.model_size``.

    >>> bool(noise_floor(np.array([[1.0], [1.0]]), np.zeros(2), [2.0]) == 16 * 2.0 * np.finfo(float).eps)
    True
    """
    return ROUNDING * EPS * model_size(J, r, P)


def condition(J):
    """The condition number kappa of J with its columns scaled to unit length, estimated.

    From the eigenvalues of the small matrix ``S^-1 J^T J S^-1`` (kappa is
    the square root of their ratio): one pass over J, no factorisation of
    it. Squaring loses the digits of kappa beyond ~1e7, where it comes out
    huge or inf; it is used only to choose between forward and central
    differences (``certify.py``), for which that is enough.

    >>> round(condition(np.array([[1.0, 1.0], [1.0, -1.0]])), 12)
    1.0
    """
    J = np.asarray(J, dtype=float)
    G = J.T @ J
    d = np.sqrt(np.diagonal(G))
    d = np.where(d > 0, d, 1.0)
    lam = np.linalg.eigvalsh(G / np.outer(d, d))
    return math.sqrt(lam[-1] / lam[0]) if lam.size and lam[0] > 0 else math.inf


def analyse(J, r, nfree, names, P, held=(), sides=None, scale_covar=True, resolution=None):
    """Error bars and the Gauss-Newton step from J = dr/dP at the best fit.

    Parameters
    ----------
    J : ndarray, shape (N, n)
    r : ndarray, shape (N,)
    nfree : int
        N - n.
    names : sequence of str, length n
    P : sequence of float, length n
        The values (to estimate the rounding level, `noise_floor`).
    held : sequence of int
        Parameters held on their bounds (left out of the covariance).
    sides : sequence of int, optional
        For each held parameter, +1 if it is on its lower bound (inside is
        up), -1 if on its upper.
    scale_covar : bool
        Scale the covariance by the reduced chi-square.
    resolution : ndarray, shape (n,), optional
        The smallest change of each P_j that can be represented (through a
        bounds transform it is coarser than P's own rounding).

    Returns
    -------
    Analysis

    Examples
    --------
    >>> x = np.linspace(0.0, 1.0, 5)
    >>> J = np.column_stack([x, np.ones(5)])            # r = a*x + b - y
    >>> r = np.array([0.1, -0.1, 0.0, -0.1, 0.1])      # orthogonal to J: a minimum
    >>> out = analyse(J, r, 3, ['a', 'b'], [1.0, 1.0])
    >>> bool(out.z.max() < 1e-12), [round(float(v), 4) for v in np.sqrt(np.diag(out.cov))]
    (True, [0.1461, 0.0894])
    >>> out = analyse(np.column_stack([x, x]), r, 3, ['a', 'b'], [1.0, 1.0])
    >>> out.cov is None, out.undetermined
    (True, ('a and b are not determined separately: only a + b is',))
    """
    J = np.asarray(J, dtype=float)
    r = np.asarray(r, dtype=float)
    n = J.shape[1]
    held = tuple(sorted(held))
    keep = [j for j in range(n) if j not in held]
    chi2 = float(r @ r)
    s2_data = chi2 / nfree if nfree > 0 else math.nan
    floor = noise_floor(J, r, P) ** 2
    s2 = max(s2_data if nfree > 0 else chi2 / max(len(r), 1), floor)

    Jk = J[:, keep] if held else J  # (no copy, and J's memory order, when none is held)
    norms = np.sqrt(np.einsum("ij,ij->j", Jk, Jk))
    safe = np.where(norms > 0, norms, 1.0)
    # J S^-1 = Q R (Q: N x k, orthonormal columns), then R = U_R diag(w) V^T:
    # the SVD of J S^-1 is (Q U_R) diag(w) V^T. The long matrix is touched
    # once, by the QR, and Q is never formed: only Q^T r is needed, and it
    # is the last column of the triangle of the QR of [J S^-1 | r].
    k = Jk.shape[1]
    A = np.empty((len(r), k + 1), order="F")  # (by columns, as LAPACK works)
    np.divide(Jk, safe, out=A[:, :k])
    A[:, k] = r
    Rr = np.linalg.qr(A, mode="r")
    R, Qtr = Rr[:k, :k], Rr[:k, k]
    U, w, Vt = np.linalg.svd(R)
    rank = int(np.sum(w > RCOND * w[0])) if w.size and w[0] > 0 else 0
    kappa = float(w[0] / w[-1]) if w.size and w[-1] > 0 else math.inf
    V, Ur, wr = Vt[:rank].T, U[:, :rank], w[:rank]
    # The Gauss-Newton step (1), -pinv(J) r, in P (columns unscaled), 0 where held.
    step = np.zeros(n)
    step[keep] = -(V @ ((Ur.T @ Qtr) / wr)) / safe

    # (J^T J)^+ in P units: V diag(1/w**2) V^T, unscaled by the column norms.
    inv = (V / wr**2) @ V.T / np.outer(safe, safe)
    # The step is measured in the error bars the fit will have at the
    # minimum: s from the residual the linear model predicts there,
    # ``r + J d``. (At a point far from the minimum, r itself carries the
    # misfit and would inflate s, understating the distance.)
    predicted = r + J @ step
    s2_min = float(predicted @ predicted) / (nfree if nfree > 0 else max(len(r), 1))
    s2 = max(min(s2, s2_min), floor)
    sigma_cert = np.zeros(n)
    sigma_cert[keep] = np.sqrt(np.maximum(np.diagonal(inv), 0.0) * s2)
    # A step below the rounding of P itself (or `resolution`) cannot be
    # taken: it counts as no step (z <= CERTIFY).
    smallest = ROUNDING * EPS * np.abs(np.asarray(P, dtype=float))
    if resolution is not None:
        smallest = np.maximum(smallest, resolution)
    sigma_cert = np.maximum(sigma_cert, smallest / CERTIFY)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sigma_cert > 0, np.abs(step) / sigma_cert, np.where(step == 0, 0.0, math.inf))
    pull = np.zeros(n)
    for i, j in enumerate(held):  # the inward pull of the data on a held parameter
        norm = math.sqrt(float(J[:, j] @ J[:, j]))
        side = 1 if sides is None else sides[i]
        newton = -float(J[:, j] @ r) / norm**2 if norm > 0 else 0.0
        pull[j] = newton if side * newton > 0 else 0.0
        z[j] = abs(pull[j]) * norm / math.sqrt(s2)

    undetermined = _describe_null(Vt[rank:], [names[j] for j in keep], safe, norms)
    cov = None
    if not undetermined and nfree > 0:
        cov = np.full((n, n), math.nan)
        cov[np.ix_(keep, keep)] = inv * (s2_data if scale_covar else 1.0)
    return Analysis(tuple(names), held, s2, cov, step, z, sigma_cert, pull, undetermined,
                    kappa)


def _describe_null(null_rows, names, scale, norms):
    """One sentence per undetermined direction (rows of V^T with w ~ 0)."""
    out = []
    for v in null_rows:
        dP = v / scale  # the direction in P's own units
        big = np.abs(v) >= 0.05 * np.abs(v).max()
        who = [i for i in np.flatnonzero(big)]
        if len(who) == 1:
            j = who[0]
            why = "has no effect on the residual" if norms[j] == 0 else "is not determined"
            out.append(f"{names[j]} {why}")
        elif len(who) == 2:
            i, j = who
            k = -dP[i] / dP[j]  # a + c*b is unchanged along dP when c = -dP_a/dP_b
            c = f"{abs(k):.6g}*" if not math.isclose(abs(k), 1.0, rel_tol=1e-6) else ""
            out.append(f"{names[i]} and {names[j]} are not determined separately: only "
                       f"{names[i]} {'+' if k > 0 else '-'} {c}{names[j]} is")
        else:
            listed = ", ".join(names[j] for j in who[:-1]) + f" and {names[who[-1]]}"
            out.append(f"{listed} are not determined separately (a combination of them "
                       "leaves the residual unchanged)")
    return tuple(out)


def stderr_correl(cov, names):
    """Standard errors and correlations from a covariance matrix.

    Parameters
    ----------
    cov : ndarray, shape (n, n)
    names : sequence of str, length n

    Returns
    -------
    stderr : list of float or None, length n
        ``None`` where the variance is not a positive finite number.
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
