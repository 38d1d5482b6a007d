"""The expression interpreter, functionally (manual 5.2 and 5.3).

References: every operator is checked against the same operation done by
Python itself on the same operands, every function of the manual's 5.2
list against Python's ``math`` module (or the builtin of the same name),
and the statements against the values a hand-run of the program gives.
Nothing here is compared with lmfit_ref's own output.

The hostile-input suite is in test_evaluator_hostile.py.
"""
import math
import operator

import numpy as np
import pytest

import lmfit_ref as lmfit
from lmfit_ref.evaluator import ExpressionError, Interpreter


@pytest.fixture
def ev():
    return Interpreter()


# -- operators (manual 5.2) ------------------------------------------------------------
# (text, the same computed by Python). Operands chosen so each result is exact
# or computed by the same IEEE operation.
BINARY_CASES = [
    ("7 + 2.5", 7 + 2.5), ("7 - 2.5", 7 - 2.5), ("7 * 2.5", 7 * 2.5),
    ("7 / 2", 7 / 2), ("7 // 2", 7 // 2), ("-7 // 2", -7 // 2),
    ("2 ** 10", 2**10), ("2.0 ** -0.5", 2.0**-0.5), ("(-8) ** 3", (-8) ** 3),
    ("12 & 10", 12 & 10), ("12 | 10", 12 | 10), ("12 ^ 10", 12 ^ 10),
    ("3 << 4", 3 << 4), ("100 >> 3", 100 >> 3), ("17 % 5", 17 % 5),
    ("-17 % 5", -17 % 5), ("7.5 % 2", 7.5 % 2), ("~5", ~5), ("-(3)", -3),
    ("+(3)", 3), ("2 + 3 * 4 ** 2", 2 + 3 * 4**2), ("(2 + 3) * 4", 20),
    ("1e300 * 1e10", math.inf),
]


@pytest.mark.parametrize("text, expected", BINARY_CASES, ids=[c[0] for c in BINARY_CASES])
def test_arithmetic_and_bit_operators(ev, text, expected):
    got = ev.eval(text)
    assert got == expected and type(got) is type(expected)


LOGIC_CASES = [
    ("1 == 1.0", True), ("1 != 1.0", False), ("2 > 1", True), ("2 >= 2", True),
    ("1 < 1", False), ("1 <= 1", True), ("1 < 2 < 3", True), ("1 < 3 < 2", False),
    ("None is None", True), ("1 is not None", True), ("2 in (1, 2, 3)", True),
    ("4 not in [1, 2, 3]", True), ("'b' in 'abc'", True),
    ("not 0", True), ("not 3", False),
    ("0 and 5", 0), ("2 and 5", 5), ("0 or 5", 5), ("2 or 5", 2),
    ("1 and 2 and 3", 3), ("0 or '' or 7", 7),
]


@pytest.mark.parametrize("text, expected", LOGIC_CASES, ids=[c[0] for c in LOGIC_CASES])
def test_comparisons_and_logic(ev, text, expected):
    got = ev.eval(text)
    assert got == expected and type(got) is type(expected)


def test_and_or_short_circuit(ev):
    # The right operand is not evaluated when the left decides: 1/0 never runs.
    assert ev.eval("0 and 1/0") == 0
    assert ev.eval("1 or 1/0") == 1
    assert ev.eval("1 if True else 1/0") == 1
    assert ev.eval("1/0 if False else 2") == 2


def test_chained_comparison_evaluates_middle_once(ev):
    calls = []

    def middle():
        calls.append(1)
        return 2
    ev.symtable["middle"] = middle
    assert ev.eval("1 < middle() < 3") is True
    assert calls == [1]


def test_is_compares_identity(ev):
    obj = object()
    ev.symtable.update(a=obj, b=obj, c=object())
    assert ev.eval("a is b") is True
    assert ev.eval("a is c") is False
    assert ev.eval("a is not c") is True


# -- the manual's 5.2 functions and constants, against math ----------------------------------
FUNCTION_CASES = [
    ("abs", (-2.5,), abs), ("acos", (0.3,), math.acos), ("acosh", (2.5,), math.acosh),
    ("asin", (0.3,), math.asin), ("asinh", (0.7,), math.asinh), ("atan", (0.7,), math.atan),
    ("atan2", (1.0, -2.0), math.atan2), ("atanh", (0.4,), math.atanh),
    ("ceil", (2.1,), math.ceil), ("copysign", (3.0, -0.0), math.copysign),
    ("cos", (1.2,), math.cos), ("cosh", (1.2,), math.cosh), ("degrees", (1.0,), math.degrees),
    ("exp", (1.5,), math.exp), ("fabs", (-3,), math.fabs), ("factorial", (10,), math.factorial),
    ("floor", (-2.1,), math.floor), ("fmod", (7.5, 2.0), math.fmod),
    ("frexp", (8.0,), math.frexp), ("fsum", ([0.1] * 10,), math.fsum),
    ("hypot", (3.0, 4.0), math.hypot), ("isinf", (float("inf"),), math.isinf),
    ("isnan", (float("nan"),), math.isnan), ("ldexp", (0.75, 4), math.ldexp),
    ("log", (10.0,), math.log), ("log", (8.0, 2.0), math.log), ("log10", (1000.0,), math.log10),
    ("log1p", (1e-10,), math.log1p), ("max", (3, 7, 5), max), ("min", (3, 7, 5), min),
    ("modf", (3.25,), math.modf), ("pow", (2.0, 0.5), math.pow),
    ("radians", (180.0,), math.radians), ("sin", (0.5,), math.sin), ("sinh", (0.5,), math.sinh),
    ("sqrt", (2.0,), math.sqrt), ("tan", (0.5,), math.tan), ("tanh", (0.5,), math.tanh),
    ("trunc", (-2.7,), math.trunc),
]


def _literal(a):
    if isinstance(a, float) and math.isinf(a):
        return "1e999"  # the parser's own overflow to inf
    if isinstance(a, float) and math.isnan(a):
        return "(1e999 - 1e999)"
    return repr(a)


@pytest.mark.parametrize("name, args, reference", FUNCTION_CASES,
                         ids=[f"{c[0]}{c[1]!r}"[:40] for c in FUNCTION_CASES])
def test_function_matches_math(ev, name, args, reference):
    text = f"{name}({', '.join(_literal(a) for a in args)})"
    got = ev.eval(text)
    expected = reference(*args)
    assert got == expected and type(got) is type(expected)


def test_every_manual_function_is_present(ev):
    manual = ("abs acos acosh asin asinh atan atan2 atanh ceil copysign cos cosh degrees exp "
              "fabs factorial floor fmod frexp fsum hypot isinf isnan ldexp log log10 log1p "
              "max min modf pow radians sin sinh sqrt tan tanh trunc").split()
    assert set(manual) <= set(ev.symtable)
    assert all(callable(ev.symtable[name]) for name in manual)
    assert not set(manual) - {c[0] for c in FUNCTION_CASES}  # each one tested above


def test_max_min_with_sequence_and_key(ev):
    assert ev.eval("max([3, -9, 5])") == 5
    assert ev.eval("min((3, -9, 5))") == -9
    assert ev.eval("max(0.2, 0.001)") == 0.2
    assert ev.eval("max([], default=7)") == 7
    # key= is refused by design: work done in a key function called back by
    # max/min would escape the interpreter's work budget.
    for text in ("max([3, -9, 5], key=abs)", "min([3, -9, 5], key=abs)"):
        with pytest.raises(ExpressionError, match="key"):
            ev.eval(text)


def test_constants(ev):
    assert ev.eval("e") == math.e == 2.718281828459045
    assert ev.eval("pi") == math.pi == 3.141592653589793
    assert ev.eval("sqrt(16) + pi") == 4 + math.pi


def test_math_errors_become_expression_errors(ev):
    for text in ("sqrt(-1)", "1/0", "log(0)", "acos(2)", "factorial(-1)", "undefined_name"):
        with pytest.raises(ExpressionError):
            ev.eval(text)


# -- expressions: conditional, calls, literals, indexing ----------------------------------------
def test_conditional_expression_manual_5_2(ev):
    # 'param_a if test_val/2. > 100 else param_b', with both outcomes
    text = "param_a if test_val/2. > 100 else param_b"
    ev.symtable.update(param_a=1.5, param_b=-2.5, test_val=300.0)
    assert ev.eval(text) == 1.5
    ev.symtable["test_val"] = 100.0
    assert ev.eval(text) == -2.5


def test_manual_5_2_expressions(ev):
    ev.symtable.update(amp_1=0.5, cen_1=2.2, wid_1=0.2)
    assert ev.eval("(2.0 - amp_1**2)") == 2.0 - 0.5**2
    wid_2 = math.sqrt(math.pi) * 0.2
    assert ev.eval("sqrt(pi)*wid_1") == wid_2
    ev.symtable["wid_2"] = wid_2
    assert ev.eval("cen_1 * wid_2 / max(wid_1, 0.001)") == 2.2 * wid_2 / max(0.2, 0.001)


def test_calls_positional_and_keyword(ev):
    def f(a, b=10, c=100):
        return a + b + c
    ev.symtable["f"] = f
    assert ev.eval("f(1)") == 111
    assert ev.eval("f(1, 2)") == 103
    assert ev.eval("f(1, c=3)") == 14
    assert ev.eval("f(c=3, a=1, b=2)") == 6
    with pytest.raises(ExpressionError):
        ev.eval("f()")  # TypeError from the call, as text


def test_tuple_and_list_literals(ev):
    assert ev.eval("(1, 2.5, 'x')") == (1, 2.5, "x")
    assert ev.eval("()") == ()
    assert ev.eval("(1,)") == (1,)
    assert ev.eval("[1, [2, 3], (4,)]") == [1, [2, 3], (4,)]
    assert ev.eval("[]") == []
    assert ev.eval("[1, 2] + [3]") == [1, 2, 3]
    assert ev.eval("(0,) * 3") == (0, 0, 0)


def test_indexing_results(ev):
    assert ev.eval("frexp(8.0)[0]") == math.frexp(8.0)[0] == 0.5
    assert ev.eval("frexp(8.0)[1]") == 4
    assert ev.eval("modf(3.25)[-1]") == 3.0
    assert ev.eval("[10, 20, 30][1]") == 20
    assert ev.eval("'abc'[2]") == "c"
    assert ev.eval("range(10)[3]") == 3
    ev.symtable["x"] = np.arange(5.0)
    assert ev.eval("x[2]") == 2.0
    with pytest.raises(ExpressionError):
        ev.eval("[1, 2][5]")


def test_slices(ev):
    data = [0, 1, 2, 3, 4, 5, 6]
    ev.symtable["data"] = data
    for s in ("1:4", ":3", "4:", "::2", "::-1", "-3:-1", "1:6:2", ":"):
        assert ev.eval(f"data[{s}]") == eval(f"data[{s}]", {"data": data}), s
    assert ev.eval("'abcdef'[1:3]") == "bc"
    assert list(ev.eval("range(10)[2:8:3]")) == [2, 5]
    ev.symtable["x"] = np.arange(6.0)
    np.testing.assert_array_equal(ev.eval("x[1:4]"), np.arange(6.0)[1:4])


# -- statements (manual 5.3) --------------------------------------------------------------------
def test_assignment_and_value_of_last_expression(ev):
    assert ev.eval("a = 3\nb = a * 2\na + b") == 9
    assert ev.symtable["a"] == 3 and ev.symtable["b"] == 6
    assert ev.eval("c = 4") is None  # a statement has no value
    assert ev.eval("x = y = 7\nx + y") == 14


def test_augmented_assignment(ev):
    text = "\n".join(["v = 10", "v += 5", "v -= 3", "v *= 4", "v /= 8", "v **= 2",
                      "w = 17", "w //= 3", "w %= 4", "w <<= 3", "w >>= 1", "w |= 1", "w &= 7",
                      "w ^= 2"])
    ev.eval(text)
    v = 10
    v += 5; v -= 3; v *= 4; v /= 8; v **= 2  # noqa: E702
    w = 17
    w //= 3; w %= 4; w <<= 3; w >>= 1; w |= 1; w &= 7; w ^= 2  # noqa: E702
    assert ev.symtable["v"] == v and ev.symtable["w"] == w


def test_unpacking(ev):
    ev.eval("m, ex = frexp(24.0)\n[p, q] = [1, 2]\n(r, s) = (p, 'b')")
    assert (ev.symtable["m"], ev.symtable["ex"]) == math.frexp(24.0)
    assert (ev.symtable["p"], ev.symtable["q"]) == (1, 2)
    assert (ev.symtable["r"], ev.symtable["s"]) == (1, "b")
    with pytest.raises(ExpressionError):
        ev.eval("a, b, c = (1, 2)")


def test_if_elif_else(ev):
    program = ("if t < 0:\n    sign = -1\nelif t == 0:\n    sign = 0\n"
               "else:\n    sign = 1\nsign")
    for t, want in ((-3.0, -1), (0.0, 0), (2.0, 1)):
        ev.symtable["t"] = t
        assert ev.eval(program) == want


def test_manual_5_2_if_statement_form(ev):
    program = ("if test_val/2. > 100:\n    bounded = param_a\n"
               "else:\n    bounded = param_b\nbounded")
    ev.symtable.update(param_a=1.0, param_b=2.0, test_val=201.0)
    assert ev.eval(program) == 1.0
    ev.symtable["test_val"] = 200.0
    assert ev.eval(program) == 2.0


def test_for_loop(ev):
    assert ev.eval("total = 0\nfor i in range(1, 11):\n    total += i * i\ntotal") == 385
    assert ev.eval("acc = 0\nfor a, b in [(1, 2), (3, 4)]:\n    acc += a * b\nacc") == 14
    assert ev.eval("s = ''\nfor ch in 'xyz':\n    s = ch + s\ns") == "zyx"


def test_while_loop_newton_sqrt2(ev):
    program = ("x = 1.0\nn = 0\nwhile abs(x*x - 2) > 1e-15 and n < 50:\n"
               "    x = (x + 2/x) / 2\n    n += 1\nx")
    assert ev.eval(program) == pytest.approx(math.sqrt(2), rel=1e-15, abs=0)


def test_break_and_continue(ev):
    program = ("odd = []\nfor i in range(100):\n    if i % 2 == 0:\n        continue\n"
               "    if i > 9:\n        break\n    odd = odd + [i]\nodd")
    assert ev.eval(program) == [1, 3, 5, 7, 9]
    program = "k = 0\nwhile True:\n    k += 1\n    if k == 7:\n        break\nk"
    assert ev.eval(program) == 7
    for bad in ("break", "continue", "if True:\n    break"):
        with pytest.raises(ExpressionError):
            ev.eval(bad)


def test_def_return_defaults_keywords(ev):
    ev.eval("def scaled(x, factor=2, offset=0):\n    y = x * factor\n    return y + offset")
    assert ev.eval("scaled(3)") == 6
    assert ev.eval("scaled(3, 10)") == 30
    assert ev.eval("scaled(3, offset=1)") == 7
    assert ev.eval("scaled(offset=1, x=3, factor=3)") == 10
    assert "y" not in ev.symtable  # locals stay local
    # callable from Python too
    assert ev.symtable["scaled"](4) == 8
    for bad in ("scaled()", "scaled(1, 2, 3, 4)", "scaled(1, nope=2)", "scaled(1, x=2)"):
        with pytest.raises(ExpressionError):
            ev.eval(bad)


def test_def_without_return_gives_none_and_reads_globals(ev):
    ev.eval("g = 5\ndef show(x):\n    z = x + g\nr = show(1)")
    assert ev.symtable["r"] is None
    assert ev.eval("def add_g(x):\n    return x + g\nadd_g(1)") == 6


def test_recursion_within_limits(ev):
    ev.eval("def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)")
    assert ev.eval("fact(20)") == math.factorial(20)
    ev.eval("def fib(n):\n    if n < 2:\n        return n\n    return fib(n-1) + fib(n-2)")
    assert ev.eval("fib(15)") == 610
    depth = Interpreter.max_calls
    assert ev.eval(f"fact({depth})") == math.factorial(depth)
    with pytest.raises(ExpressionError):
        ev.eval(f"fact({depth + 1})")
    assert ev.eval("fact(5)") == 120  # the call counter recovered


def test_return_outside_function_refused(ev):
    with pytest.raises(ExpressionError):
        ev.eval("return 1")


# -- names(), compile() -------------------------------------------------------------------------
def test_names_in_order_of_first_use(ev):
    assert ev.names("cen_1 * wid_2 / max(wid_1, 0.001)") == ["cen_1", "wid_2", "max", "wid_1"]
    assert ev.names("a + a * b") == ["a", "b"]
    assert ev.names("2.5") == []
    assert sorted(ev.names("param_a if test_val/2. > 100 else param_b")) == [
        "param_a", "param_b", "test_val"]
    with pytest.raises(ExpressionError):
        ev.names("a = 1")  # one expression only


def test_compile_closure_reused_with_new_values(ev):
    run = ev.compile("a * x**2 + b")
    for a, b, x in ((1.0, 0.0, 2.0), (2.5, -1.0, 3.0), (0.0, 7.0, 1e3)):
        ev.symtable.update(a=a, b=b, x=x)
        assert run() == a * x**2 + b
    # a name added after compiling is found at call time
    run2 = ev.compile("later + 1")
    with pytest.raises(ExpressionError):
        run2()
    ev.symtable["later"] = 41
    assert run2() == 42


def test_compile_exec_mode(ev):
    run = ev.compile("s = 0\nfor i in range(n):\n    s += i\ns", mode="exec")
    for n in (0, 5, 100):
        ev.symtable["n"] = n
        assert run() == sum(range(n))


def test_compile_eval_mode_refuses_statements(ev):
    with pytest.raises(ExpressionError):
        ev.compile("a = 1")


def test_symtable_is_a_plain_dict(ev):
    assert type(ev.symtable) is dict
    assert Interpreter(symtable={"k": 3}).eval("k * 2") == 6


# -- manual 5.3: a user function in Minimizer().asteval.symtable --------------------------------
def lorentzian(x, amp, cen, wid):
    "lorentzian function: wid = half-width at half-max"
    return (amp / (1 + ((x-cen)/wid)**2))


def test_manual_5_3_lorentzian_in_symtable():
    fitter = lmfit.Minimizer()
    fitter.asteval.symtable['lorentzian'] = lorentzian
    assert fitter.asteval.eval("lorentzian(1.5, 2.0, 1.0, 0.5)") == 2.0 / (1 + 1.0)


def test_manual_5_3_lorentzian_used_in_a_fit_constraint():
    # y = A*exp(-x/tau) + c; a fixed-shape parameter h is tied, through the
    # user's function, to tau: h = lorentzian(tau, 1, 0, 1) = 1/(1+tau**2).
    x = np.linspace(0.0, 10.0, 101)
    y = 3.0 * np.exp(-x / 2.0) + 0.5 + 0.01 * np.random.default_rng(7).standard_normal(x.size)

    def residual(params, x, data):
        p = params
        return p["A"].value * np.exp(-x / p["tau"].value) + p["c"].value - data

    params = lmfit.Parameters()
    params.add("A", value=1.0)
    params.add("tau", value=1.0)
    params.add("c", value=0.0)
    params.add("h", expr="lorentzian(tau, 1.0, 0.0, 1.0)")
    fitter = lmfit.Minimizer(residual, params, fcn_args=(x, y))
    fitter.asteval.symtable['lorentzian'] = lorentzian
    fitter.leastsq()
    assert fitter.success
    tau = params["tau"].value
    assert params["h"].value == pytest.approx(1.0 / (1.0 + tau**2), rel=1e-12)
    assert params["h"].vary is False


# -- transactional eval ---------------------------------------------------------------------------
def test_eval_is_transactional_on_error(ev):
    ev.eval("keep = 1")
    before = dict(ev.symtable)
    with pytest.raises(ExpressionError):
        ev.eval("keep = 2\nnew = 3\ndef f():\n    return 1\nsqrt = 0\n1/0")
    assert ev.symtable == before
    assert all(ev.symtable[k] is v for k, v in before.items())
    assert ev.eval("keep") == 1 and ev.eval("sqrt(16) + pi") == 4 + math.pi


def test_eval_transactional_after_loop_assignments(ev):
    before = dict(ev.symtable)
    with pytest.raises(ExpressionError):
        ev.eval("for i in range(10):\n    last = i\n    if i == 5:\n        nope()")
    assert ev.symtable.keys() == before.keys()


def test_error_message_names_the_problem(ev):
    with pytest.raises(ExpressionError, match="not defined"):
        ev.eval("wid_9 * 2")
    with pytest.raises(ExpressionError, match="[Ss]yntax"):
        ev.eval("2 *")


def test_expression_error_is_a_value_error():
    assert issubclass(ExpressionError, ValueError)


def test_operator_module_agrees_on_in(ev):
    # 'in' is membership of the LEFT operand in the RIGHT one
    assert ev.eval("1 in [1]") is operator.contains([1], 1)
