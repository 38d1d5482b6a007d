"""What every fitting engine returns: one small record.

An engine is a module with a function ``run(residual, u0, jacobian=None,
**kws)`` that minimises ``sum(residual(u)**2)`` over the internal vector u
(shape (n,)) and returns an `EngineResult`. Engines see arrays and
callables only: they know nothing of Parameters, bounds or expressions,
which ``minimizer.py`` handles before and after. Adding an engine is adding
a module and one line in ``engines/__init__.py``.

Book: book/fitting.md
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class EngineResult:
    """The outcome of one engine run.

    Attributes
    ----------
    u : ndarray, shape (n,)
        The best internal vector found (never merely the last one probed).
    success : bool
        True only if the engine's own convergence test was met.
    message : str
        The engine's account of why it stopped.
    nfev : int
        Residual evaluations the engine reports.
    cov_u : ndarray, shape (n, n), or None
        ``(J^T J)^-1`` at `u` in internal coordinates, if the engine has it.
    fvec : ndarray, shape (N,), or None
        The residual at `u`, if the engine has it.
    jtj : callable or None
        ``jtj() -> ndarray, shape (n, n)``: the normal matrix ``J^T J`` in
        internal coordinates, computed on demand (it is needed only when a
        parameter ends on its bound, see ``covariance.conditional_covariance``).
    info : dict
        Engine-specific extras (for leastsq: ``ier`` and ``lmdif_message``).
    """

    u: np.ndarray
    success: bool
    message: str
    nfev: int
    cov_u: np.ndarray = None
    fvec: np.ndarray = None
    jtj: Callable = None
    info: dict = field(default_factory=dict)
