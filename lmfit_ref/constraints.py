"""Constraint expressions in a fit: dependency order, evaluation, propagated errors.

A parameter with ``expr`` (manual chapter 5) is not varied: its value is
computed from the others at every step of the fit. This module prepares
that once per fit and, afterwards, gives such parameters error bars.

Preparation (``ConstraintPlan``), done in ``Minimizer.prepare_fit``:

1. compile each expression once (``evaluator.Interpreter.compile``), and
   find the names it reads;
2. refuse a name that is neither a parameter nor in the symtable, naming
   the parameter, the expression and the culprit;
3. order the constrained parameters so that each comes after the
   constrained parameters it reads (a depth-first topological sort), and
   refuse a cycle, self-reference included, naming it;
4. evaluate them once, so the model can be called right away (manual 3.5).

In the fit's hot path the Minimizer writes the varying values into the
symtable and calls the compiled expressions in that order: nothing is
parsed, searched or sorted there.

Propagation (``propagate``), after a fit with error bars: a constrained
value is a function ``c(P)`` of the varying parameters; to first order
(the delta method)::

    var(c)     = g C g^T,          g_j = dc/dP_j
    cov(c, P)  = g C               (a row: one entry per varying parameter)

with C the covariance of the varying parameters. The gradient g is taken
numerically, by central differences through the interpreter, re-evaluating
every constrained parameter in order, so that chains (``c`` depends on
``b`` which depends on ``a``) are followed.

Notation
--------
P      values of the varying parameters, shape (nvarys,)
C      their covariance, shape (nvarys, nvarys)
g      gradient of one constrained value with respect to P, shape (nvarys,)

# deviation: lmfit 0.5 gave constrained parameters stderr 0; here they get
# the propagated stderr and their correlations with the varying parameters.

Book: book/constraints.md
"""
import math

import numpy as np

from .evaluator import ExpressionError
from .evaluator_ops import default_symtable

__all__ = ["ConstraintPlan", "order_by_dependency", "propagate"]


def order_by_dependency(reads):
    """Order names so that each comes after those it reads; refuse cycles.

    Parameters
    ----------
    reads : dict
        ``{name: [names it reads]}``; names that are not keys are ignored
        (they are values that do not change during the evaluation).

    Returns
    -------
    list of str

    Examples
    --------
    The manual's 5.2 defines ``cen_2`` from ``wid_2`` before ``wid_2``:

    >>> order_by_dependency({'cen_2': ['cen_1', 'wid_2', 'wid_1'], 'wid_2': ['wid_1']})
    ['wid_2', 'cen_2']
    >>> order_by_dependency({'a': ['b'], 'b': ['a']})
    Traceback (most recent call last):
    ...
    ValueError: constraint expressions form a cycle: a -> b -> a
    """
    order, state = [], {}  # state: 1 = being visited, 2 = done

    def visit(name, path):
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + [name]
            raise ValueError("constraint expressions form a cycle: " + " -> ".join(cycle))
        state[name] = 1
        for other in reads[name]:
            if other in reads:
                visit(other, path + [name])
        state[name] = 2
        order.append(name)

    for name in reads:
        visit(name, [])
    return order


class ConstraintPlan:
    """The constrained parameters of one fit, compiled and ordered.

    Parameters
    ----------
    params : Parameters
    interpreter : evaluator.Interpreter
        Its symtable receives every parameter's value.

    Attributes
    ----------
    order : list of (Parameter, compiled expression)
        Evaluate in this order.

    Raises
    ------
    ValueError
        For a syntax error, an unknown name, a cycle, bounds on a
        constrained parameter, or a value that is not a finite number; the
        message names the parameter, the expression and the culprit.
    """

    def __init__(self, params, interpreter):
        self.interpreter = interpreter
        symtable = interpreter.symtable
        constrained = {name: par for name, par in params.items() if par.expr is not None}
        for name, par in params.items():
            if name not in constrained:
                symtable[name] = par.value
        compiled, reads = {}, {}
        for name, par in constrained.items():
            if par.min is not None or par.max is not None:
                # deviation: a computed value cannot honour bounds without
                # silently changing it; refused rather than clipped.
                raise ValueError(f"parameter {name!r} has expr={par.expr!r} and bounds "
                                 f"[{par.min}, {par.max}]: bounds on a constrained parameter are "
                                 "not supported (bound the parameters it is computed from)")
            try:
                tree = interpreter.parse(par.expr, "eval")
                reads[name] = interpreter.names(par.expr, tree)
                compiled[name] = interpreter.compile(par.expr, tree=tree)
            except ExpressionError as err:
                raise ValueError(f"parameter {name!r}, expr={par.expr!r}: {err}") from None
            for used in reads[name]:
                if used not in params and used not in symtable:
                    raise ValueError(f"parameter {name!r}, expr={par.expr!r}: unknown name "
                                     f"{used!r} (not a parameter, nor in the symtable)")
        try:
            names = order_by_dependency(reads)
        except ValueError as err:
            raise ValueError(f"{err} (parameters {', '.join(repr(n) for n in reads)})") from None
        self.order = [(constrained[name], compiled[name]) for name in names]
        # The parameters each constrained value depends on, through the chain
        # of constraints (for propagate); None means "any": the expression
        # calls a function from outside the default table, whose body may
        # read any name.
        table = default_symtable(interpreter)
        self.depends = {}
        for name in names:  # dependency order: what it reads is known already
            depends = set()
            for used in reads[name]:
                if used in constrained:
                    inner = self.depends[used]
                    depends = None if inner is None or depends is None else depends | inner
                elif used in params:
                    depends = None if depends is None else depends | {used}
                elif callable(symtable[used]) and symtable[used] is not table.get(used):
                    depends = None
            self.depends[name] = depends
        self.evaluate()

    def evaluate(self):
        """Compute every constrained value in order (outside the hot path)."""
        symtable = self.interpreter.symtable
        for par, expression in self.order:
            try:
                value = expression()
            except ExpressionError as err:
                raise ValueError(f"parameter {par.name!r}, expr={par.expr!r}: {err}") from None
            symtable[par.name] = par._value = as_value(value, par)

    def __bool__(self):
        return bool(self.order)


def as_value(value, par):
    """A constrained value as a finite float, or a ValueError naming the parameter."""
    if type(value) is float and value - value == 0.0:  # the fast, common case
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {par.name!r}, expr={par.expr!r} gave "
                         f"{type(value).__name__} {value!r}, not a number") from None
    if isinstance(value, (complex, str)) or not math.isfinite(number):
        raise ValueError(f"parameter {par.name!r}, expr={par.expr!r} gave {value!r}, "
                         "not a finite real number")
    return number


def propagate(plan, varying, covar, step=1e-4):
    """Set stderr and correl of the constrained parameters by the delta method.

    Parameters
    ----------
    plan : ConstraintPlan
    varying : list of Parameter
        The varying parameters, in the order of `covar`, with their stderr.
    covar : ndarray, shape (nvarys, nvarys)
        Their covariance (NaN rows and columns for those without one).
    step : float
        Central-difference step, relative to max(|P_j|, stderr_j).

    Notes
    -----
    ``g_j = (c(P + h_j e_j) - c(P - h_j e_j)) / (2 h_j)``, every constrained
    value re-evaluated in order, so chains are followed; exact for
    expressions linear in P, O(h**2) otherwise. A constrained parameter
    that depends on a parameter without a covariance gets stderr None.
    """
    symtable = plan.interpreter.symtable
    needed = set()
    for depends in plan.depends.values():
        if depends is None:
            needed = {par.name for par in varying}
            break
        needed |= depends
    zeros = [0.0] * len(plan.order)
    columns = []  # columns[j][k] = d(constrained k)/d(varying j)
    try:
        for par in varying:
            if par.name not in needed:  # no constrained value reads it
                columns.append(zeros)
                continue
            base = par.value
            scale = max(abs(base), par.stderr or 0.0)
            h = step * (scale if scale > 0 else 1.0)
            symtable[par.name] = base + h
            plan.evaluate()
            upper = [c._value for c, _ in plan.order]
            symtable[par.name] = base - h
            plan.evaluate()
            columns.append([(hi - c._value) / (2 * h) for hi, (c, _) in zip(upper, plan.order)])
            symtable[par.name] = base
    finally:
        for par in varying:
            symtable[par.name] = par.value
        plan.evaluate()
    G = np.array(columns).T  # shape (nconstrained, nvarys)
    unknown = [j for j, v in enumerate(np.diag(covar).tolist()) if v != v]  # NaN rows
    cross = G @ np.nan_to_num(covar)  # cov(c_k, P_j); NaN rows count as 0 ...
    variance = (cross * G).sum(axis=1)
    sd = [p.stderr for p in varying]
    for k, ((con, _), row, var) in enumerate(zip(plan.order, cross.tolist(), variance.tolist())):
        if any(columns[j][k] != 0.0 for j in unknown):  # ... unless the value depends on one
            con.stderr = con.correl = None
            continue
        con.stderr = math.sqrt(var) if var > 0 else 0.0
        con.correl = {p.name: x / (con.stderr * s) for p, x, s in zip(varying, row, sd)
                      if s and con.stderr > 0}
