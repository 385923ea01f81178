"""The calculator's worker process: builds sympy objects from a parsed tree and answers exactly.

Run as a script (`python -I calc_worker.py`), one JSON request a line on stdin, one JSON answer a
line on stdout. It gets trees from `calc_parse`, never text: every sympy object is made here
by a whitelisted constructor, so nothing is evaluated as Python. Cheap guards refuse the inputs
that would run away (huge powers, factorials, expansions) before sympy starts on them; the
parent kills this process when a calculation still runs past its limit, and the process also
leaves on its own when its parent is gone.

    request:  {"expression": TREE, "compare": TREE | null}
    answer:   {"ok": "2*sqrt(2) ≈ 2.8284271247"} | {"refused": "reason"} | {"error": "reason"}
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
from functools import reduce
from typing import Any

import sympy

MAX_DIGITS = 100_000  # of an exact number a power may make
MAX_FACTORIAL = 100_000  # largest argument of factorial (and of min(k, n-k) in binomial)
MAX_GAMMA = 10_000  # gamma of a large half-integer is slow well before its size matters
MAX_EXPAND_TERMS = 10_000  # terms an expand(...) may produce
MAX_EXPAND_POWER = 1000  # largest power of a sum that expand(...) multiplies out
MAX_DIFF_ORDER = 100
SHOWN_DIGITS = 1000  # integers longer than this are shown as leading digits…last digits
MEMORY_LIMIT = 3 * 1024**3  # bytes of address space
CPU_PER_REQUEST = 60  # seconds: a backstop should the parent fail to kill this process


class Refused(Exception):
    """An input the calculator will not work on; the message says why."""


def _power(base: Any, exponent: Any) -> Any:
    """base**exponent, refused when sympy would write out an exact number of more than MAX_DIGITS digits.

    Also for a symbolic base: sympy distributes an integer power over a product, (2*x)**n = 2**n * x**n.
    """
    if exponent.is_Rational and base not in (0, 1, -1, sympy.I, -sympy.I):
        size = abs(exponent)
        digits = _rational_digits(base) * (float(size) if size < 10**300 else math.inf)
        if digits > MAX_DIGITS:
            shown = _short(base) if base.is_Atom else f"({_short(base)})"
            about = f"about {digits:.3g}" if digits < math.inf else "more than 1e+300"
            raise Refused(f"the power {shown}^{_short(exponent)} would have {about} digits; "
                          f"the calculator works with at most {MAX_DIGITS} digits")
    return base**exponent


def _rational_digits(base: Any) -> float:
    """Digits that each unit of exponent adds to the exact rational parts sympy would multiply out."""
    digits = 0.0
    for factor in sympy.Mul.make_args(base):
        if factor.is_Pow and factor.base.is_Rational and factor.exp.is_Rational:
            digits += _digits(factor.base) * float(abs(factor.exp))
        elif factor.is_Rational:
            digits += _digits(factor)
    return digits


def _digits(number: Any) -> float:
    return math.log10(abs(int(number.p))) + math.log10(int(number.q))


def _factorial(n: Any) -> Any:
    if n.is_Rational and abs(n) > MAX_FACTORIAL:
        raise Refused(f"factorial({_short(n)}) is too large; the calculator takes factorials up to {MAX_FACTORIAL}")
    return sympy.factorial(n)


def _binomial(n: Any, k: Any) -> Any:
    if n.is_Integer and k.is_Integer and n > 0 and 0 < k < n:
        smaller = min(k, n - k)
        if smaller > MAX_FACTORIAL or float(smaller) * _digits(n) > 10 * MAX_DIGITS:
            raise Refused(f"binomial({_short(n)}, {_short(k)}) is too large to compute exactly")
    return sympy.binomial(n, k)


def _gamma(x: Any) -> Any:
    if x.is_Rational and abs(x) > MAX_GAMMA:
        raise Refused(f"gamma({_short(x)}) is too large; the calculator takes gamma of numbers up to {MAX_GAMMA}")
    return sympy.gamma(x)


def _expand(expr: Any) -> Any:
    terms = _terms(expr)
    if terms > MAX_EXPAND_TERMS:
        raise Refused(f"expand(...) would give about {terms:.3g} terms; the calculator expands to at most {MAX_EXPAND_TERMS}")
    return sympy.expand(expr)


def _terms(expr: Any) -> float:
    """An upper estimate of the terms `expand` makes: sums add, products multiply, powers of sums grow."""
    if expr.is_Add:
        return sum(_terms(arg) for arg in expr.args)
    if expr.is_Mul:
        return math.prod(_terms(arg) for arg in expr.args)
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 1:
        inner = _terms(expr.base)
        if inner > MAX_EXPAND_TERMS:
            return math.inf
        if inner > 1 and expr.exp > MAX_EXPAND_POWER:
            raise Refused(f"expand(...) of a sum to the power {_short(expr.exp)} is too large; the calculator expands "
                          f"powers of sums up to {MAX_EXPAND_POWER}")
        return float(math.comb(int(expr.exp) + int(inner) - 1, int(inner) - 1)) if inner > 1 else 1.0
    return 1.0


def _symbol(value: Any, where: str) -> Any:
    if not isinstance(value, sympy.Symbol):
        raise Refused(f"{where} must be a symbol such as x, not {_short(value)}")
    return value


def _diff(expr: Any, *rest: Any) -> Any:
    for item in rest:
        if item.is_Integer and item > MAX_DIFF_ORDER:
            raise Refused(f"diff(...) takes derivatives up to order {MAX_DIFF_ORDER}")
        if not item.is_Integer:
            _symbol(item, "each argument of diff after the first")
    return sympy.diff(expr, *rest)


def _integrate(expr: Any, *rest: Any) -> Any:
    if len(rest) == 2:
        raise Refused("integrate(f, x, a, b) needs both bounds (or none for an antiderivative)")
    if not rest:
        return sympy.integrate(expr)
    var = _symbol(rest[0], "the second argument of integrate")
    return sympy.integrate(expr, (var, rest[1], rest[2])) if len(rest) == 3 else sympy.integrate(expr, var)


def _limit(expr: Any, var: Any, point: Any) -> Any:
    side = "+-" if point.is_finite else "+"
    return sympy.limit(expr, _symbol(var, "the second argument of limit"), point, side)


def _summation(expr: Any, var: Any, low: Any, high: Any) -> Any:
    return sympy.summation(expr, (_symbol(var, "the second argument of summation"), low, high))


def _isprime(n: Any) -> bool:
    if not n.is_Integer:
        raise Refused(f"isprime(...) takes an integer, not {_short(n)}")
    return bool(sympy.isprime(int(n)))


def _real_root(x: Any, n: Any) -> Any:
    return sympy.real_root(x, n)


FUNCTIONS: dict[str, Any] = {
    "sqrt": sympy.sqrt, "cbrt": lambda x: _real_root(x, sympy.Integer(3)), "root": _real_root, "exp": sympy.exp,
    "log": sympy.log, "log10": lambda x: sympy.log(x, 10), "log2": lambda x: sympy.log(x, 2),
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot, "sec": sympy.sec, "csc": sympy.csc,
    "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan, "acot": sympy.acot, "atan2": sympy.atan2,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "asinh": sympy.asinh, "acosh": sympy.acosh,
    "atanh": sympy.atanh, "abs": sympy.Abs, "sign": sympy.sign, "floor": sympy.floor, "ceiling": sympy.ceiling,
    "re": sympy.re, "im": sympy.im, "arg": sympy.arg, "conjugate": sympy.conjugate, "factorial": _factorial,
    "binomial": _binomial, "gamma": _gamma, "gcd": lambda *a: reduce(sympy.gcd, a), "lcm": lambda *a: reduce(sympy.lcm, a),
    "mod": sympy.Mod, "min": sympy.Min, "max": sympy.Max, "Rational": lambda p, q=sympy.S.One: p / q,
    "isprime": _isprime, "simplify": sympy.simplify, "expand": _expand, "factor": sympy.factor, "cancel": sympy.cancel,
    "together": sympy.together, "apart": sympy.apart, "diff": _diff, "integrate": _integrate, "limit": _limit,
    "summation": _summation,
}
CONSTANTS = {"pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo}
BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
          "**": _power, "%": sympy.Mod, "//": lambda a, b: sympy.floor(a / b)}
RELATIONS = {"==": sympy.Eq, "!=": sympy.Ne, "<": sympy.Lt, "<=": sympy.Le, ">": sympy.Gt, ">=": sympy.Ge}


def build(node: list[Any]) -> Any:
    """The sympy object of a tree node (an equation in solve(...) becomes its difference)."""
    kind = node[0]
    if kind == "num":
        return sympy.Rational(int(node[1]), int(node[2]))
    if kind == "sym":
        return sympy.Symbol(node[1])
    if kind == "const":
        return CONSTANTS[node[1]]
    if kind == "bin":
        return BINARY[node[1]](build(node[2]), build(node[3]))
    if kind == "un":
        value = build(node[2])
        return -value if node[1] == "-" else value
    if kind == "call" and node[1] == "solve":
        return solve([build(arg) if arg[0] != "rel" else _equation(arg) for arg in node[2]])
    if kind == "call":
        return FUNCTIONS[node[1]](*(build(arg) for arg in node[2]))
    raise Refused(f"unknown part of an expression: {kind}")


def _equation(node: list[Any]) -> Any:
    left, right = build(node[2]), build(node[3])
    return left - right if node[1] == "==" else RELATIONS[node[1]](left, right)


def solve(items: list[Any]) -> str:
    """solve(equation, [more equations], [symbols]): the solutions, each written `x = value`."""
    equations = [items[0]] + [item for item in items[1:] if not isinstance(item, sympy.Symbol)]
    symbols = [item for item in items[1:] if isinstance(item, sympy.Symbol)]
    if isinstance(items[0], sympy.Symbol) and len(items) == 1:
        symbols = []
    if any(eq is sympy.false for eq in equations):
        return "no solution"
    equations = [eq for eq in equations if eq is not sympy.true]
    if not equations or all(getattr(eq, "is_zero", None) is True for eq in equations):
        return "true for every value"
    if any(isinstance(eq, sympy.Expr) and eq.is_number and eq.is_zero is False for eq in equations):
        return "no solution"
    found = sympy.solve(equations if len(equations) > 1 else equations[0], *symbols, dict=True)
    if not isinstance(found, list):
        return fmt(found)
    if not found:
        return "no solution"
    ways = [", ".join(f"{name} = {fmt(value)}" for name, value in sorted(way.items(), key=lambda kv: str(kv[0])))
            for way in found]
    return " or ".join(f"({way})" if len(found) > 1 and "," in way else way for way in ways)


def answer(expression: list[Any], compare: list[Any] | None) -> str:
    """The text of one request: a value, an equation's solutions, or whether two expressions agree."""
    if compare is not None:
        return equivalent(_value(expression, "expression"), _value(compare, "compare"))
    if expression[0] == "rel":
        return relation(expression)
    result = build(expression)
    return result if isinstance(result, str) else fmt(result)


def _value(node: list[Any], field: str) -> Any:
    value = build(node) if node[0] != "rel" else None
    if not isinstance(value, sympy.Expr):
        raise Refused(f"with compare, {field} must be an expression, not an equation, comparison or solve(...)")
    return value


def equivalent(left: Any, right: Any) -> str:
    difference = sympy.simplify(left - right)
    same = True if difference == 0 else difference.equals(0)
    if same is True:
        return "equivalent: yes"
    if same is False:
        return f"equivalent: no (expression - compare = {fmt(difference)})"
    return f"equivalent: undecided (expression - compare simplifies to {fmt(difference)}, not shown to be 0)"


def relation(node: list[Any]) -> str:
    """A whole-expression equation or comparison: solved when it has symbols, else true or false."""
    left, right = build(node[2]), build(node[3])
    if left.free_symbols or right.free_symbols:
        return solve([left - right if node[1] == "==" else RELATIONS[node[1]](left, right)])
    if node[1] in ("==", "!="):
        difference = sympy.simplify(left - right)
        same = True if difference == 0 else difference.equals(0)
        if same is None:
            return "undecided"
        return "true" if same == (node[1] == "==") else "false"
    try:
        return fmt(RELATIONS[node[1]](left, right))
    except TypeError as exc:
        raise Refused(f"cannot compare these values ({exc})") from None


_PLAIN_NUMBER = re.compile(r"[-+0-9.e* I]+")


def fmt(value: Any) -> str:
    """Exact text, plus `≈ decimal` for a number that is not a plain integer or fraction."""
    if isinstance(value, bool) or value in (sympy.true, sympy.false):
        return "true" if bool(value) else "false"
    if value is sympy.zoo:
        return "zoo (complex infinity: undefined, e.g. a division by zero)"
    if value is sympy.nan:
        return "nan (undefined)"
    if isinstance(value, sympy.Integer) and abs(value.p).bit_length() > SHOWN_DIGITS * 3.33:
        return _long_integer(value.p)
    if isinstance(value, sympy.Rational) and max(abs(value.p), value.q).bit_length() > SHOWN_DIGITS * 3.33:
        return (f"(a fraction of {_digit_count(value.p)} digits over {_digit_count(value.q)} digits) "
                f"≈ {_approx(value)}")
    try:
        exact = str(value)
    except ValueError:  # an integer past Python's str() limit inside a larger expression
        return f"(a number too long to write out) ≈ {_approx(value)}"
    if not isinstance(value, sympy.Expr) or not value.is_number or value.is_Rational or value.has(sympy.oo, -sympy.oo):
        return exact
    if not value.atoms(sympy.Pow, sympy.Function) and all(atom.is_Rational or atom is sympy.I for atom in value.atoms()):
        return exact  # a Gaussian rational such as 1 + 2*I: already exact and plain
    approx = _approx(value)
    return f"{exact} ≈ {approx}" if _PLAIN_NUMBER.fullmatch(approx) and approx != exact else exact


def _long_integer(number: int) -> str:
    head = str(sympy.Integer(abs(number)).evalf(40)).split("e")[0].replace(".", "")[:30]
    tail = str(abs(number) % 10**30).zfill(30)
    sign = "-" if number < 0 else ""
    return f"{sign}{head}…{tail} (an integer of {_digit_count(number)} digits) ≈ {_approx(sympy.Integer(number))}"


def _digit_count(number: int) -> int:
    digits = max(1, int(abs(number).bit_length() * math.log10(2)))
    return digits + 1 if abs(number) >= 10**digits else digits


def _approx(value: Any) -> str:
    return re.sub(r"E([+-])", r"e\1", str(value.evalf(11)))


def _short(value: Any) -> str:
    try:
        text = str(value)
    except ValueError:
        return "(a very long number)"
    return text if len(text) <= 40 else text[:37] + "..."


def _reply(message: dict[str, str]) -> None:
    sys.stdout.buffer.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


def _handle(line: bytes) -> dict[str, str]:
    try:
        request = json.loads(line)
        return {"ok": answer(request["expression"], request.get("compare"))}
    except Refused as exc:
        return {"refused": str(exc)}
    except RecursionError:
        return {"refused": "the expression is too deeply nested for sympy; split it into smaller steps"}
    except MemoryError:
        return {"refused": "the calculation ran out of memory; try a smaller expression"}
    except (ValueError, TypeError, NotImplementedError, ZeroDivisionError, ArithmeticError) as exc:
        return {"refused": f"sympy cannot do this: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
    except Exception as exc:  # noqa: BLE001 - one bad request must not end the worker
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}


def _limit_resources() -> None:
    """A memory cap, and a watchdog that ends this process when the parent that reads it is gone."""
    try:
        import resource

        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard), hard))
    except (ImportError, ValueError, OSError):
        pass
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


def _limit_cpu() -> None:
    """The CPU time this request may use before the kernel stops the process, should the parent not."""
    try:
        import resource

        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime) + CPU_PER_REQUEST
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    except (ImportError, ValueError, OSError):
        pass


def main() -> None:
    _limit_resources()
    _reply({"ready": "sympy " + sympy.__version__})
    for line in sys.stdin.buffer:
        if line.strip():
            _limit_cpu()
            _reply(_handle(line))


if __name__ == "__main__":
    main()
