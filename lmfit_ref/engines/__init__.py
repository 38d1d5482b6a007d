"""The fitting engines, by the name ``minimize(..., engine=name)`` takes.

Each engine is a module with ``run(residual, u0, jacobian=None, **kws)``
returning an ``EngineResult`` (see ``base.py``). To add one, write the
module and add it to `ENGINES`.
"""
from . import leastsq
from .base import EngineResult

#: engine name -> module. The manual's table (3.3) names leastsq, lbfgsb
#: and anneal; the last two arrive with their own modules.
ENGINES = {"leastsq": leastsq}


def get_engine(name):
    """The engine module for `name`, or a ValueError listing the valid names.

    >>> get_engine('leastsq').__name__
    'lmfit_ref.engines.leastsq'
    >>> get_engine('simplex')
    Traceback (most recent call last):
    ...
    ValueError: unknown fitting engine 'simplex'; valid engines are: leastsq
    """
    try:
        return ENGINES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown fitting engine {name!r}; valid engines are: "
                         + ", ".join(ENGINES)) from None


__all__ = ["ENGINES", "EngineResult", "get_engine"]
