"""A small, safe interpreter for constraint expressions, over Python's ``ast``.

The manual's chapter 5 lets a parameter be written as an expression of the
others (``'2*wid1/3'``, ``'param_a if test_val/2. > 100 else param_b'``),
evaluated at every step of the fit. Python's own parser turns the text into
an abstract syntax tree; this module walks that tree. It never calls
Python's ``eval`` or ``exec``.

How it works
------------
``compile`` turns each node of the tree, once, into a Python *closure* of
no arguments that computes the node's value, by one small method per node
type (``_Constant``, ``_Name``, ``_BinOp``, ...; the table ``_NODES`` lists
them all). A parent's closure calls its children's. Evaluating an
expression is then one call of the root closure: the tree is not walked
again, which is why a simple constraint costs well under a microsecond per fit
step. Statements compile the same way; ``return``,
``break`` and ``continue`` travel as private exceptions that never leave
the interpreter.

Why it is safe (by construction, not by a blocklist)
----------------------------------------------------
* **Only the syntax in ``_NODES`` exists.** Any other node (attribute
  access ``x.y``, ``import``, ``class``, ``lambda``, comprehensions,
  f-strings, ``try``/``raise``, ``global``, walrus, ...) is refused when
  the text is compiled. With no attribute access at all (the allow-list of
  attributes is empty), no object's internals are reachable: no
  ``__class__``, ``__globals__``, frames, code objects, modules' contents,
  exception objects or a user function's syntax tree.
* **Names come from one plain dict, the symtable**, never from Python's
  builtins. Names with two leading underscores are refused outright.
* **Calls reach only what is in the symtable** (the math table below,
  what the user put there, functions defined with ``def``). An exception
  raised inside a call becomes an `ExpressionError` carrying only text;
  ``SystemExit`` and ``GeneratorExit`` are converted too, so nothing that is
  not an ``Exception`` can come out (a real Ctrl-C, ``KeyboardInterrupt``,
  still stops the program, as it must).
* **Strings are inert**: no methods (no attributes), no ``%`` formatting,
  no f-strings, so no format-string walk.
* **Every cost is capped** (class attributes of `Interpreter`, documented
  there; the guards and the default table are in ``evaluator_ops.py``,
  statements in ``evaluator_statements.py``): source length, nesting
  depth, the size of integers (checked *before* ``**``, ``*`` and ``<<``
  compute them, so ``9**9**9`` fails at once), of strings and sequences
  (``'a'*10**10`` likewise, nested sequences counted in full), recursion
  depth, ``range`` length and ``factorial``'s argument; and one *work
  budget* per evaluation pays for every loop pass and call (the nodes it
  runs), for every sequence an operation creates, compares or scans (its
  elements) and for arithmetic on big integers (one step per 64 bits), so
  neither time nor memory can run away.

The published advisories against the asteval package were, in turn: an
attribute walk through ``str.format`` reaching an exception's ``.obj``;
modifying a user function's syntax tree after it had been checked; raising
``BaseException`` subclasses; and reaching ``os`` through a module left in
the namespace. Here there are no attributes, a function's tree is compiled
to closures when it is defined and is never a value, nothing can raise, and
a module in the symtable is an inert value.

Notation
--------
symtable   the one namespace: constants, functions, parameter values
closure    a compiled node: a function of no arguments returning its value
steps      the work budget used in loops and calls (nodes executed)

Book: book/evaluator.md
"""
import ast

import numpy as np

from .evaluator_ops import (BINARY, COMPARE, GUARDS, SEQUENCES, UNARY, ExpressionError,
                            default_symtable, describe_node, pay, short, weight)
from .evaluator_statements import Procedure, StatementsMixin, _Context

__all__ = ["Interpreter", "ExpressionError"]


_WORD = 2 ** 63  # integers below this in size cost no more than floats


def _text(err):
    """An exception's message, even if its ``__str__`` misbehaves."""
    try:
        return str(err)
    except Exception:
        return type(err).__name__


class Interpreter(StatementsMixin):
    """Compile and evaluate expressions and simple statements, safely.

    Parameters
    ----------
    symtable : dict, optional
        Extra names to start with (added to `default_symtable`).

    Attributes
    ----------
    symtable : dict
        The flat namespace (manual 5.3); add functions to it freely.

    Examples
    --------
    >>> ev = Interpreter()
    >>> ev.eval('sqrt(16) + pi')
    7.141592653589793
    >>> ev.eval('def double(x):\\n    return 2*x')
    >>> ev.eval('double(frexp(8.0)[0])')
    1.0
    >>> ev.eval('().__class__')
    Traceback (most recent call last):
    ...
    lmfit_ref.evaluator_ops.ExpressionError: attribute access ('.__class__') is not supported, in '().__class__'
    """

    #: Longest source text accepted, in characters.
    max_source = 10_000
    #: Deepest nesting of syntax accepted.
    max_depth = 100
    #: Largest integer, in bits, that an operation may produce.
    max_int_bits = 100_000
    #: Longest string, list or tuple that an operation may produce.
    max_length = 100_000
    #: Work budget of one evaluation: syntax nodes run in loops and calls.
    max_steps = 200_000
    #: Deepest chain of calls of functions defined with ``def``.
    max_calls = 50

    #: The syntax the interpreter knows: node type -> the method compiling it.
    #: Anything else is refused. Statements are in evaluator_statements.py.
    _NODES = {
        # expressions
        ast.Constant: "_Constant", ast.Name: "_Name", ast.BinOp: "_BinOp",
        ast.UnaryOp: "_UnaryOp", ast.BoolOp: "_BoolOp", ast.Compare: "_Compare",
        ast.IfExp: "_IfExp", ast.Call: "_Call", ast.Tuple: "_Tuple", ast.List: "_List",
        ast.Subscript: "_Subscript", ast.Slice: "_Slice",
        # statements
        ast.Expr: "_Expr", ast.Assign: "_Assign", ast.AugAssign: "_AugAssign",
        ast.If: "_If", ast.For: "_For", ast.While: "_While", ast.Break: "_Break",
        ast.Continue: "_Continue", ast.Pass: "_Pass", ast.FunctionDef: "_FunctionDef",
        ast.Return: "_Return",
    }

    def __init__(self, symtable=None):
        self.symtable = default_symtable(self)
        if symtable:
            self.symtable.update(symtable)
        self._steps = 0
        self._calls = 0
        self._running = False  # inside an evaluation (see Procedure.__call__)
        self._budget = self.max_steps

    # -- the public face ------------------------------------------------------------
    def parse(self, text, mode="exec"):
        """Parse `text` into a syntax tree (``mode='eval'``: one expression only)."""
        if not isinstance(text, str):
            raise ExpressionError(f"an expression must be a str, got {type(text).__name__}")
        if len(text) > self.max_source:
            raise ExpressionError(f"expression is {len(text)} characters long; "
                                  f"the limit is {self.max_source}")
        try:
            return ast.parse(text.strip() if mode == "eval" else text, mode=mode)
        except SyntaxError as err:
            message = f"syntax error in {short(text)}: {err.msg}"
        except (RecursionError, MemoryError, ValueError) as err:  # pathological nesting, bad literals
            message = f"cannot parse {short(text)}: {type(err).__name__}"
        raise ExpressionError(message)  # outside the except clauses: text only

    def compile(self, text, mode="eval", tree=None, max_steps=None):
        """Compile `text` into a closure of no arguments that evaluates it.

        ``mode='eval'`` takes one expression and the closure returns its
        value; ``mode='exec'`` takes statements and returns the value of the
        last one if it is an expression, else None. Calling the closure
        runs with a fresh work budget of `max_steps` (default: the class
        attribute). `tree`, if given, is ``parse(text, mode)`` done already
        (so that a caller parses once).
        """
        tree = self.parse(text, mode) if tree is None else tree
        self._text = text
        body = (self._compile(tree.body, 0, _Context()) if mode == "eval"
                else self._block(tree.body, 0, _Context(), value_of_last=True))

        budget = self.max_steps if max_steps is None else max_steps

        def run():
            self._steps = self._calls = 0  # a fresh work budget for each evaluation
            self._budget = budget
            self._running = True
            try:
                return body()
            except ExpressionError as err:
                message = _text(err)
            except KeyboardInterrupt:
                raise  # a real Ctrl-C must still stop the program
            except BaseException as err:  # 1/0, overflow, a type mismatch...
                message = f"{type(err).__name__}: {_text(err)}, in {short(text)}"
            finally:
                self._running = False
            # Raised here, outside the except clauses, so that it carries text
            # only: no __context__, no traceback into the interpreter.
            raise ExpressionError(message)
        return run

    def eval(self, text):
        """Evaluate statements or an expression; return the last expression's value.

        On error, raise `ExpressionError` and leave the symtable exactly as
        it was (entries set by the failing text are undone).
        """
        saved = dict(self.symtable)
        try:
            return self.compile(text, mode="exec")()
        except BaseException:
            self.symtable.clear()
            self.symtable.update(saved)
            raise

    def names(self, text, tree=None):
        """The names `text` reads, in order of first use (for dependencies).

        Names read inside a function defined with ``def`` are not seen from
        a call to it: only those written in `text` itself.

        >>> Interpreter().names('cen_1 * wid_2 / max(wid_1, 0.001)')
        ['cen_1', 'wid_2', 'max', 'wid_1']
        """
        found = []
        for node in ast.walk(self.parse(text, "eval") if tree is None else tree):
            if isinstance(node, ast.Name) and node.id not in found:
                found.append(node.id)
        return found

    # -- compiling: dispatch ----------------------------------------------------------
    def _compile(self, node, depth, ctx):
        if depth > self.max_depth:
            raise ExpressionError(f"expression nested deeper than {self.max_depth} levels")
        method = self._NODES.get(type(node))
        if method is None:
            raise ExpressionError(f"{describe_node(node)} is not supported, in {short(self._text)}")
        return getattr(self, method)(node, depth + 1, ctx)


    def _Constant(self, node, depth, ctx):
        """Numbers, strings, True/False/None: ``2.5``, ``'abc'``, ``None``."""
        value = node.value
        if not isinstance(value, (int, float, complex, str, type(None))):
            raise ExpressionError(f"constant {value!r} of type {type(value).__name__} is not supported")
        return lambda: value

    def _Name(self, node, depth, ctx):
        """A name read from (or written to) the symtable: ``amp``, ``pi``."""
        name = node.id
        if name.startswith("__"):
            raise ExpressionError(f"names starting with '__' are not allowed: {name!r}")
        if isinstance(node.ctx, ast.Store):
            raise ExpressionError("internal: store handled by assignment")
        if ctx.local_names is not None:
            return self._local_lookup(name, ctx)
        symtable = self.symtable

        def load():
            try:
                return symtable[name]
            except KeyError:
                raise ExpressionError(f"name {name!r} is not defined") from None
        return load

    def _local_lookup(self, name, ctx):
        frames, symtable = ctx.frames, self.symtable

        def load():
            local = frames[-1]
            if name in local:
                return local[name]
            try:
                return symtable[name]
            except KeyError:
                raise ExpressionError(f"name {name!r} is not defined") from None
        return load

    def _BinOp(self, node, depth, ctx):
        """``a + b``, ``-``, ``*``, ``/``, ``//``, ``%``, ``**``, ``<<``, ``>>``, ``&``, ``|``, ``^``."""
        op = BINARY.get(type(node.op))
        if op is None:
            raise ExpressionError(f"operator {type(node.op).__name__} is not supported")
        left = self._compile(node.left, depth, ctx)
        right = self._compile(node.right, depth, ctx)
        guard = GUARDS.get(type(node.op), pay)
        # Floats and word-sized integers need no guard, except for ** and <<,
        # which turn small integers into huge ones.
        always = isinstance(node.op, (ast.Pow, ast.LShift))
        interp = self

        def binop():
            a, b = left(), right()
            ta, tb = type(a), type(b)
            small = ((ta is float or ta is int and -_WORD < a < _WORD)
                     and (tb is float or tb is int and -_WORD < b < _WORD))
            if not small or always and ta is int and tb is int:
                guard(a, b, interp)  # refuse a result too big to hold; pay for big operands
            return op(a, b)
        return binop

    def _UnaryOp(self, node, depth, ctx):
        """``-a``, ``+a``, ``not a``, ``~a``."""
        op = UNARY[type(node.op)]
        operand = self._compile(node.operand, depth, ctx)
        interp = self

        def unary():
            v = operand()
            if type(v) is not float and not (type(v) is int and -_WORD < v < _WORD):
                pay(v, 0, interp)  # negating a huge integer copies it
            return op(v)
        return unary

    def _BoolOp(self, node, depth, ctx):
        """``a and b``, ``a or b``: short-circuit, the value of the deciding operand."""
        values = [self._compile(v, depth, ctx) for v in node.values]
        is_and = isinstance(node.op, ast.And)

        def boolop():
            for value in values:
                result = value()
                if bool(result) is not is_and:
                    return result
            return result
        return boolop

    def _Compare(self, node, depth, ctx):
        """``a < b``, ``<=``, ``==``, ``!=``, ``>``, ``>=``, ``is``, ``is not``, ``in``, ``not in``; chains."""
        first = self._compile(node.left, depth, ctx)
        rest = [(COMPARE[type(op)], self._compile(c, depth, ctx))
                for op, c in zip(node.ops, node.comparators)]

        interp = self

        def compare():
            a = first()
            for op, other in rest:
                b = other()
                if type(a) is not float or type(b) is not float:
                    pay(a, b, interp)  # comparing big sequences or integers costs
                if not op(a, b):
                    return False
                a = b
            return True
        return compare

    def _IfExp(self, node, depth, ctx):
        """``a if test else b``."""
        test = self._compile(node.test, depth, ctx)
        body = self._compile(node.body, depth, ctx)
        orelse = self._compile(node.orelse, depth, ctx)
        return lambda: body() if test() else orelse()

    def _Call(self, node, depth, ctx):
        """``f(x, y, key=z)``: a function from the symtable or defined with ``def``."""
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise ExpressionError("*args and **kwargs in calls are not supported")
        func = self._compile(node.func, depth, ctx)
        args = [self._compile(a, depth, ctx) for a in node.args]
        kws = [(k.arg, self._compile(k.value, depth, ctx)) for k in node.keywords]
        name = getattr(node.func, "id", "the called object")
        interp = self

        def call():
            f = func()
            if not callable(f):
                raise ExpressionError(f"{name} is not a function ({type(f).__name__})")
            values = [a() for a in args]
            keywords = {k: v() for k, v in kws}
            for v in values:
                if isinstance(v, SEQUENCES):  # max, min, fsum... scan their arguments
                    interp._spend(weight(v, interp.max_length))
            if isinstance(f, Procedure):
                return f(*values, **keywords)
            try:
                result = f(*values, **keywords)
            except ExpressionError:
                raise
            except KeyboardInterrupt:
                raise  # a real Ctrl-C must still stop the program
            except BaseException as err:  # only text leaves: never the exception object
                raise ExpressionError(f"{name}() raised {type(err).__name__}: {err}") from None
            if isinstance(result, int) and result.bit_length() > 64:  # factorial, ...
                interp._spend(result.bit_length() >> 6)
            return result
        return call

    def _Tuple(self, node, depth, ctx):
        """``(a, b, c)``."""
        items = [self._compile(e, depth, ctx) for e in node.elts]
        return lambda: tuple(item() for item in items)

    def _List(self, node, depth, ctx):
        """``[a, b, c]``."""
        items = [self._compile(e, depth, ctx) for e in node.elts]
        return lambda: [item() for item in items]

    def _Subscript(self, node, depth, ctx):
        """``x[i]``, ``x[i:j:k]`` on a tuple, list, string, range or NumPy array."""
        value = self._compile(node.value, depth, ctx)
        index = self._compile(node.slice, depth, ctx)
        interp = self

        def subscript():
            v, i = value(), index()
            if not isinstance(v, (tuple, list, str, range, np.ndarray)):
                raise ExpressionError(f"indexing a {type(v).__name__} is not supported")
            try:
                item = v[i]
            except (IndexError, TypeError, ValueError) as err:
                raise ExpressionError(f"bad index: {err}") from None
            if isinstance(i, slice) and isinstance(item, SEQUENCES):
                interp._spend(len(item))  # a slice is a copy
            return item
        return subscript

    def _Slice(self, node, depth, ctx):
        """The ``i:j:k`` inside ``x[i:j:k]``."""
        parts = [None if p is None else self._compile(p, depth, ctx)
                 for p in (node.lower, node.upper, node.step)]
        return lambda: slice(*(None if p is None else p() for p in parts))

    # -- statements ---------------------------------------------------------------------
