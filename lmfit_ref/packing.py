"""From named Parameters to the engine's vector u: the varying ones, their maps, the start.

An engine sees a plain vector u. Each varying parameter contributes one
component, through the bounds transform its bounds call for
(``bounds.transform_for``): ``P = to_external(u)``. Everything about a
parameter that can be checked before the first evaluation is checked
here, with a message naming it: no value, ``min == max``, a start exactly
on a bound (where the map is flat and no engine could move it), bounds so
wide that u cannot represent the start.

Book: book/bounds.md
"""
import numpy as np

from . import bounds

__all__ = ["pack"]


def pack(params):
    """The varying parameters, their maps and the start u0.

    Parameters
    ----------
    params : Parameters

    Returns
    -------
    varying : list of Parameter
        In the order of u.
    maps : list of tuple
        ``(to_external, slope, min, max)`` per varying parameter.
    u0 : ndarray, shape (n,)

    Raises
    ------
    ValueError
        Naming the parameter that cannot be fitted as defined.

    Examples
    --------
    >>> from lmfit_ref import Parameters
    >>> p = Parameters(); p.add('a', value=2.0); p.add('b', value=1.0, vary=False)
    >>> varying, maps, u0 = pack(p)
    >>> [par.name for par in varying], u0.tolist()
    (['a'], [2.0])
    """
    varying, maps, u0 = [], [], []
    for name, par in params.items():
        if not par.vary:
            continue
        if par.value is None:
            raise ValueError(f"parameter {name!r} varies but has no value; give it a starting value")
        a, b = par.min, par.max
        if a is not None and a == b:
            raise ValueError(f"parameter {name!r} varies but min == max == {a}; "
                             "use vary=False to fix it")
        # deviation: lmfit 0.5 clipped values into [min, max]; here bounds
        # are a change of variables (bounds.py); differences are in P.
        if par.value == a or par.value == b:
            # deviation: lmfit 0.5 started such a fit. The map is flat on
            # the bound (dP/du = 0): MINPACK sees a zero Jacobian column,
            # never moves this parameter, and still reports success.
            raise ValueError(f"parameter {name!r} starts exactly on its bound ({par.value}): "
                             "the bounds transform is flat there (dP/du = 0), so the fit "
                             "could not move it; start it inside the bounds, or fix it "
                             "with vary=False")
        to_external, to_internal, slope = bounds.transform_for(a, b)
        u = to_internal(par.value, a, b)
        back = to_external(u, a, b)
        if back == a or back == b:
            # Bounds so wide that u cannot hold the value: it lands on
            # the bound, where the map is flat (as above).
            raise ValueError(f"parameter {name!r}: its bounds [{a}, {b}] are too wide for "
                             f"its value {par.value!r}, which the bounds transform can "
                             f"only represent as {back!r}, on the bound; narrow them, "
                             "or use a one-sided bound")
        varying.append(par)
        maps.append((to_external, slope, a, b))
        u0.append(u)
    return varying, maps, np.array(u0, dtype=float)
