"""Finite-difference Jacobians in the user's units, and the rule for their steps.

The Jacobian of the residual, ``J[:, j] = dr/dP_j``, is estimated by
stepping one parameter at a time. Every step here is taken in the
parameter's own units, P, and scaled to P's own size. The engines move the
internal variable u of a bounds transform (``bounds.py``); the Jacobian
they need, dr/du, then follows by the chain rule through the analytic
slope: ``dr/du_j = dr/dP_j * dP_j/du_j``. A step is never scaled to u: near
the middle of two bounds u is ~0, and a step relative to |u| vanishes; far
from a single distant bound u is about the distance to it, and a step
relative to |u| is huge in P.

The step
--------
A difference quotient has two errors. *Truncation*: by Taylor's theorem
the forward quotient ``(r(P + h) - r(P)) / h`` is off by about
``h |r''| / 2``; in the central quotient ``(r(P + h) - r(P - h)) / 2h`` the
even terms cancel and the error is about ``h**2 |r'''| / 6``. *Rounding*:
each r carries a relative error of about eps = 2.2e-16, which the division
by h magnifies to ``eps |r| / h``. If P changes r on a scale ``L`` (so that
``r'' ~ r / L**2``, ``r''' ~ r / L**3``), the sum of the two errors is least
at::

    forward:  h = eps**(1/2) L    relative error ~ eps**(1/2) ~ 1.5e-8
    central:  h = eps**(1/3) L    relative error ~ eps**(2/3) ~ 3.7e-11

(differentiate ``h/L + eps L/h`` and ``(h/L)**2 + eps L/h`` in h). The
forward quotient costs one evaluation per parameter and is what the
engines use while they iterate; the central one costs two and is what the
final certificate and error bars use when they need accuracy
(``certify.py``).

The scale L of a parameter is its magnitude, ``|P_j|``, with a *floor*
for parameters near 0: a slope of 1e-13 known to +/- 5e-3 would otherwise
get a step of 1e-21, which moves no residual beyond its rounding. The
floor is the parameter's standard error with the others held, ``sigma_j =
s / |J[:, j]|`` from the previous Jacobian (`sigma_held`): how far P_j
must move to change chi-square by one s**2, which is exactly the scale on
which the residual changes with it. Before the first Jacobian the floor
is the starting value's magnitude (1 if it is 0); it is never more than
``max(|P_j|, 1)``: a parameter that barely acts has a huge sigma, which
says nothing of the scale on which r bends. A step that still moves
no residual beyond rounding (a start at 1e-20 for a parameter of size 1)
is enlarged 1e4-fold until it does, up to the step for a scale of
``max(|P_j|, 1)``.

Bounds: a step never leaves ``[min, max]``. Where the room on one side is
too small, the quotient is taken on the other side (one-sided); where the
residual is not finite on one side (the model overflows, or returns NaN
once), the other side is used too. Only when both sides fail is it an
error. The quotient divides by the step the arithmetic actually took.

Notation
--------
P      the varying parameters' values, shape (n,)
r      residual vector, shape (N,)
J      Jacobian dr/dP, shape (N, n), in the user's units
h      step of column j;  L = max(|P_j|, floor_j) its scale

References: P. E. Gill, W. Murray, M. H. Wright, *Practical Optimization*
(1981), 8.6; J. E. Dennis, R. B. Schnabel, *Numerical Methods for
Unconstrained Optimization and Nonlinear Equations* (1983), 5.4 and A5.6.3.

Book: book/certificate.md
"""
import math

import numpy as np

__all__ = ["FORWARD_STEP", "CENTRAL_STEP", "jacobian", "sigma_held", "first_floor", "scales",
           "model_size", "error"]

EPS = float(np.finfo(float).eps)
#: Relative step of the forward quotient, eps**(1/2) ~ 1.5e-8.
FORWARD_STEP = math.sqrt(EPS)
#: Relative step of the central quotient, eps**(1/3) ~ 6.1e-6.
CENTRAL_STEP = EPS ** (1.0 / 3.0)
#: A difference must move some residual by more than this many units of
#: rounding (eps * max|r|) to count as resolved.
RESOLVED = 64.0
#: Factor by which an unresolved step is enlarged.
ENLARGE = 1.0e4


def first_floor(P):
    """The floor under each step before any Jacobian: ``|P_j|``, or 1 where P_j = 0.

    >>> first_floor([3e-24, 0.0, -2.0]).tolist()
    [3e-24, 1.0, 2.0]
    """
    a = np.abs(np.asarray(P, dtype=float))
    return np.where(a > 0, a, 1.0)


def scales(P, floor):
    """The scale L of each step: ``max(|P_j|, floor_j)``, the floor at most ``max(|P_j|, 1)``.

    >>> scales([3.0, 1e-13, 0.0], [0.5, 5e-3, 1e9]).tolist()
    [3.0, 0.005, 1.0]
    """
    # (Plain Python: for the few parameters of a fit, faster than NumPy's calls.)
    L = []
    for p, f in zip(np.asarray(P, dtype=float).tolist(), np.asarray(floor, dtype=float).tolist()):
        a = abs(p)
        L.append(max(a, min(f, max(a, 1.0)) if f == f else 1.0))  # (a NaN floor: 1)
    return np.array(L)


def model_size(J, r, P):
    """Root-mean-square size of the computed model, which sets its rounding error.

    Estimated from its parts, ``J[:, j] * P_j`` (exactly the model for an
    amplitude), and from r itself.

    >>> model_size(np.array([[1.0], [1.0]]), np.zeros(2), [2.0])
    2.0
    """
    r = np.asarray(r, dtype=float)
    N = max(len(r), 1)
    parts = np.sqrt(np.einsum("ij,ij->j", J, J) / N) * np.abs(np.asarray(P, dtype=float))
    return max(float(parts.max()) if parts.size else 0.0, math.sqrt(float(r @ r) / N))


def error(J, r, P, floor, central=False, rel=None):
    """The relative error of a difference Jacobian's worst column, estimated.

    Truncation, ``rel`` (forward) or ``rel**2`` (central), plus rounding:
    each r carries ``eps * M`` (M = `model_size`), which the quotient divides
    by the change of r over the step, ``h * |J[:, j]|`` with ``h = rel * L``.
    Where L = |P_j| the step was chosen for that balance (it assumes, as
    MINPACK does, that P_j's part of the model, ``|P_j J[:, j]|``, is of the
    model's size) and the rounding term is not added. For a parameter near
    0, whose L is its floor, it is: it grows with M / s (data far larger
    than their scatter), which is when forward differences fall short.

    >>> x = np.linspace(0.0, 1.0, 4); J = np.column_stack([np.ones(4), x])
    >>> bool(error(J, np.full(4, 1e-2), [1.0, 1e-13], [1.0, 1e-2]) > 100 * FORWARD_STEP)
    True
    """
    rel = rel or (CENTRAL_STEP if central else FORWARD_STEP)
    r = np.asarray(r, dtype=float)
    N = max(len(r), 1)
    norms = np.sqrt(np.einsum("ij,ij->j", J, J) / N)
    L = scales(P, floor)
    change = rel * L * norms
    at_floor = L > np.abs(np.asarray(P, dtype=float))
    with np.errstate(divide="ignore"):
        rounding = np.where(at_floor & (change > 0), EPS * model_size(J, r, P) / change, 0.0)
    return (rel**2 if central else rel) + (float(rounding.max()) if rounding.size else 0.0)


def sigma_held(J, r, nfree):
    """Each parameter's standard error with the others held: ``s / |J[:, j]|``.

    ``s**2 = r @ r / nfree`` (``r @ r / N`` if nfree <= 0). A column of
    zeros gives inf. No matrix is inverted, so this exists even where
    ``J^T J`` is singular.

    >>> sigma_held(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0.3, -0.3]), 1).tolist()
    [0.3, inf]
    """
    r = np.asarray(r, dtype=float)
    s = math.sqrt(float(r @ r) / (nfree if nfree > 0 else max(len(r), 1)))
    norms = np.sqrt(np.einsum("ij,ij->j", J, J))
    return np.where(norms > 0, s / np.where(norms > 0, norms, 1.0), math.inf)


def _try(at_values, P):
    """``at_values(P)`` as a float array (not copied: use it before the next call), or None.

    None where the residual is not finite.
    """
    try:
        return np.asarray(at_values(P), dtype=float)
    except FloatingPointError:  # the hot path's NonFiniteResidual
        return None


def jacobian(at_values, P, floor, lo=None, hi=None, central=False, r0=None, rel=None):
    """J = dr/dP at `P` by forward (n evaluations) or central (2n) differences.

    Parameters
    ----------
    at_values : callable
        ``at_values(P) -> ndarray, shape (N,)``: the residual at parameter
        values P. Raises ``FloatingPointError`` where it is not finite.
    P : array_like, shape (n,)
    floor : array_like, shape (n,)
        The floor under each step's scale (module docstring).
    lo, hi : sequence of float or None, length n, optional
        Each parameter's bounds (None: none on that side).
    central : bool
        Central differences (error ~eps**(2/3)) instead of forward (~eps**(1/2)).
    r0 : ndarray, shape (N,), optional
        ``at_values(P)`` if the caller has it (saves an evaluation).
    rel : float, optional
        The relative step; by default `FORWARD_STEP` or `CENTRAL_STEP`.

    Returns
    -------
    J : ndarray, shape (N, n)

    Raises
    ------
    FloatingPointError
        If the residual is not finite at P, or on both sides of it.

    Examples
    --------
    >>> f = lambda P: np.array([P[0] * P[1], P[0] ** 2])
    >>> jacobian(f, [2.0, 3.0], [2.0, 3.0], central=True).round(8).tolist()
    [[3.0, 2.0], [4.0, 0.0]]
    >>> g = lambda P: np.array([1.0, 2.0]) * P[0] + 1.0   # exact column: [1, 2]
    >>> jacobian(g, [1e-20], [1e-20])[:, 0].round(3).tolist()   # enlarged until resolved
    [1.0, 2.0]
    >>> jacobian(g, [0.999999], [1.0], hi=[1.0])[:, 0].round(6).tolist()   # no room: backward
    [1.0, 2.0]
    """
    P = np.array(P, dtype=float)
    n = P.size
    lo = [None] * n if lo is None else lo
    hi = [None] * n if hi is None else hi
    base = [r0]

    def at_P():
        if base[0] is None:
            base[0] = np.array(at_values(P), dtype=float)  # raises if not finite
        return base[0]

    rel = rel or (CENTRAL_STEP if central else FORWARD_STEP)
    J, rounding = None, None
    for j, (Pj, scale) in enumerate(zip(P.tolist(), scales(P, floor).tolist())):
        # (The floor serves parameters near 0; it never exceeds max(|P_j|, 1):
        # a parameter that barely acts has a huge sigma, not a huge scale.)
        cap = rel * max(abs(Pj), 1.0, scale)
        h = rel * scale or rel
        while True:
            column = _column(at_values, at_P, P, j, h, lo[j], hi[j], central,
                             None if J is None else J[:, j])
            if h >= cap:
                break
            if rounding is None:  # what rounding of r alone would change it by
                rounding = RESOLVED * EPS * _largest(at_P())
            if _largest(column) * h > rounding:
                break
            h = min(h * ENLARGE, cap)
        if J is None:  # (by columns: each is written in place, contiguously)
            J = np.empty((column.size, n), order="F")
            J[:, j] = column
    return J


def _largest(a):
    """max |a_i|, without the temporary array of abs(a)."""
    return max(float(a.max()), -float(a.min()))


def _column(at_values, at_P, P, j, h, a, b, central, out=None):
    """One column, written into `out` (or a new array): the quotient on the side(s) with room.

    Each side must give a finite residual. The arithmetic is done in place
    in `out`: a residual is kept only until the next evaluation.
    """
    Pj = float(P[j])
    room_up = math.inf if b is None else b - Pj
    room_down = math.inf if a is None else Pj - a
    if room_up < h and room_down < h:  # bounds narrower than the step
        h = 0.5 * max(room_up, room_down)
    sides = [+1, -1] if room_up >= h else [-1]
    if room_down >= h and -1 not in sides:
        sides.append(-1)
    if central and len(sides) == 2:
        up = _at(at_values, P, j, Pj + h)
        if up is not None:
            out = _store(up[0], out)
            down = _at(at_values, P, j, Pj - h)
            if down is not None:  # (r_up - r_down) / (P_up - P_down)
                out -= down[0]
                out *= 1.0 / (up[1] - down[1])
                return out
    for sign in sides:  # one-sided, second order if central (3 points), else first order
        x1 = Pj + sign * h
        r1 = _at(at_values, P, j, x1)
        if r1 is None:
            continue
        step = r1[1] - Pj  # the step actually taken
        out = _store(r1[0], out)
        r0 = at_P()  # (evaluated, if need be, before r2: r2 is kept only till the next call)
        room = room_up if sign > 0 else room_down
        if central and room >= 2 * h:
            r2 = _at(at_values, P, j, Pj + 2 * sign * h)
            if r2 is not None:  # (4 r1 - 3 r0 - r2) / (2 step)
                out *= 4.0
                out -= 3.0 * r0
                out -= r2[0]
                out *= 1.0 / (2.0 * step)
                return out
        out -= r0  # (r1 - r0) / step
        out *= 1.0 / step
        return out
    at_values(_moved(P, j, Pj + sides[0] * h))  # raises, with the hot path's account


def _store(r, out):
    """r copied into `out` (a new array if None)."""
    if out is None:
        return np.array(r, dtype=float)
    np.copyto(out, r)
    return out


def _moved(P, j, x):
    Q = P.copy()
    Q[j] = x
    return Q


def _at(at_values, P, j, x):
    """(r at P with P_j = x, the P_j actually used), or None where r is not finite."""
    Q = _moved(P, j, x)
    r = _try(at_values, Q)
    return None if r is None else (r, float(Q[j]))
