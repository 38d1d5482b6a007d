"""The Minimizer: from named Parameters to an engine's vector and back.

This module composes the others. The data path of one fit:

1. ``prepare_fit`` walks the Parameters once. It checks the user's
   function and arguments; ``packing.pack`` picks the varying parameters,
   chooses each one's bounds transform and computes the internal starting
   vector ``u0``. Everything that can be decided before the first
   evaluation is decided here.
2. The engine calls ``residual(u)`` many times: the hot path, built by
   ``objective.make_objective``. It maps each ``u_i`` to ``P_i`` with the
   precomputed function, writes it into the Parameter, evaluates the
   constrained parameters in their precomputed order, calls the user's
   function, and checks what came back (an array of float, the same length
   every time, every element finite) with a handful of cheap tests. No
   parsing, no sorting, no dictionaries built, and no copies unless the
   function returns the same array again.
3. After the engine returns, ``results.finish_fit`` runs the final stage
   (``certify.py``), which checks that
   its point is a minimum, in units of the standard errors, polishing it
   if not; the best values are written back, the fit statistics computed,
   and ``uncertainty.py`` gives ``stderr`` and ``correl`` from a Jacobian
   taken in the user's units.
4. If anything raises (the user's function, a NaN, a length change, even
   KeyboardInterrupt), every Parameter gets back exactly the state it had
   before the fit, and the exception says at which evaluation and with
   which values it happened.

Notation
--------
u        internal vector the engine moves, shape (nvarys,)
P        external values, ``Parameter.value``
r        residual, the user's function's return, shape (ndata,)
nfree    ndata - nvarys
chisqr   sum(r**2);  redchi = chisqr / nfree

Book: book/fitting.md
"""
import math

import numpy as np

from .constraints import ConstraintPlan
from .engines import get_engine
from .evaluator import Interpreter
from .evaluator_ops import default_symtable
from .objective import FitError, make_objective
from .packing import pack
from .parameters import Parameters
from .results import finish_fit

__all__ = ["Minimizer", "minimize", "FitError"]


class Minimizer:
    """Fit `params` so that the sum of squares of ``function(params, ...)`` is least.

    Parameters
    ----------
    function : callable or None
        ``function(params, *fcn_args, **fcn_kws) -> ndarray``, the residual
        (manual 3.2). May be given later (``mini.userfcn = f``).
    params : Parameters or None
        Updated in place by a fit; ``Minimizer.params`` is this object.
    fcn_args : tuple, optional
        Positional arguments for `function`.
    fcn_kws : dict, optional
        Keyword arguments for `function`.
    scale_covar : bool, optional
        Scale the covariance by the reduced chi-square (default True, as
        in lmfit 0.5; see ``uncertainty.py``).
    **kws
        Default keywords for the engine (the manual's ``leastsq_kws``),
        overridden by those given to ``leastsq()``.

    Attributes
    ----------
    The manual's Table of Fit Results, set by each fit: ``nfev``,
    ``success``, ``errorbars``, ``message``, ``ier``, ``lmdif_message``,
    ``nvarys``, ``ndata``, ``nfree``, ``residual``, ``chisqr``, ``redchi``;
    also ``var_names`` (the varying parameters, in order), ``covar``
    (their covariance, shape (nvarys, nvarys), or None), ``engine`` (the
    engine's name) and ``engine_info`` (what the engine reports beyond the
    table, e.g. annealing's temperatures and best sum of squares per
    temperature).
    """

    def __init__(self, function=None, params=None, fcn_args=None, fcn_kws=None,
                 scale_covar=True, **kws):
        self.userfcn = function
        self.params = params
        self.userargs = () if fcn_args is None else tuple(fcn_args)
        self.userkws = {} if fcn_kws is None else dict(fcn_kws)
        self.scale_covar = scale_covar
        self.kws = kws
        self._check_inputs()
        # The Table of Fit Results; None until a fit has run.
        self.nfev = self.success = self.errorbars = self.message = None
        self.ier = self.lmdif_message = None
        self.nvarys = self.ndata = self.nfree = None
        self.residual = self.chisqr = self.redchi = None
        self.var_names = self.covar = None
        self.engine = self.engine_info = None
        self._asteval = None
        self._constraints = None
        self._symtable_names = set()  # parameter names written to the symtable
        self._varying = self._maps = self._u0 = None

    @property
    def asteval(self):
        """The expression interpreter (manual 5.3); ``asteval.symtable`` is its namespace.

        Built on first use, so fits without constraints do not pay for it.
        """
        if self._asteval is None:
            self._asteval = Interpreter()
        return self._asteval

    def _check_inputs(self, require=()):
        """Check the function and params; `require` names those that must be set."""
        for missing in require:
            if getattr(self, {"function": "userfcn", "params": "params"}[missing]) is None:
                raise ValueError(f"Minimizer has no {missing}; give it to Minimizer(function, params) "
                                 "or set .userfcn / .params before fitting")
        if self.userfcn is not None and not callable(self.userfcn):
            raise TypeError(f"the fitting function must be callable, got {type(self.userfcn).__name__}")
        if self.params is not None and not isinstance(self.params, Parameters):
            raise TypeError("params must be a lmfit_ref Parameters object, got "
                            f"{type(self.params).__name__}; build one with Parameters() and add()")

    # -- step 1: prepare ----------------------------------------------------------
    def prepare_fit(self):
        """Check the inputs and set up the internal vector (manual 3.5).

        # deviation: the manual's signature is ``prepare_fit(**kws)`` but
        # names no keyword; this one takes none rather than ignore them.

        After this, the user's function can be called with ``self.params``
        to see the starting model. Raises before any evaluation if a
        parameter cannot be fitted as defined.
        """
        self._check_inputs(require=("params",))
        saved = self._save()
        try:
            self._prepare()
        except BaseException:
            self._restore(saved)  # a failed preparation changes nothing
            raise

    def _prepare(self):
        has_expr = any(par.expr is not None for par in self.params.values())
        if has_expr or self._asteval is not None:
            self._forget_old_parameters()
        # Compiled and ordered once here; evaluated once so the model can be
        # called right away, then at every step of the fit.
        self._constraints = ConstraintPlan(self.params, self.asteval) if has_expr else None
        varying, maps, u0 = pack(self.params)
        if not varying:
            raise ValueError("no parameter varies: set vary=True on at least one parameter")
        self.var_names = [par.name for par in varying]
        self.nvarys = len(varying)
        self._varying, self._maps = varying, maps
        self._u0 = u0

    # -- step 2: the hot path ------------------------------------------------------
    def _make_objective(self, user_jacobian=None, col_deriv=False):
        """Build the fit's `Objective`: ``residual(u)``, ``jacobian(u, r)`` (``objective.py``)."""
        return make_objective(self.userfcn, self.params, self.userargs, self.userkws,
                              self._varying, self._maps, self._constraints,
                              user_jacobian, col_deriv)

    #: What a fit sets on the Minimizer; restored with the Parameters when a
    #: fit fails, so that a failed fit loses nothing and leaves nothing stale.
    _RESULTS = ("nfev", "success", "errorbars", "message", "ier", "lmdif_message", "nvarys",
                "ndata", "nfree", "residual", "chisqr", "redchi", "var_names", "covar",
                "engine", "engine_info",
                "_constraints", "_varying", "_maps", "_u0")

    def _save(self):
        return ([(par, par._get_state()) for par in self.params.values()],
                {name: getattr(self, name, None) for name in self._RESULTS})

    def _restore(self, saved):
        states, results = saved
        for par, state in states:
            par._set_state(state)
        for name, value in results.items():
            setattr(self, name, value)
        if self._asteval is not None:  # the symtable holds the values a fit tried
            symtable = self._asteval.symtable
            for name, par in self.params.items():
                if name in symtable:
                    symtable[name] = par.value

    def _forget_old_parameters(self):
        """Drop from the symtable the parameters of earlier fits that are gone.

        A name a parameter had shadowed (``e``, ``pi``...) gets its table
        value back; other names are removed, so an expression cannot read a
        parameter that no longer exists.
        """
        symtable, table = self.asteval.symtable, default_symtable(self.asteval)
        for name in self._symtable_names - set(self.params):
            if name in table:
                symtable[name] = table[name]
            else:
                symtable.pop(name, None)
        self._symtable_names = set(self.params)

    def _fit(self, engine_name, kws, final_stage=True):
        self._check_inputs(require=("function", "params"))
        saved = self._save()
        try:
            self._prepare()
            engine = get_engine(engine_name)
            options = {**self.kws, **kws}
            user_jacobian = options.pop("Dfun", None)
            if user_jacobian is not None and not callable(user_jacobian):
                raise TypeError(f"Dfun must be callable, got {type(user_jacobian).__name__}")
            col_deriv = bool(options.pop("col_deriv", False))
            polish = options.pop("polish", True)
            if not isinstance(polish, bool):
                raise TypeError(f"polish must be True or False, got {polish!r}")
            search = {}
            if getattr(engine, "USES_BOX", False):
                search["box"] = engine.search_box(self._maps, self._u0, self._varying,
                                                  options.pop("lower", None),
                                                  options.pop("upper", None))
            obj = self._make_objective(user_jacobian, col_deriv)
            obj.step = _forward_step(options.pop("epsfcn", None), engine_name)
            result = engine.run(obj.residual, self._u0.copy(), jacobian=obj.jacobian,
                                evaluations=obj.evaluations, **search, **options)
            self.engine = engine_name
            finish_fit(self, result, obj, polish, options.get("maxfev"), final_stage)
        except BaseException:
            self._restore(saved)
            raise
        return self.success

    def leastsq(self, **kws):
        """Fit with Levenberg-Marquardt (``scipy.optimize.leastsq``).

        Keywords go to ``scipy.optimize.leastsq`` (``xtol``, ``ftol``,
        ``gtol``, ``maxfev``, ``epsfcn``, ``factor``, ``diag``,
        ``col_deriv``), with the manual's defaults xtol = ftol = 1e-7 and
        maxfev = 1000*(nvarys+1), and factor = 1. ``Dfun(params, *fcn_args,
        **fcn_kws)`` may give the Jacobian d(residual)/d(value) of the
        varying parameters, shape (ndata, nvarys) (or (nvarys, ndata) with
        ``col_deriv=True``); it is chained through the bounds transform, and
        checked against central differences at the end. Without it MINPACK
        gets forward differences taken in the parameters' own units.

        After MINPACK the final stage (``certify.py``) measures how far the
        point is from a stationary point, in standard errors; with
        ``polish=True`` (the default) it polishes a point that is not close
        enough, with tolerances near machine epsilon. ``polish=False,
        factor=100`` is lmfit 0.5's algorithm: it reaches the same minimum
        as raw ``scipy.optimize.leastsq``, though not point by point (the
        differences are in P, not u).

        Returns
        -------
        bool
            `success`: the final stage's verdict: the point is within
            ``uncertainty.CERTIFY`` standard errors of a minimum.
        """
        return self._fit("leastsq", kws)

    def lbfgsb(self, **kws):
        """Fit with L-BFGS-B (``scipy.optimize.fmin_l_bfgs_b``) on the sum of squares.

        Keywords go to ``fmin_l_bfgs_b`` (``m``, ``factr``, ``pgtol``,
        ``epsilon``, ``maxfun``, ``maxiter``, ...); bounds come from the
        Parameters. ``Dfun`` gives the gradient ``2 J^T r``; without it the
        gradient comes from forward differences in the parameters' units.
        The final stage (``certify.py``) then certifies the point, and
        polishes it if needed (``polish``, default True).

        Returns
        -------
        bool
            `success`: the final stage's verdict.
        """
        return self._fit("lbfgsb", kws)

    def anneal(self, **kws):
        """Fit by simulated annealing (``engines/anneal.py``), then certify the point.

        Keywords: ``schedule`` ('fast', 'cauchy', 'boltzmann'), ``T0``,
        ``Tf``, ``maxiter``, ``maxeval``, ``maxaccept``, ``dwell``,
        ``learn_rate``, ``feps``, ``quench``, ``m``, ``n``, ``rng`` (a seed or
        a numpy Generator: runs are reproducible), ``polish`` (default True),
        and ``lower``/``upper``: the search range in the parameters' units
        for parameters without two bounds (those are searched over their
        whole interval).

        Returns
        -------
        bool
            `success`: the final stage's verdict (``certify.py``), which
            polishes annealing's best point unless ``polish=False``; without
            the polish that point is rarely within CERTIFY of a minimum.
        """
        return self._fit("anneal", kws)


def minimize(function, params, args=None, kws=None, engine="leastsq", **leastsq_kws):
    """Fit `params` to minimise the sum of squares of `function` (manual 3.1).

    Parameters
    ----------
    function : callable
        ``function(params, *args, **kws) -> ndarray`` of residuals.
    params : Parameters
        Updated in place with the best values, stderr and correl.
    args : tuple, optional
    kws : dict, optional
        Extra positional and keyword arguments for `function`.
    engine : str
        The fitting engine: ``'leastsq'``, ``'lbfgsb'`` or ``'anneal'`` (manual 3.3).
    **leastsq_kws
        ``scale_covar`` for the Minimizer; all others go to the engine.

    Returns
    -------
    Minimizer
        Holding the fit statistics; ``.params`` is `params`.

    Examples
    --------
    >>> from lmfit_ref import Parameters
    >>> x = np.linspace(0, 1, 11)
    >>> p = Parameters()
    >>> p.add('slope', value=1.0)
    >>> out = minimize(lambda p: p['slope'].value * x - 2 * x, p)
    >>> out.success, round(p['slope'].value, 10), out.nfree
    (True, 2.0, 10)
    """
    fitter = Minimizer(function, params, fcn_args=args, fcn_kws=kws, **leastsq_kws)
    fitter._fit(engine, {})  # an unknown engine raises, listing the valid ones
    return fitter


def _forward_step(epsfcn, engine):
    """The forward-difference step of the engines' Jacobian: sqrt(epsfcn), as in MINPACK."""
    if epsfcn is None:
        return None
    if isinstance(epsfcn, bool) or not isinstance(epsfcn, (int, float)) or not epsfcn >= 0:
        raise TypeError(f"{engine}: epsfcn must be a non-negative number, got {epsfcn!r}")
    return math.sqrt(max(float(epsfcn), float(np.finfo(float).eps)))
