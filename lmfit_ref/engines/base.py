"""What every fitting engine returns: one small record.

An engine is a module with a function ``run(residual, u0, jacobian=None,
box=None, evaluations=None, **kws)`` that minimises ``sum(residual(u)**2)``
over the internal vector u (shape (n,)) and returns an `EngineResult`.
``jacobian(u, r)`` gives dr/du at u (r is ``residual(u)`` if the engine has
it, else None); ``evaluations()`` counts every call of the user's
function. Engines see arrays and callables only: they know nothing of
Parameters, bounds or expressions, which ``minimizer.py`` handles before
and after, and they compute no error bars: the stage after every engine
(``certify.py``) does, from a Jacobian in the user's units. Adding an
engine is adding a module and one line in ``engines/__init__.py``.

Book: book/fitting.md
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class EngineResult:
    """The outcome of one engine run.

    Attributes
    ----------
    u : ndarray, shape (n,)
        The best internal vector found (never merely the last one probed).
    success : bool
        True only if the engine's own convergence test was met (whether
        the point is a minimum is decided after the engine).
    message : str
        The engine's account of why it stopped.
    nfev : int
        Residual evaluations the engine reports.
    fvec : ndarray, shape (N,), or None
        The residual at `u`, if the engine has it.
    info : dict
        Engine-specific extras (for leastsq: ``ier`` and ``lmdif_message``).
    """

    u: np.ndarray
    success: bool
    message: str
    nfev: int
    fvec: np.ndarray = None
    info: dict = field(default_factory=dict)
