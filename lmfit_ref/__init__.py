"""lmfit_ref: a literate reference implementation of the lmfit 0.5 manual.

``import lmfit_ref as lmfit`` gives the manual's public names:

>>> import lmfit_ref as lmfit
>>> sorted(name for name in lmfit.__all__)
['FitError', 'Minimizer', 'Parameter', 'Parameters', 'conf_interval', 'conf_interval2d', 'minimize', 'printfuncs']

Book: book/index.md
"""
from . import printfuncs
from .confidence import conf_interval, conf_interval2d
from .minimizer import FitError, Minimizer, minimize
from .parameters import Parameter, Parameters

__all__ = ["Parameter", "Parameters", "Minimizer", "minimize", "FitError", "printfuncs",
           "conf_interval", "conf_interval2d"]
__version__ = "0.1.0"
