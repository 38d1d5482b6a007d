"""The fitting engines, by the name ``minimize(..., engine=name)`` takes.

Each engine is a module with ``run(residual, u0, jacobian=None, box=None,
**kws)`` returning an ``EngineResult`` (see ``base.py``); ``box`` is a
search region in internal coordinates, which only engines that set
``USES_BOX = True`` receive. To add an engine, write the module and add it
to `ENGINES`; the contract suite (tests/test_engine_contract.py) then
checks it like the others.
"""
from . import anneal, lbfgsb, leastsq
from .base import EngineResult

#: engine name -> module: the manual's table of fitting engines (3.3).
ENGINES = {"leastsq": leastsq, "lbfgsb": lbfgsb, "anneal": anneal}


def get_engine(name):
    """The engine module for `name`, or a ValueError listing the valid names.

    >>> get_engine('leastsq').__name__
    'lmfit_ref.engines.leastsq'
    >>> get_engine('simplex')
    Traceback (most recent call last):
    ...
    ValueError: unknown fitting engine 'simplex'; valid engines are: leastsq, lbfgsb, anneal
    """
    try:
        return ENGINES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown fitting engine {name!r}; valid engines are: "
                         + ", ".join(ENGINES)) from None


__all__ = ["ENGINES", "EngineResult", "get_engine"]
