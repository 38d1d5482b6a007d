"""Statements for the evaluator: assignment, if, loops, def and return.

The manual's 5.3 says the interpreter runs "most Python syntax, including
for- and while-loops, conditional expressions, and user-defined
functions". ``Interpreter`` (``evaluator.py``) inherits these compile
methods; like the expression ones, each turns one node into a closure.

Control flow travels as three private exceptions (`_ReturnSignal`,
`_BreakSignal`, `_ContinueSignal`) that the compiler only emits where they
are caught: ``return`` inside a ``def``, ``break``/``continue`` inside a
loop, so none can leave the interpreter. Loops and calls spend from the
work budget (`StatementsMixin._spend`) the number of syntax nodes they run,
so ``while True: pass`` stops with an error after ``max_steps``.

A function defined with ``def`` becomes a `Procedure`: its body compiled
to closures at definition time. It keeps no syntax tree and has no
attributes worth reading, so it cannot be changed between the check and a
later call (an advisory against asteval).

Book: book/evaluator.md
"""
import ast

import numpy as np

from .evaluator_ops import ExpressionError, describe_node

__all__ = ["StatementsMixin", "Procedure"]


class _ReturnSignal(Exception):
    """Carries a ``return`` value to the enclosing function call."""

    def __init__(self, value):
        self.value = value


class _BreakSignal(Exception):
    pass


class _ContinueSignal(Exception):
    pass


class StatementsMixin:
    """The statement compilers of `Interpreter` (see its ``_NODES`` table)."""

    def _block(self, statements, depth, ctx, value_of_last=False):
        """Compile a list of statements into one closure running them in order."""
        parts = [self._compile(s, depth, ctx) for s in statements]
        if value_of_last and statements and isinstance(statements[-1], ast.Expr):
            *first, last = parts

            def run_block():
                for part in first:
                    part()
                return last()
            return run_block

        def run_statements():
            for part in parts:
                part()
        return run_statements

    # -- expressions --------------------------------------------------------------------
    def _Expr(self, node, depth, ctx):
        """An expression used as a statement."""
        return self._compile(node.value, depth, ctx)

    def _target(self, target, depth, ctx):
        """A closure storing a value into a name, or unpacking into names."""
        if isinstance(target, ast.Name):
            name = target.id
            if name.startswith("__"):
                raise ExpressionError(f"names starting with '__' are not allowed: {name!r}")
            if ctx.local_names is not None:
                frames = ctx.frames
                ctx.local_names.add(name)

                def store_local(value):
                    frames[-1][name] = value
                return store_local
            symtable = self.symtable

            def store(value):
                symtable[name] = value
            return store
        if isinstance(target, (ast.Tuple, ast.List)):
            stores = [self._target(t, depth, ctx) for t in target.elts]

            def unpack(value):
                values = list(value) if isinstance(value, (tuple, list)) else None
                if values is None or len(values) != len(stores):
                    raise ExpressionError(f"cannot unpack into {len(stores)} names")
                for store_one, v in zip(stores, values):
                    store_one(v)
            return unpack
        raise ExpressionError(f"assignment to {describe_node(target)} is not supported")

    def _Assign(self, node, depth, ctx):
        """``x = expr``, ``a, b = expr``, ``x = y = expr``."""
        value = self._compile(node.value, depth, ctx)
        stores = [self._target(t, depth, ctx) for t in node.targets]

        def assign():
            v = value()
            for store in stores:
                store(v)
        return assign

    def _AugAssign(self, node, depth, ctx):
        """``x += expr`` and the other augmented assignments."""
        if not isinstance(node.target, ast.Name):
            raise ExpressionError("augmented assignment works on names only")
        as_binop = ast.BinOp(left=ast.Name(id=node.target.id, ctx=ast.Load()), op=node.op,
                             right=node.value)
        value = self._BinOp(as_binop, depth, ctx)
        store = self._target(node.target, depth, ctx)
        return lambda: store(value())

    def _If(self, node, depth, ctx):
        """``if test: ... elif ...: ... else: ...``."""
        test = self._compile(node.test, depth, ctx)
        body = self._block(node.body, depth, ctx)
        orelse = self._block(node.orelse, depth, ctx)

        def if_statement():
            if test():
                body()
            else:
                orelse()
        return if_statement

    def _loop_body(self, node, depth, ctx):
        """Compile a loop body with its cost per pass (its nodes) for the work budget."""
        cost = sum(1 for _ in ast.walk(node))
        inner = _Context(local_names=ctx.local_names, frames=ctx.frames, in_loop=True,
                         in_function=ctx.in_function)
        return self._block(node.body, depth, inner), cost

    def _spend(self, cost):
        """Charge `cost` steps to this evaluation's work budget, or stop it."""
        self._steps += cost
        if self._steps > self._budget:
            raise ExpressionError(f"evaluation took more than {self._budget} steps "
                                  "(an endless loop, or work on very large values?)")

    def _For(self, node, depth, ctx):
        """``for x in sequence: ...`` (``else`` is not supported)."""
        if node.orelse:
            raise ExpressionError("for ... else is not supported")
        iterable = self._compile(node.iter, depth, ctx)
        store = self._target(node.target, depth, ctx)
        body, cost = self._loop_body(node, depth, ctx)

        def for_loop():
            values = iterable()
            if not isinstance(values, (tuple, list, str, range, np.ndarray)):
                raise ExpressionError(f"cannot loop over a {type(values).__name__}")
            for value in values:
                self._spend(cost)
                store(value)
                try:
                    body()
                except _BreakSignal:
                    break
                except _ContinueSignal:
                    continue
        return for_loop

    def _While(self, node, depth, ctx):
        """``while test: ...`` (``else`` is not supported)."""
        if node.orelse:
            raise ExpressionError("while ... else is not supported")
        test = self._compile(node.test, depth, ctx)
        body, cost = self._loop_body(node, depth, ctx)

        def while_loop():
            while test():
                self._spend(cost)
                try:
                    body()
                except _BreakSignal:
                    break
                except _ContinueSignal:
                    continue
        return while_loop

    def _Break(self, node, depth, ctx):
        """``break``, inside a loop."""
        if not ctx.in_loop:
            raise ExpressionError("'break' outside a loop")

        def do_break():
            raise _BreakSignal
        return do_break

    def _Continue(self, node, depth, ctx):
        """``continue``, inside a loop."""
        if not ctx.in_loop:
            raise ExpressionError("'continue' outside a loop")

        def do_continue():
            raise _ContinueSignal
        return do_continue

    def _Pass(self, node, depth, ctx):
        """``pass``."""
        return lambda: None

    def _Return(self, node, depth, ctx):
        """``return expr``, inside a function."""
        if not ctx.in_function:
            raise ExpressionError("'return' outside a function")
        value = (lambda: None) if node.value is None else self._compile(node.value, depth, ctx)

        def do_return():
            raise _ReturnSignal(value())
        return do_return

    def _FunctionDef(self, node, depth, ctx):
        """``def f(x, y=1): ...``: a function with its own local names.

        The body is compiled now, into closures; the syntax tree is not kept,
        so nothing can change it between this check and a later call.
        """
        a = node.args
        if (node.decorator_list or a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs
                or node.returns):
            raise ExpressionError(f"def {node.name}: only plain positional parameters "
                                  "with optional defaults are supported")
        if ctx.in_function:
            raise ExpressionError(f"def {node.name}: functions inside functions are not supported")
        params = [arg.arg for arg in a.args]
        if len(set(params)) != len(params):
            raise ExpressionError(f"def {node.name}: a parameter name is repeated")
        # deviation: in Python a name assigned anywhere in a function is local
        # throughout, and reading it before the assignment is an error; here
        # a name is read from the function's frame once assigned there, and
        # from the symtable before that (as asteval did).
        for p in params + [node.name]:
            if p.startswith("__"):
                raise ExpressionError(f"names starting with '__' are not allowed: {p!r}")
        defaults = [self._compile(d, depth, ctx) for d in a.defaults]
        frames = []
        inner = _Context(local_names=set(params), frames=frames, in_function=True)
        body = self._block(node.body, depth, inner)
        cost = sum(1 for _ in ast.walk(node))
        store = self._target(ast.Name(id=node.name, ctx=ast.Store()), depth, ctx)

        def define():
            store(Procedure(self, node.name, params, [d() for d in defaults], body, frames, cost))
        return define


class Procedure:
    """A function defined with ``def`` inside the interpreter.

    It holds only closures (no syntax tree, no attributes worth reading) and
    is called like any function: ``f(1, y=2)``.
    """

    __slots__ = ("_interp", "_name", "_params", "_defaults", "_body", "_frames", "_cost")

    def __init__(self, interp, name, params, defaults, body, frames, cost):
        self._interp, self._name, self._params = interp, name, params
        self._defaults, self._body, self._frames, self._cost = defaults, body, frames, cost

    def __repr__(self):
        return f"<Procedure {self._name}({', '.join(self._params)})>"

    def __call__(self, *args, **kws):
        interp = self._interp
        n, d = len(self._params), len(self._defaults)
        if len(args) > n:
            raise ExpressionError(f"{self._name}() takes {n} arguments, got {len(args)}")
        local = dict(zip(self._params, args))
        for key, value in kws.items():
            if key not in self._params or key in local:
                raise ExpressionError(f"{self._name}() got a bad keyword argument {key!r}")
            local[key] = value
        for i, p in enumerate(self._params):
            if p not in local:
                if i < n - d:
                    raise ExpressionError(f"{self._name}() is missing argument {p!r}")
                local[p] = self._defaults[i - (n - d)]
        if not interp._running:
            # Called from Python (trusted code), not from an expression: run
            # it as an evaluation of its own, with a fresh work budget, and
            # let only text come out, as from Interpreter.compile.
            interp._steps = interp._calls = 0
            interp._budget = interp.max_steps
            interp._running = True
            try:
                return self(*args, **kws)
            except ExpressionError as err:
                message = str(err)
            except KeyboardInterrupt:
                raise
            except BaseException as err:
                message = f"{self._name}() raised {type(err).__name__}: {err}"
            finally:
                interp._running = False
            raise ExpressionError(message)
        interp._calls += 1
        try:
            if interp._calls > interp.max_calls:
                raise ExpressionError(f"calls nested deeper than {interp.max_calls} "
                                      f"(runaway recursion in {self._name}?)")
            interp._spend(self._cost)
            self._frames.append(local)
            try:
                self._body()
            except _ReturnSignal as ret:
                return ret.value
            finally:
                self._frames.pop()
            return None
        finally:
            interp._calls -= 1


class _Context:
    """What the compiler knows about where it is: in a function, in a loop."""

    __slots__ = ("local_names", "frames", "in_loop", "in_function")

    def __init__(self, local_names=None, frames=None, in_loop=False, in_function=False):
        self.local_names, self.frames = local_names, frames
        self.in_loop, self.in_function = in_loop, in_function


