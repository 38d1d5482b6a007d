"""The evaluator's vocabulary: operators, their size guards, the default symtable.

``evaluator.py`` compiles syntax; this module says what each operator does
and which values the interpreter starts with (the manual's 5.2 list). Four
operators can make a result far larger than their operands (``**``, ``*``,
``+`` on sequences, ``<<``): each has a *guard* that looks at the operands
and refuses, before anything is computed, a result beyond the interpreter's
limits (``Interpreter.max_int_bits``, ``Interpreter.max_length``). Functions
of the default table that could run away (``range``, ``max``, ``min``,
``fsum``, ``factorial``) are wrapped with the same limits.

Book: book/evaluator.md
"""
import ast
import functools
import math
import operator

import numpy as np

__all__ = ["ExpressionError", "default_symtable", "BINARY", "UNARY", "COMPARE", "GUARDS",
           "pay", "weight", "SEQUENCES"]


class ExpressionError(ValueError):
    """An expression could not be compiled or evaluated; the message says why."""



# The manual's 5.2: these functions and constants, and nothing else, unless
# the user adds more.
_MATH_NAMES = ("acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "ceil",
               "copysign", "cos", "cosh", "degrees", "exp", "fabs", "floor", "fmod",
               "frexp", "fsum", "hypot", "isinf", "isnan", "ldexp", "log", "log10",
               "log1p", "modf", "pow", "radians", "sin", "sinh", "sqrt", "tan", "tanh",
               "trunc")


BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
          ast.Invert: operator.invert}
COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: operator.contains(b, a),
    ast.NotIn: lambda a, b: not operator.contains(b, a),
}


def _int(x):
    """`x` as a Python int if it is an integer of any kind (NumPy's too), else None."""
    return int(x) if isinstance(x, (int, np.integer)) else None


SEQUENCES = (str, bytes, tuple, list, range)


def _sized(x):
    return isinstance(x, SEQUENCES)


def number(n):
    """An integer for a message: its digits, or its size if it has too many to print."""
    n = _int(n)
    return str(n) if n is None or n.bit_length() <= 64 else f"a {n.bit_length()}-bit integer"


def weight(value, limit):
    """Elements in a sequence, counting those of nested sequences; stops past `limit`.

    What an operation on `value` costs (compare, copy, repeat), shared
    references counted every time they occur:

    >>> inner = [0] * 10
    >>> weight([inner] * 3, 1000), weight('abc', 1000), weight(2.5, 1000)
    (33, 3, 0)
    """
    total, stack = 0, [value]
    while stack and total <= limit:
        x = stack.pop()
        if isinstance(x, SEQUENCES):
            total += len(x)
            if isinstance(x, (tuple, list)) and total <= limit:
                stack.extend(e for e in x if isinstance(e, SEQUENCES))
    return total


def pay(a, b, interp):
    """Charge the work budget for an operation on big operands.

    Called before a binary or unary operation or a comparison whose
    operands are not plain floats or word-sized integers. Sequences cost
    their weight (elements, nested ones included). Integers (NumPy's too)
    cost their 64-bit words, plus their product over 16: multiplying,
    dividing or taking the remainder of two n-word integers is ~n**2 work.
    """
    ia, ib = _int(a), _int(b)
    if ia is not None and ib is not None:
        wa, wb = ia.bit_length() >> 6, ib.bit_length() >> 6
        cost = wa + wb + ((wa * wb) >> 4)
        if cost:
            interp._spend(cost)
    elif _sized(a) or _sized(b):
        interp._spend(weight(a, interp.max_length) + weight(b, interp.max_length))


def _guard_pow(a, b, interp):
    ia, ib = _int(a), _int(b)
    if ia is not None and ib is not None and ib > 0 and abs(ia) > 1:
        bits = ib * ia.bit_length()
        if bits > interp.max_int_bits:
            raise ExpressionError(f"{number(ia)}**{number(ib)} would have about {number(bits)} "
                                  f"bits; the limit is {interp.max_int_bits}")
        # squaring and multiplying up to the result: its words, log2(b) times
        interp._spend((bits >> 6) * ib.bit_length())
    pay(a, b, interp)


def _guard_mul(a, b, interp):
    ia, ib = _int(a), _int(b)
    if ia is not None and ib is not None:
        if ia.bit_length() + ib.bit_length() > interp.max_int_bits:
            raise ExpressionError(f"product of integers too large (over {interp.max_int_bits} bits)")
    elif _sized(a) or _sized(b):
        seq, n = (a, ib) if _sized(a) else (b, ia)
        if n is not None and n > 0:
            size = weight(seq, interp.max_length) * n
            if size > interp.max_length:
                raise ExpressionError(f"repeating a {type(seq).__name__} of {len(seq)} items "
                                      f"(nested items counted) {number(n)} times exceeds the size "
                                      f"limit {interp.max_length}")
            interp._spend(size)
            return
    pay(a, b, interp)


def _guard_add(a, b, interp):
    if _sized(a) and _sized(b):
        size = weight(a, interp.max_length) + weight(b, interp.max_length)
        if size > interp.max_length:
            raise ExpressionError(f"result larger than the size limit {interp.max_length}")
        interp._spend(size)
        return
    pay(a, b, interp)


def _guard_lshift(a, b, interp):
    ia, ib = _int(a), _int(b)
    if ia is not None and ib is not None and ib > 0:
        bits = ia.bit_length() + ib
        if bits > interp.max_int_bits:
            raise ExpressionError(f"{number(ia)} << {number(ib)} would exceed "
                                  f"{interp.max_int_bits} bits")
        interp._spend(bits >> 6)  # the result's words
    pay(a, b, interp)


def _guard_mod(a, b, interp):
    if isinstance(a, (str, bytes)):
        raise ExpressionError("string formatting with % is not supported")
    pay(a, b, interp)


#: Binary operator -> what runs before it: refuse a result too big to hold,
#: and charge the work budget for big operands.
GUARDS = {ast.Pow: _guard_pow, ast.Mult: _guard_mul, ast.Add: _guard_add,
          ast.LShift: _guard_lshift, ast.Mod: _guard_mod}


# -- the default symtable ----------------------------------------------------------------------
def default_symtable(limits):
    """The manual's 5.2 constants and functions, capped where they could run away.

    ``limits`` supplies ``max_length`` (for ``range``, ``max``, ``min``,
    ``fsum``) and bounds ``factorial``. ``range`` is an addition to the
    manual's list, so that ``for`` loops have something to count with.

    >>> from lmfit_ref.evaluator import Interpreter
    >>> table = default_symtable(Interpreter)
    >>> sorted(set(table) - set(_MATH_NAMES))
    ['abs', 'e', 'factorial', 'max', 'min', 'pi', 'range']
    """
    return dict(_base_table(limits.max_length))


@functools.lru_cache(maxsize=None)
def _base_table(cap):
    """Built once per length limit; each interpreter gets its own copy."""
    # deviation: lmfit 0.5's asteval also exposed Python builtins and allowed
    # attribute access; here the table is the manual's 5.2 list, plus a
    # capped range() so that for loops have something to count with.
    table = {name: getattr(math, name) for name in _MATH_NAMES}

    def check_iterable(args, fname):
        if len(args) == 1 and hasattr(args[0], "__len__") and len(args[0]) > cap:
            raise ExpressionError(f"{fname}() of more than {cap} items is not supported")

    def capped_range(*args):
        r = range(*args)
        if len(r) > cap:
            raise ExpressionError(f"range of {len(r)} items exceeds the limit {cap}")
        return r

    # No key= for max and min: a key function called back for every item
    # would do work the interpreter cannot see or charge.
    def capped_max(*args, default=None):
        check_iterable(args, "max")
        return max(*args) if default is None else max(*args, default=default)

    def capped_min(*args, default=None):
        check_iterable(args, "min")
        return min(*args) if default is None else min(*args, default=default)

    def capped_fsum(values):
        check_iterable((values,), "fsum")
        if isinstance(values, range) or not hasattr(values, "__len__"):
            raise ExpressionError("fsum() takes a list, tuple or array")
        return math.fsum(values)

    def capped_factorial(n):
        # factorial(5000) has about 54000 bits, within max_int_bits
        if _int(n) is not None and n > 5000:
            raise ExpressionError(f"factorial({number(n)}) is too large (limit 5000)")
        return math.factorial(n)

    table.update(e=math.e, pi=math.pi, abs=abs, max=capped_max, min=capped_min,
                 fsum=capped_fsum, factorial=capped_factorial, range=capped_range)
    return table


def describe_node(node):
    kind = type(node).__name__
    names = {"Attribute": f"attribute access ('.{getattr(node, 'attr', '')}')",
             "Import": "import", "ImportFrom": "import", "ClassDef": "class definition",
             "Lambda": "lambda", "JoinedStr": "f-string", "Raise": "raise", "Try": "try",
             "Global": "global", "Nonlocal": "nonlocal", "NamedExpr": "the := operator",
             "ListComp": "list comprehension", "GeneratorExp": "generator expression",
             "DictComp": "dict comprehension", "SetComp": "set comprehension",
             "Yield": "yield", "YieldFrom": "yield", "Await": "await", "Dict": "dict literal",
             "Set": "set literal", "Starred": "*unpacking", "Delete": "del", "With": "with",
             "Assert": "assert"}
    return names.get(kind, f"syntax {kind}")


def short(text, n=60):
    text = repr(text)
    return text if len(text) <= n else text[:n] + "...'"
