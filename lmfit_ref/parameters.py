"""Parameters: named fit variables that can be fixed, bounded or constrained.

A least-squares engine sees a flat vector of numbers. A person writing a
model thinks in named quantities: an amplitude, a decay rate, a centre that
must stay positive. This module holds the second view. A `Parameter` is a
number with a name and three switches (``vary``, ``min``/``max``,
``expr``); a `Parameters` is an ordered dictionary of them, which is what
the user's residual function receives at every evaluation.

The Minimizer (``minimizer.py``) is the only place where the two views
meet: it reads which parameters vary, turns their values into the engine's
vector through ``bounds.py`` and writes the engine's vector back.

Notation
--------
P          external value, the number the model sees (``Parameter.value``)
min, max   bounds on P; ``None`` means unbounded on that side
expr       constraint text, evaluated from other parameters (``evaluator``)

Validation contract
-------------------
Every definition is checked when it is made, and a bad one raises at once
with a message naming the parameter: a name that is not an identifier or is
a Python keyword, a value that is not a real number or is NaN or infinite,
a bound that is NaN, ``min > max``, and a value outside ``[min, max]``.

The last is a decision: lmfit 0.5 silently clipped such a value into the
bounds when the fit began, so the fit quietly started somewhere else than
the user said. Here it is an error (``ValueError``) at the moment the value
or the bound is set; `Parameter.set` changes several attributes at once and
checks only the final combination, so a value and its bounds can be moved
together.

``init_value`` is the value last given by the user (at creation, or by
assigning ``.value``); a fit moves ``value`` but not ``init_value``, which
is what ``report_errors`` prints as ``initial=``, as in the manual's 4.2.

Book: book/parameters.md
"""
import copy
import keyword
import math
import numbers
import re

import numpy as np

__all__ = ["Parameter", "Parameters"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_name(name):
    """Return `name` if it can be used in a constraint expression, else raise.

    Examples
    --------
    >>> check_name('amp_1')
    'amp_1'
    >>> check_name('lambda')
    Traceback (most recent call last):
    ...
    ValueError: invalid parameter name 'lambda': a Python keyword cannot name a parameter
    """
    if not isinstance(name, str):
        raise TypeError(f"a parameter name must be a str, got {type(name).__name__} {name!r}")
    if not _NAME.match(name):
        raise ValueError(f"invalid parameter name {name!r}: it must match "
                         "[a-zA-Z_][a-zA-Z0-9_]* (a Python identifier in ASCII)")
    if keyword.iskeyword(name):
        raise ValueError(f"invalid parameter name {name!r}: a Python keyword cannot name a parameter")
    return name


def _real(x, what, name, allow_none=True):
    """Convert a user-given number to float, or raise naming `what` and `name`."""
    if x is None and allow_none:
        return None
    # bool is an int subclass; True as a value or bound is almost surely a slip.
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"parameter {name!r}: {what} must be a real number"
                        f"{' or None' if allow_none else ''}, got {type(x).__name__} {x!r}")
    x = float(x)
    if math.isnan(x):
        raise ValueError(f"parameter {name!r}: {what} is NaN")
    return x


class Parameter:
    """One fit variable: a value, whether it varies, its bounds, its constraint.

    Parameters
    ----------
    value : float or None
        The numerical value. ``None`` is allowed for a constrained parameter
        (its value comes from `expr`) or one not yet given a value.
    vary : bool
        Whether the fit varies it. A parameter with an `expr` never varies.
    min, max : float or None
        Bounds on the value; ``None`` (or an infinity on the right side)
        means unbounded.
    name : str or None
        Set from the key when the parameter is stored in `Parameters`.
    expr : str or None
        A constraint expression in terms of other parameters.

    Attributes
    ----------
    stderr : float or None
        Standard error after a fit: ``None`` until a fit has estimated it
        (or when it could not be estimated), ``0.0`` for a fixed parameter.
    correl : dict or None
        Correlations with the other varying parameters after a fit.
    init_value : float or None
        The value last set by the user; a fit does not change it.

    Examples
    --------
    >>> p = Parameter(value=2.0, min=0)
    >>> p
    <Parameter value=2.0, bounds=[0.0, inf]>
    >>> p.max = 1.0
    Traceback (most recent call last):
    ...
    ValueError: parameter None: value 2.0 is above max 1.0; set a value inside [min, max] or use Parameter.set(value=..., max=...)
    """

    # __slots__ keeps the object small and attribute access fast; the fit's
    # hot path writes `_value` directly (it produces in-bounds floats only).
    __slots__ = ("name", "_value", "_vary", "_min", "_max", "_expr",
                 "stderr", "correl", "init_value")

    def __init__(self, value=None, vary=True, min=None, max=None, name=None, expr=None):
        self.name = None if name is None else check_name(name)
        self.stderr = self.correl = self.init_value = None
        self._value = self._min = self._max = self._expr = None
        self._vary = True
        self.set(value=value, vary=vary, min=min, max=max, expr=expr)

    # -- validation ----------------------------------------------------------
    def set(self, value=None, vary=None, min=None, max=None, expr=None):
        """Change several attributes at once; the final combination is checked.

        Only the arguments given (not ``None``) are changed. To remove a
        bound, assign the attribute (``p.min = None``).

        Raises
        ------
        TypeError, ValueError
            If the new definition is invalid; the parameter is then unchanged.
        """
        new_value = self._value if value is None else _real(value, "value", self.name)
        new_min = self._min if min is None else self._bound(min, "min")
        new_max = self._max if max is None else self._bound(max, "max")
        new_vary = self._vary if vary is None else vary
        new_expr = self._expr if expr is None else expr
        self._check(new_value, new_vary, new_min, new_max, new_expr)
        self._value, self._min, self._max = new_value, new_min, new_max
        self._set_expr_vary(new_expr, new_vary)
        if value is not None:
            self.init_value = new_value

    def _bound(self, x, which):
        x = _real(x, which, self.name)
        if x is None:
            return None
        # An infinite bound on its own side is no bound at all; on the wrong
        # side (min=+inf) it leaves no admissible value.
        if math.isinf(x):
            if (which == "min") == (x < 0):
                return None
            raise ValueError(f"parameter {self.name!r}: {which}={x} leaves no admissible value")
        return x

    def _check(self, value, vary, min, max, expr):
        name = self.name
        if not isinstance(vary, (bool, np.bool_)):
            raise TypeError(f"parameter {name!r}: vary must be True or False, got {vary!r}")
        if expr is not None and not isinstance(expr, str):
            raise TypeError(f"parameter {name!r}: expr must be a str or None, got {type(expr).__name__}")
        if value is not None and math.isinf(value):
            raise ValueError(f"parameter {name!r}: value {value} is not finite")
        if min is not None and max is not None and min > max:
            raise ValueError(f"parameter {name!r}: min {min} is greater than max {max}")
        # deviation: lmfit 0.5 clipped an out-of-bounds value into [min, max]
        # when the fit began, so the fit silently started elsewhere than the
        # user said. Here it is an error at the moment it is defined.
        if value is not None and min is not None and value < min:
            raise ValueError(f"parameter {name!r}: value {value} is below min {min}; set a value "
                             "inside [min, max] or use Parameter.set(value=..., min=...)")
        if value is not None and max is not None and value > max:
            raise ValueError(f"parameter {name!r}: value {value} is above max {max}; set a value "
                             "inside [min, max] or use Parameter.set(value=..., max=...)")

    def _set_expr_vary(self, expr, vary):
        # An empty expression is no expression. A constrained parameter never
        # varies: its value is computed, so `expr` takes precedence over vary.
        expr = expr if expr is None or expr.strip() else None
        self._expr = expr
        self._vary = False if expr is not None else bool(vary)

    # -- attributes, each checked when assigned ------------------------------
    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, value):
        value = _real(value, "value", self.name)
        self._check(value, self._vary, self._min, self._max, self._expr)
        self._value = self.init_value = value

    @property
    def vary(self):
        return self._vary

    @vary.setter
    def vary(self, vary):
        self._check(self._value, vary, self._min, self._max, self._expr)
        self._set_expr_vary(self._expr, vary)

    @property
    def min(self):
        return self._min

    @min.setter
    def min(self, min):
        min = self._bound(min, "min")
        self._check(self._value, self._vary, min, self._max, self._expr)
        self._min = min

    @property
    def max(self):
        return self._max

    @max.setter
    def max(self, max):
        max = self._bound(max, "max")
        self._check(self._value, self._vary, self._min, max, self._expr)
        self._max = max

    @property
    def expr(self):
        return self._expr

    @expr.setter
    def expr(self, expr):
        self._check(self._value, self._vary, self._min, self._max, expr)
        # Setting an expression fixes the parameter; removing it (None) leaves
        # it fixed too, until the user sets vary=True again.
        self._set_expr_vary(expr, self._vary and expr is None)

    # -- state, for the Minimizer's restore-on-fault -------------------------
    def _get_state(self):
        """Everything a fit may change, as a tuple (see `_set_state`)."""
        return (self._value, self._vary, self._min, self._max, self._expr,
                self.stderr, self.correl, self.init_value)

    def _set_state(self, state):
        (self._value, self._vary, self._min, self._max, self._expr,
         self.stderr, self.correl, self.init_value) = state

    def __getstate__(self):
        return (self.name,) + self._get_state()

    def __setstate__(self, state):
        self.name = state[0]
        self._set_state(state[1:])

    def __repr__(self):
        parts = [] if self.name is None else [repr(self.name)]
        value = f"value={self._value!r}"
        if self.stderr is not None and self._vary:
            value += f" +/- {self.stderr:.3g}"
        parts.append(value)
        if self._expr is not None:
            parts.append(f"expr={self._expr!r}")
        elif not self._vary:
            parts.append("fixed")
        if self._min is not None or self._max is not None:
            lo = -math.inf if self._min is None else self._min
            hi = math.inf if self._max is None else self._max
            parts.append(f"bounds=[{lo}, {hi}]")
        return f"<Parameter {', '.join(parts)}>"


def _check_item(key, par):
    """Refuse what `Parameters` cannot store under `key`."""
    check_name(key)
    if not isinstance(par, Parameter):
        raise TypeError(f"Parameters[{key!r}] must be a Parameter, got {type(par).__name__} {par!r}")
    # deviation: lmfit 0.5 renamed the Parameter to its new key, so one
    # object stored in two collections answered to the wrong name in the
    # first. A Parameter keeps the name it has; store a copy instead.
    if par.name is not None and par.name != key:
        raise ValueError(f"cannot store the Parameter named {par.name!r} as {key!r}: it may belong "
                         f"to another Parameters; store a copy with its name cleared "
                         f"(new = copy.deepcopy(par); new.name = None)")


class Parameters(dict):
    """An ordered dictionary of `Parameter`, keyed by valid names.

    It is a ``dict`` (insertion-ordered, as all dicts are since Python 3.7),
    so a residual function reads ``params['amp'].value`` at C speed. Every
    way of storing an item goes through `__setitem__`, which checks the key
    and the value and sets the parameter's name.

    Examples
    --------
    >>> p = Parameters()
    >>> p.add('amp', value=10)
    >>> p.add_many(('cen', 1.2, True, 0.5, 2.0), ('wid', 0.8))
    >>> list(p)
    ['amp', 'cen', 'wid']
    >>> p['cen']
    <Parameter 'cen', value=1.2, bounds=[0.5, 2.0]>
    >>> p['bad'] = 3.0
    Traceback (most recent call last):
    ...
    TypeError: Parameters['bad'] must be a Parameter, got float 3.0
    """

    def __init__(self, *args, **kws):
        super().__init__()
        self.update(*args, **kws)

    def __setitem__(self, key, par):
        _check_item(key, par)
        par.name = key
        super().__setitem__(key, par)

    def update(self, *args, **kws):
        """Like ``dict.update``, with every item checked before any is stored."""
        items = dict(*args, **kws)
        for key, par in items.items():
            _check_item(key, par)
        for key, par in items.items():
            self[key] = par

    def __ior__(self, other):
        self.update(other)
        return self

    def __or__(self, other):
        new = self.copy()
        new.update(other)
        return new

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def add(self, name, value=None, vary=True, min=None, max=None, expr=None):
        """Create a `Parameter` and store it under `name`.

        The parameter is built and checked before it is stored, so a bad
        definition leaves the collection unchanged.
        """
        check_name(name)
        self[name] = Parameter(value=value, vary=vary, min=min, max=max, name=name, expr=expr)

    def add_many(self, *parlist):
        """Add parameters from tuples ``(name, value, vary, min, max, expr)``.

        Shorter tuples take the defaults of `add` for the missing entries, so
        ``add_many(('a', 0.1), ('b', 1))`` works (the manual's 4.2).

        All tuples are checked before any is stored: a bad entry raises and
        leaves the collection unchanged.
        """
        built = []
        for entry in parlist:
            if not isinstance(entry, (tuple, list)) or not 1 <= len(entry) <= 6:
                raise TypeError("add_many takes tuples (name, value, vary, min, max, expr) "
                                f"with 1 to 6 entries, got {entry!r}")
            name = check_name(entry[0])
            if any(name == seen for seen, _ in built):
                raise ValueError(f"add_many: parameter {name!r} is given twice")
            # deviation: lmfit 0.5's code read the tuple as (name, value, vary,
            # expr, min, max), so tuples written as its manual shows put the
            # bounds in the wrong slots. The manual's order is used here.
            built.append((name, Parameter(*entry[1:5], name=name,
                                          expr=entry[5] if len(entry) > 5 else None)))
        for name, par in built:
            self[name] = par

    def valuesdict(self):
        """Return ``{name: value}`` for every parameter, in order."""
        return {name: par.value for name, par in self.items()}

    def copy(self):
        """Return an independent copy (same as ``copy.deepcopy``)."""
        return copy.deepcopy(self)

    def __deepcopy__(self, memo):
        new = Parameters()
        memo[id(self)] = new
        for name, par in self.items():
            new[name] = copy.deepcopy(par, memo)
        return new

    def __reduce__(self):
        # Rebuild through __setitem__ so a pickled collection is re-checked.
        return (Parameters, (list(self.items()),))

    def __repr__(self):
        if not self:
            return "Parameters()"
        lines = "".join(f"\n    {par!r}," for par in self.values())
        return f"Parameters({lines}\n)"
