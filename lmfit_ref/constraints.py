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

__all__ = ["ConstraintPlan", "order_by_dependency", "propagate", "MAX_STEPS"]

#: Work budget of one evaluation of one constraint (see Interpreter.max_steps).
#: A fit evaluates its constraints thousands of times, so each must be cheap:
#: an expression that needs more steps is refused when the fit is prepared.
MAX_STEPS = 10_000


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
    # Depth-first search with an explicit stack (a chain of thousands of
    # constraints must not hit Python's recursion limit). A name is written
    # to `order` when everything it reads has been; meeting a name that is
    # still on the current path means a cycle.
    order, done, on_path = [], set(), []
    for start in reads:
        if start in done:
            continue
        stack = [(start, iter(reads[start]))]
        on_path.append(start)
        while stack:
            name, pending = stack[-1]
            for other in pending:
                if other not in reads or other in done:
                    continue
                if other in on_path:
                    cycle = on_path[on_path.index(other):] + [other]
                    raise ValueError("constraint expressions form a cycle: " + " -> ".join(cycle))
                stack.append((other, iter(reads[other])))
                on_path.append(other)
                break
            else:  # everything `name` reads is done
                stack.pop()
                on_path.pop()
                done.add(name)
                order.append(name)
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
                compiled[name] = interpreter.compile(par.expr, tree=tree, max_steps=MAX_STEPS)
            except ExpressionError as err:
                raise ValueError(f"parameter {name!r}, expr={par.expr!r}: {err}") from None
            for used in reads[name]:
                if used not in params and used not in symtable:
                    raise ValueError(f"parameter {name!r}, expr={par.expr!r}: unknown name "
                                     f"{used!r} (not a parameter, nor in the symtable)")
        # An expression that calls a function from outside the default table
        # (one the user added, or defined with def) is "opaque": the body may
        # read any name. It is evaluated after every transparent constraint,
        # and for propagation it depends on every parameter.
        table = default_symtable(interpreter)
        opaque = {name: any(callable(symtable.get(u)) and symtable.get(u) is not table.get(u)
                            for u in used if u not in params)
                  for name, used in reads.items()}
        transparent = [n for n in constrained if not opaque[n]]
        ordering = {name: used + transparent if opaque[name] else used
                    for name, used in reads.items()}
        try:
            names = order_by_dependency(ordering)
        except ValueError as err:
            exprs = "; ".join(f"parameter {n!r}, expr={constrained[n].expr!r}" for n in reads)
            raise ValueError(f"{err} ({exprs})") from None
        self.order = [(constrained[name], compiled[name]) for name in names]
        # The parameters each constrained value depends on, through the chain
        # of constraints (for propagate); None means "any parameter".
        self.depends = {}
        for name in names:  # dependency order: what it reads is known already
            depends = None if opaque[name] else set()
            for used in reads[name]:
                if depends is None:
                    break
                if used in constrained:
                    inner = self.depends[used]
                    depends = None if inner is None else depends | inner
                elif used in params:
                    depends.add(used)
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
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"parameter {par.name!r}, expr={par.expr!r} gave {value!r}, "
                         "a truth value, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {par.name!r}, expr={par.expr!r} gave "
                         f"{type(value).__name__} {value!r}, not a number") from None
    if isinstance(value, (complex, str)) or not math.isfinite(number):
        raise ValueError(f"parameter {par.name!r}, expr={par.expr!r} gave {value!r}, "
                         "not a finite real number")
    return number


def propagate(plan, varying, covar, step=1e-3):
    """Set stderr and correl of the constrained parameters by the delta method.

    Parameters
    ----------
    plan : ConstraintPlan
    varying : list of Parameter
        The varying parameters, in the order of `covar`, with their stderr.
    covar : ndarray, shape (nvarys, nvarys)
        Their covariance (NaN rows and columns for those without one).
    step : float
        Central-difference step, relative to stderr_j (to max(|P_j|, 1) if it
        has none).

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
    best = [c._value for c, _ in plan.order]

    def values_at(name, x):
        """Constrained values with one varying value moved, or None off its domain."""
        symtable[name] = x
        try:
            plan.evaluate()
        except ValueError:  # e.g. sqrt(a) with a stepped below 0
            return None
        return [c._value for c, _ in plan.order]

    columns = []  # columns[j][k] = d(constrained k)/d(varying j)
    try:
        for par in varying:
            if par.name not in needed:  # no constrained value reads it
                columns.append(zeros)
                continue
            base = par.value
            # A step small against the parameter's own uncertainty: the
            # expression is linearised over the range the error bar spans.
            # Without one (a parameter on its bound), the step only has to
            # show whether the value depends on it: at least `step`, since
            # a value such as 1e-15 on a bound of 0 would give a step below
            # rounding and a gradient of exactly 0.
            h = step * (par.stderr or max(abs(base), 1.0))
            upper, lower = values_at(par.name, base + h), values_at(par.name, base - h)
            symtable[par.name] = base
            if upper and lower:  # central difference
                columns.append([(hi - lo) / (2 * h) for hi, lo in zip(upper, lower)])
            elif upper or lower:  # at the edge of an expression's domain: one-sided
                side, sign = (upper, 1.0) if upper else (lower, -1.0)
                columns.append([sign * (v - b) / h for v, b in zip(side, best)])
            else:
                columns.append([math.nan] * len(best))
    finally:
        for par in varying:
            symtable[par.name] = par.value
        plan.evaluate()
    # var(c_k) = g C g^T and cov(c_k, P_j) = (g C)_j, in plain Python: for
    # the handful of parameters of a fit this beats NumPy's per-call cost,
    # and terms with g_i = 0 are skipped, so a NaN row of C (a parameter
    # without a covariance) matters only if the value depends on it.
    C = np.asarray(covar, dtype=float).tolist()
    n = len(varying)
    sd = [p.stderr for p in varying]
    for k, (con, _) in enumerate(plan.order):
        g = [column[k] for column in columns]
        used = [i for i in range(n) if g[i] != 0.0]
        cross = [sum(g[i] * C[i][j] for i in used) for j in range(n)]
        var = sum(cross[j] * g[j] for j in used)
        if var != var:  # NaN: a gradient that could not be computed, or a
            con.stderr = con.correl = None  # parameter without a covariance
            continue
        con.stderr = math.sqrt(var) if var > 0 else 0.0
        con.correl = {p.name: x / (con.stderr * s) for p, x, s in zip(varying, cross, sd)
                      if s and con.stderr > 0 and x == x}
