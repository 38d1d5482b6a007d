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

from . import bounds
from .constraints import as_value

__all__ = ["FitError", "NonFiniteResidual", "make_objective"]

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
    """Build ``residual(u)`` (and ``jacobian(u)``) for the engine.

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
        ``Dfun(params, *args, **kws)``, d(residual)/d(value), chained here
        through dP/du.
    col_deriv : bool
        `user_jacobian` returns shape (nvarys, ndata) instead of (ndata, nvarys).

    Returns
    -------
    residual, jacobian (or None), evaluations
        ``evaluations()`` is the number of residual calls so far.

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

    def set_values(u):
        values = u.tolist()
        for par, v in zip(varying, values):
            par._value = v
        for par, to_external, a, b, i in bounded:
            par._value = to_external(values[i], a, b)
        if order:
            constrain()

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

    def residual(u):
        nonlocal count
        count += 1
        values = u.tolist()  # set_values(u), inlined: this is the hot path
        for par, v in zip(varying, values):
            par._value = v
        for par, to_external, a, b, i in bounded:
            par._value = to_external(values[i], a, b)
        if order:
            constrain()
        try:
            r = call()
        except Exception as err:
            raise FitError(f"the residual function raised {type(err).__name__}: {err} "
                           f"at evaluation {count} (parameters {_describe(params)})") from err
        # Fast test: a 1-d float64 array of the length seen before. Anything
        # else (a list, another dtype or length, the first call) goes the
        # slow way, which converts or raises.
        try:
            fast = r.dtype is _FLOAT64 and r.shape == shape
        except AttributeError:
            fast = False
        if not fast:
            r = check(r)
        # Every element finite? np.isfinite(r).all() is exact, never warns
        # and stays on this thread. (Cheaper-looking tests fail somewhere: a
        # sum warns on inf - inf, r @ r overflows past 1e154, and a BLAS dot
        # wakes OpenBLAS's threads on long arrays, costing milliseconds.)
        if not isfinite_all(r).all():
            bad = int(np.flatnonzero(~np.isfinite(r))[0])
            raise NonFiniteResidual(f"the residual function returned {r[bad]} at index {bad} "
                                    f"at evaluation {count} (parameters {_describe(params)})")
        return r

    def evaluations():
        return count

    if user_jacobian is None:
        return residual, None, evaluations
    slopes = [(slope, a, b) for (_, slope, a, b) in maps]

    def jacobian(u):
        set_values(u)
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
        # Chain rule: dr/du = dr/dP * dP/du, one factor per parameter.
        D = np.array([slope(v, a, b) for (slope, a, b), v in zip(slopes, u.tolist())])
        return J * D[:, None] if col_deriv else J * D

    return residual, jacobian, evaluations

