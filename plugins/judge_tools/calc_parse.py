"""The calculator's whitelist parser: model text in, a plain tree of allowed parts out.

Nothing here evaluates anything. The text is read by `ast.parse(mode="eval")` (which only builds a
syntax tree) and walked; every node must be one of a short list (numbers, + - * / ** % //, unary
signs, comparisons, whitelisted names and calls), else the walk refuses, naming the construct.
The result is a JSON-ready tree of lists that the worker process turns into sympy objects itself,
so no `eval`, `exec`, `sympify` or `parse_expr` ever sees the text.

    parse("1/3 + x^2")  ->  ["bin", "+", ["bin", "/", ["num", "1", "1"], ["num", "3", "1"]],
                              ["bin", "**", ["sym", "x"], ["num", "2", "1"]]]
"""

from __future__ import annotations

import ast
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from judge.tools import ToolRefused

MAX_LENGTH = 2000  # characters of one expression
MAX_DEPTH = 60  # nesting of the walked tree
MAX_DECIMAL_EXPONENT = 1000  # 1e1000 is a 1001-digit integer; 1e999999999 would be a runaway

# name -> (fewest, most) arguments; None: any number. The worker implements exactly these.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "sqrt": (1, 1), "cbrt": (1, 1), "root": (2, 2), "exp": (1, 1), "log": (1, 2), "log10": (1, 1), "log2": (1, 1),
    "sin": (1, 1), "cos": (1, 1), "tan": (1, 1), "cot": (1, 1), "sec": (1, 1), "csc": (1, 1),
    "asin": (1, 1), "acos": (1, 1), "atan": (1, 1), "acot": (1, 1), "atan2": (2, 2),
    "sinh": (1, 1), "cosh": (1, 1), "tanh": (1, 1), "asinh": (1, 1), "acosh": (1, 1), "atanh": (1, 1),
    "abs": (1, 1), "sign": (1, 1), "floor": (1, 1), "ceiling": (1, 1), "re": (1, 1), "im": (1, 1),
    "arg": (1, 1), "conjugate": (1, 1), "factorial": (1, 1), "binomial": (2, 2), "gamma": (1, 1),
    "gcd": (2, None), "lcm": (2, None), "mod": (2, 2), "min": (1, None), "max": (1, None),
    "Rational": (1, 2), "isprime": (1, 1),
    "simplify": (1, 1), "expand": (1, 1), "factor": (1, 1), "cancel": (1, 1), "together": (1, 1),
    "apart": (1, 2), "diff": (1, None), "integrate": (1, 4), "limit": (3, 3), "summation": (4, 4),
    "solve": (1, None),
}
ALIASES = {"ln": "log", "ceil": "ceiling", "Abs": "abs", "Min": "min", "Max": "max", "sum": "summation",
           "integral": "integrate", "derivative": "diff", "nCr": "binomial", "choose": "binomial"}
TOP_LEVEL_ONLY = {"solve"}  # gives solutions, not a value: it must be the whole expression
CONSTANTS = {"pi": "pi", "E": "E", "e": "E", "I": "I", "oo": "oo", "inf": "oo", "infinity": "oo"}
GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "mu", "nu",
         "xi", "omicron", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"}
_SYMBOL = re.compile(r"[A-Za-z](?:_?\d{1,3})?")  # x, y, n, x1, x_2

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.Mod: "%", ast.FloorDiv: "//"}
_UNARY = {ast.USub: "-", ast.UAdd: "+"}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_NAMED = {  # what a refused node is called in the message
    ast.Attribute: "attribute access", ast.Subscript: "a subscript", ast.Lambda: "a lambda", ast.List: "a list",
    ast.Tuple: "a tuple", ast.Set: "a set", ast.Dict: "a dict", ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension", ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator",
    ast.JoinedStr: "an f-string", ast.IfExp: "a conditional expression", ast.BoolOp: "and/or", ast.Starred: "a starred argument",
    ast.NamedExpr: "an assignment", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Constant: "a string",
}
_ALLOWED = "numbers, + - * / ^ ** % //, = < >, symbols like x or y, pi, E, I, oo and whitelisted functions"
_UNICODE = {"\u2212": "-", "\u00d7": "*", "\u00f7": "/", "\u22c5": "*", "\u2264": "<=", "\u2265": ">=", "\u2260": "!=",
            "\u03c0": "pi", "\u221e": "oo"}
_EQUALS = re.compile(r"(?<![=<>!:])=(?!=)")  # a lone '=' is an equation, read as '=='


def parse(text: str, field: str = "expression") -> list[Any]:
    """The tree of `text`, or ToolRefused saying what is not allowed or not readable."""
    if not text.strip():
        raise ToolRefused(f"{field} is empty: give an expression, e.g. 1/3 + 1/6")
    if len(text) > MAX_LENGTH:
        raise ToolRefused(f"{field} is {len(text)} characters long; the calculator takes at most {MAX_LENGTH}")
    source = _normalise(text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ToolRefused(_syntax_reason(exc)) from None
    except (RecursionError, MemoryError, ValueError):
        raise ToolRefused("the expression is too deeply nested to read; split it into smaller steps") from None
    return _Walker(source).top(tree.body)


def _normalise(text: str) -> str:
    """`^` is a power (as models write 2^10), a lone `=` an equation, a few Unicode signs their ASCII."""
    for sign, ascii_sign in _UNICODE.items():
        text = text.replace(sign, ascii_sign)
    return _EQUALS.sub("==", text.replace("^", "**"))


def _syntax_reason(exc: SyntaxError) -> str:
    where = f" at character {exc.offset}" if exc.offset else ""
    message = (exc.msg or "invalid syntax").split("\n")[0]
    if "nested" in message or "too complex" in message:
        return "the expression is too deeply nested to read; split it into smaller steps"
    return f"cannot read the expression ({message}{where}); write products with * (2*x, not 2x) and powers with ^ or **"


class _Walker:
    """Turns an ast expression into the worker's tree, refusing anything off the whitelist."""

    def __init__(self, source: str) -> None:
        self.source = source

    def top(self, node: ast.expr) -> list[Any]:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and ALIASES.get(node.func.id, node.func.id) in TOP_LEVEL_ONLY:
            return self.call(node, 0)
        if isinstance(node, ast.Compare):
            return self.compare(node, 0)
        return self.walk(node, 0)

    def walk(self, node: ast.expr, depth: int) -> list[Any]:
        if depth > MAX_DEPTH:
            raise ToolRefused(f"the expression is nested more than {MAX_DEPTH} levels deep; split it into smaller steps")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return ["bin", _BINARY[type(node.op)], self.walk(node.left, depth + 1), self.walk(node.right, depth + 1)]
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return ["un", _UNARY[type(node.op)], self.walk(node.operand, depth + 1)]
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Compare):
            raise ToolRefused("an equation or comparison is not allowed inside an expression: it must be the whole "
                              "expression or an argument of solve(...)")
        raise ToolRefused(f"{self.describe(node)} is not allowed in an expression: use {_ALLOWED}")

    def constant(self, node: ast.Constant) -> list[Any]:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise ToolRefused(f"the constant {value!r} is not allowed in an expression: use {_ALLOWED}")
        if isinstance(value, (str, bytes)):
            raise ToolRefused(f"{self.describe(node)} is not allowed in an expression: use {_ALLOWED}")
        if isinstance(value, complex):
            raise ToolRefused(f"the complex literal {self.segment(node)} is not allowed in an expression: write I for "
                              "the imaginary unit, e.g. 2*I")
        if isinstance(value, int):
            return ["num", str(value), "1"]
        return self.decimal(self.segment(node))

    def decimal(self, literal: str) -> list[Any]:
        """A decimal literal as the exact fraction it spells: 0.1 is 1/10, not the float 0.1000000000000000055."""
        try:
            number = Decimal(literal.replace("_", ""))
        except InvalidOperation:
            raise ToolRefused(f"cannot read the number {literal!r}") from None
        if not number.is_finite() or abs(number.adjusted()) > MAX_DECIMAL_EXPONENT:
            raise ToolRefused(f"the number {literal} is too large or too small: exponents up to {MAX_DECIMAL_EXPONENT} "
                              "are allowed")
        exact = Fraction(number)
        return ["num", str(exact.numerator), str(exact.denominator)]

    def name(self, name: str) -> list[Any]:
        if name in CONSTANTS:
            return ["const", CONSTANTS[name]]
        if _SYMBOL.fullmatch(name) or name in GREEK:
            return ["sym", name]
        if name in FUNCTIONS or name in ALIASES:
            raise ToolRefused(f"the function '{name}' needs arguments in parentheses, e.g. {name}(x)")
        raise ToolRefused(f"the name '{name}' is not allowed in an expression: use {_ALLOWED}")

    def call(self, node: ast.Call, depth: int) -> list[Any]:
        if not isinstance(node.func, ast.Name):
            raise ToolRefused(f"{self.describe(node.func)} is not allowed in an expression: call functions by name, "
                              "e.g. sqrt(2)")
        name = ALIASES.get(node.func.id, node.func.id)
        if name not in FUNCTIONS:
            raise ToolRefused(f"the function '{node.func.id}' is not allowed in an expression: allowed functions are "
                              f"{', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise ToolRefused(f"keyword arguments ({node.func.id}(...=...)) are not allowed in an expression: pass "
                              "arguments by position")
        if depth > 0 and name in TOP_LEVEL_ONLY:
            raise ToolRefused(f"{name}(...) is not allowed inside an expression: it must be the whole expression")
        fewest, most = FUNCTIONS[name]
        count = len(node.args)
        if count < fewest or (most is not None and count > most):
            wanted = str(fewest) if fewest == most else f"{fewest} or more" if most is None else f"{fewest} to {most}"
            raise ToolRefused(f"{node.func.id}(...) takes {wanted} arguments, not {count}")
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise ToolRefused(f"{self.describe(arg)} is not allowed in an expression: use {_ALLOWED}")
            allow_equation = name == "solve" and isinstance(arg, ast.Compare)
            args.append(self.compare(arg, depth + 1) if allow_equation else self.walk(arg, depth + 1))
        return ["call", name, args]

    def compare(self, node: ast.Compare, depth: int) -> list[Any]:
        if len(node.ops) != 1:
            raise ToolRefused("chained comparisons (a < b < c) are not allowed in an expression: give one comparison")
        op = _COMPARE.get(type(node.ops[0]))
        if op is None:
            raise ToolRefused("'is' and 'in' are not allowed in an expression: use = < > <= >= !=")
        return ["rel", op, self.walk(node.left, depth + 1), self.walk(node.comparators[0], depth + 1)]

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or "?"

    def describe(self, node: ast.AST) -> str:
        """`'x.__class__' (attribute access)`: the text refused, and what it is."""
        shown = self.segment(node)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return f"`{shown}` ({_NAMED.get(type(node), type(node).__name__)})"
