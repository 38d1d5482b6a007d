"""The objective: the residual function the engine calls, the fit's hot path.

An engine moves an internal vector u and calls ``residual(u)`` tens to
thousands of times. Each call must

1. turn u into the parameters' values (``bounds``: P = P(u), identity for
   unbounded parameters) and write them into the Parameters;
2. evaluate the constrained parameters in their precomputed order
   (``constraints``), if there are any;
3. call the user's function ``userfcn(params, *args, **kws)``;
4. check what it returned: a 1-d float array, the same length every time,
   every element finite; anything else stops the fit with a `FitError` that
   names the evaluation and the parameter values at fault. A non-finite
   residual raises `NonFiniteResidual`, which is also a
   ``FloatingPointError``: an engine may catch it and step elsewhere (the
   leastsq engine rejects such a trial step; annealing rejects the point).

Everything that can be decided once is decided in `make_objective`, before
the first call: the closures below read only local names, bound once.
What remains per call is a few attribute writes, one call of the user's
function (through ``functools.partial``), a type-and-length test and one
``np.isfinite(r).all()``.

Notation
--------
u        internal vector the engine moves, shape (nvarys,)
P        external values, ``Parameter.value``
r        residual, the user's function's return, shape (ndata,)

Book: book/fitting.md
"""
import functools

import numpy as np

from . import bounds, differences
from .constraints import as_value

__all__ = ["FitError", "NonFiniteResidual", "Objective", "make_objective"]

_FLOAT64 = np.dtype(np.float64)


class FitError(RuntimeError):
    """A fit stopped because the residual function misbehaved.

    The message names the evaluation and the parameter values at fault; the
    original exception, if any, is chained as ``__cause__``. The caller's
    Parameters are restored before this is raised.
    """


class NonFiniteResidual(FitError, FloatingPointError):
    """The residual function returned NaN or inf.

    A `FitError` for the caller; also a ``FloatingPointError``, the builtin
    an engine may catch (engines know nothing of this module) to treat such
    a point as one never to move to, as annealing does.
    """


def _describe(params):
    return ", ".join(f"{name}={par.value!r}" for name, par in params.items())


def _where(count, params):
    return f"at evaluation {count} (parameters {_describe(params)})"


def _as_residual(r, count, params):
    """Convert a residual that is not a 1-d float64 array, or refuse it.

    Lists, tuples and arrays of any real dtype are converted (a 2-d array
    is flattened, as MINPACK sees only a vector); a scalar, None, complex
    values or text are refused.
    """
    if r is None:
        raise FitError(f"the residual function returned None {_where(count, params)}; it must return "
                       "an array of residuals (did it forget `return`?)")
    try:
        arr = np.asarray(r)
    except Exception as err:  # ragged lists and the like
        raise FitError(f"the residual function returned {type(r).__name__}, which is not "
                       f"an array of numbers, {_where(count, params)}") from err
    if arr.ndim == 0:
        raise FitError(f"the residual function returned a scalar ({type(r).__name__}) {_where(count, params)}; "
                       "least squares needs the array of residuals, not their sum")
    if arr.dtype.kind not in "biuf":
        raise FitError(f"the residual function returned an array of dtype {arr.dtype} {_where(count, params)}; "
                       "it must be real numbers")
    return np.ascontiguousarray(arr, dtype=np.float64).ravel()



def make_objective(userfcn, params, args, kws, varying, maps, plan, user_jacobian=None,
                   col_deriv=False):
    """Build the `Objective` of one fit: ``residual(u)``, ``at_values(P)``, ``jacobian(u)``.

    Parameters
    ----------
    userfcn, params, args, kws
        The user's function, called as ``userfcn(params, *args, **kws)``.
    varying : list of Parameter
        The varying parameters, in the order of u.
    maps : list of (to_external, slope, min, max)
        Each one's bounds transform (``bounds.transform_for``).
    plan : constraints.ConstraintPlan or None
        The constrained parameters, evaluated after the varying ones.
    user_jacobian : callable or None
        ``Dfun(params, *args, **kws)``, d(residual)/d(value); else the
        Jacobian is taken by finite differences in the user's units.
    col_deriv : bool
        `user_jacobian` returns shape (nvarys, ndata) instead of (ndata, nvarys).

    Everything the closures use is bound to local names here, once, so
    that each evaluation only writes nvarys floats, calls the user's
    function and makes four cheap checks on what it returns.
    """
    # partial binds the user's arguments once; calling it is C-level.
    call = functools.partial(userfcn, params, *args, **kws)
    nvarys = len(varying)
    # Unbounded parameters take u_i as it is; bounded ones are then
    # overwritten with P(u_i). Skipping the identity call for the first
    # kind is the commonest case made cheapest.
    bounded = [(par, to_external, a, b, i) for i, (par, (to_external, _, a, b))
               in enumerate(zip(varying, maps)) if to_external is not bounds.free_to_external]
    shape = None  # (ndata,), learned from the first evaluation
    isfinite_all = np.isfinite  # (a local name: the hot path reads no globals)
    count = 0
    returned = [None]  # what the function returned last (to see it reuse an array)
    order = [(par, par.name, expression) for par, expression in plan.order] if plan else []
    # Only the varying values that some constraint reads go to the symtable
    # (all of them if one calls a function that may read anything).
    reads = set()
    for depends in (plan.depends.values() if plan else ()):
        reads = {par.name for par in varying} if depends is None else reads | depends
        if depends is None:
            break
    named = [(par.name, par) for par in varying if par.name in reads]
    symtable = plan.interpreter.symtable if order else None

    def constrain():
        """Evaluate the constrained parameters, in dependency order."""
        for name, par in named:
            symtable[name] = par._value
        for par, name, expression in order:
            try:
                value = expression()
                if type(value) is not float or value - value != 0.0:  # not a finite float
                    value = as_value(value, par)
            except ValueError as err:  # ExpressionError is a ValueError
                # (constrained values after this one are from the last step)
                raise FitError(f"parameter {name!r}, expr={par.expr!r}: {err}, at evaluation "
                               f"{count} (varying parameters "
                               f"{', '.join(f'{n}={p._value!r}' for n, p in named)})") from None
            symtable[name] = par._value = value

    def check(r):
        """The slow path: convert or refuse `r`, learn or enforce its length."""
        nonlocal shape
        r = _as_residual(r, count, params)
        if shape is None:
            if r.shape[0] < nvarys:
                raise FitError(f"the residual function returned {r.shape[0]} values, fewer than "
                               f"the {nvarys} varying parameters; least squares needs at "
                               "least as many residuals as variables")
            shape = r.shape
        elif r.shape != shape:
            raise FitError(f"the residual function returned {r.shape[0]} values at evaluation "
                           f"{count}, but {shape[0]} before; its length must not change "
                           f"(parameters {_describe(params)})")
        return r

    def evaluate():
        """Call the user's function at the values just written; check what it returns."""
        nonlocal count
        count += 1
        if order:
            constrain()
        try:
            r = call()
        except Exception as err:
            raise FitError(f"the residual function raised {type(err).__name__}: {err} "
                           f"at evaluation {count} (parameters {_describe(params)})") from err
        previous, returned[0] = returned[0], r
        # Fast test: a 1-d float64 array of the length seen before. Anything
        # else (a list, another dtype or length, the first call) goes the
        # slow way, which converts or raises.
        try:
            fast = r.dtype is _FLOAT64 and r.shape == shape
        except AttributeError:
            fast = False
        if not fast:
            r = check(r)
        # The engines and the differences keep residuals across evaluations.
        # A function that writes each result into one array it returns again
        # would change them all: its results are copied, the first always
        # (no reuse can be seen yet), later ones when the array is the last
        # one again (an O(1) test). A function that returns new arrays costs
        # one copy per fit.
        if previous is None or (r is previous or np.may_share_memory(r, previous)):
            r = r.copy()
        # Every element finite? np.isfinite(r).all() is exact, never warns
        # and stays on this thread. (Cheaper-looking tests fail somewhere: a
        # sum warns on inf - inf, r @ r overflows past 1e154, and a BLAS dot
        # wakes OpenBLAS's threads on long arrays, costing milliseconds.)
        if not isfinite_all(r).all():
            bad = int(np.flatnonzero(~np.isfinite(r))[0])
            raise NonFiniteResidual(f"the residual function returned {r[bad]} at index {bad} "
                                    f"at evaluation {count} (parameters {_describe(params)})")
        return r

    def residual(u):
        """The residual at internal vector u (what the engines call)."""
        values = u.tolist()
        for par, v in zip(varying, values):
            par._value = v
        for par, to_external, a, b, i in bounded:
            par._value = to_external(values[i], a, b)
        return evaluate()

    def at_values(P):
        """The residual at the varying parameters' values P (the differences' steps)."""
        for par, v in zip(varying, P.tolist()):
            par._value = v
        return evaluate()

    def evaluations():
        return count

    inverse = [bounds.transform_for(a, b)[1] for (_, _, a, b) in maps]

    def internal(P):
        """u(P), an array (each value must lie within its bounds)."""
        return np.array([to_internal(v, a, b) for to_internal, (_, _, a, b), v
                         in zip(inverse, maps, list(P))], dtype=float)

    def values(u):
        """P(u), a list of floats."""
        return [to_external(v, a, b) for (to_external, _, a, b), v in zip(maps, u.tolist())]

    def slopes(u):
        """dP/du at u, shape (n,)."""
        return np.array([slope(v, a, b) for (_, slope, a, b), v in zip(maps, u.tolist())])

    def dfun(P):
        """The user's Dfun at values P, checked, as dr/dP of shape (N, n)."""
        for par, v in zip(varying, P.tolist()):
            par._value = v
        if order:
            constrain()
        try:
            J = np.asarray(user_jacobian(params, *args, **kws), dtype=float)
        except Exception as err:
            raise FitError(f"Dfun raised {type(err).__name__}: {err} "
                           f"(parameters {_describe(params)})") from err
        want = (nvarys, shape[0]) if col_deriv else (shape[0], nvarys)
        if J.shape != want or not np.isfinite(J).all():
            raise FitError(f"Dfun must return a finite array of shape {want} "
                           f"({'col_deriv=True' if col_deriv else 'rows = residuals'}), got "
                           f"shape {J.shape} (parameters {_describe(params)})")
        return J.T if col_deriv else J

    return Objective(residual, at_values, evaluations, values, internal, slopes,
                     dfun if user_jacobian is not None else None,
                     [a for (_, _, a, _) in maps], [b for (_, _, _, b) in maps])


class Objective:
    """What a fit evaluates: the residual in u and in P, and the Jacobian the engines use.

    Attributes
    ----------
    residual : callable
        ``residual(u) -> r``, the hot path.
    at_values : callable
        ``at_values(P) -> r``: the residual at the varying parameters'
        values P (for the finite differences, which step in P).
    evaluations : callable
        ``evaluations() -> int``, calls of the user's function so far.
    values, internal, slopes : callable
        ``values(u)`` is P(u) (a list), ``internal(P)`` is u(P) (an array),
        ``slopes(u)`` is dP/du (an array).
    dfun : callable or None
        ``dfun(P) -> dr/dP``, shape (N, n): the user's ``Dfun``, if given.
    lo, hi : list
        Each varying parameter's bounds (None for none).
    last : tuple or None
        ``(u, J_P, r, kind)`` of the last `jacobian` computed: where, dr/dP,
        the residual there, and ``'forward'``, ``'central'`` or ``'user'``.
    live : ndarray of bool or None
        For each parameter, whether the first Jacobian's column was not all
        zero: a parameter that acted at the start but not at the end points
        to a plateau (``certify.py``).
    """

    def __init__(self, residual, at_values, evaluations, values, internal, slopes, dfun, lo, hi):
        self.residual, self.at_values, self.evaluations = residual, at_values, evaluations
        self.values, self.internal, self.slopes, self.dfun = values, internal, slopes, dfun
        self.lo, self.hi = lo, hi
        self.floor = None   # the step floors of `differences`, updated after each Jacobian
        self.step = None    # the forward step, if not differences.FORWARD_STEP (epsfcn)
        self.last = None
        self.previous = None  # u of the Jacobian before `last`
        self.live = None    # which columns of the first Jacobian were not all zero

    def remember(self, u, J, r, kind):
        """Record J = dr/dP taken at u (as `last`); the point of the one before is `previous`."""
        self.previous = None if self.last is None else self.last[0]
        self.last = (u, J, r, kind)

    def jacobian_P(self, P, r=None, central=False, nfree=0):
        """dr/dP at values P: the user's Dfun, else differences (forward or central)."""
        P = np.asarray(P, dtype=float)
        if self.dfun is not None and not central:
            J = self.dfun(P)
            if self.live is None:
                self.live = np.asarray(J).any(axis=0)
            return J
        if self.floor is None:
            self.floor = differences.first_floor(P)
        J = differences.jacobian(self.at_values, P, self.floor, self.lo, self.hi,
                                 central=central, r0=r, rel=None if central else self.step)
        if r is not None:
            held = differences.sigma_held(J, r, nfree)
            self.floor = np.where(np.isfinite(held) & (held > 0), held, self.floor)
        if self.live is None:
            self.live = J.any(axis=0)
        return J

    def jacobian(self, u, r=None):
        """dr/du at u, for an engine: dr/dP (forward differences or Dfun) times dP/du.

        `r` is ``residual(u)`` if the engine has it (it saves an evaluation).
        """
        u = np.array(u, dtype=float)
        P = self.values(u)
        if r is None and self.dfun is None:
            r = np.array(self.residual(u), dtype=float)
        J = self.jacobian_P(P, r, nfree=(len(r) - len(P)) if r is not None else 0)
        self.remember(u, J, None if r is None else np.array(r, dtype=float),
                      "user" if self.dfun is not None else "forward")
        # Chain rule: dr/du_j = dr/dP_j * dP_j/du_j (without a bound, 1).
        D = self.slopes(u)
        return J if all(D == 1.0) else J * D
