"""The calculator tool through the ToolBox contract: real sympy, real worker processes.

Exact answers, algebra, the whitelist refusing every Python construct that could run code, the
guards on runaway inputs, and the kill of a worker that runs past its limit (after which no child
process keeps burning CPU and the next call works).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from judge_tools.calc_parse import FUNCTIONS, TOP_LEVEL_ONLY, parse
from judge_tools.calculator import CALCULATOR

from judge.tools import ToolBox, ToolResult, ToolStatus

LIMIT = CALCULATOR.time_limit
SLOW = "summation(1/k^3, k, 1, 10^6)"  # term by term with ever larger denominators: minutes of work
BOX = ToolBox(tools={"calculator": (CALCULATOR, None)})


def call(expression: str, compare: str | None = None) -> ToolResult:
    arguments = {"expression": expression} if compare is None else {"expression": expression, "compare": compare}
    return asyncio.run(BOX.call("calculator", json.dumps(arguments)))


def ok(expression: str, compare: str | None = None) -> str:
    result = call(expression, compare)
    assert result.status is ToolStatus.ok, (expression, result.output)
    return result.output


@pytest.mark.parametrize(("expression", "expected"), [
    ("1/3 + 1/6", "1/2"),
    ("sqrt(8)", "2*sqrt(2) ≈ 2.8284271247"),
    ("2^10", "1024"),
    ("2**10", "1024"),
    ("-2^2", "-4"),
    ("2^-1", "1/2"),
    ("0.1 + 0.2", "3/10"),
    ("1.5e-3", "3/2000"),
    ("0.1*x + 0.2*x", "3*x/10"),
    ("pi", "pi ≈ 3.1415926536"),
    ("log(8, 2)", "3"),
    ("ln(E^3)", "3"),
    ("cbrt(-8)", "-2"),
    ("sqrt(-4)", "2*I"),
    ("E^(I*pi)", "-1"),
    ("factorial(20)", "2432902008176640000"),
    ("binomial(10, 3)", "120"),
    ("gcd(12, 18) + lcm(4, 6)", "18"),
    ("7 % 3 + 7 // 2", "4"),
    ("Rational(1, 3) + 1", "4/3"),
    ("isprime(97)", "true"),
    ("2 × 3 − 1", "5"),
])
def test_exact_arithmetic(expression: str, expected: str) -> None:
    assert ok(expression) == expected


def test_long_integers_are_shown_by_their_ends_and_size() -> None:
    shown = ok("factorial(100000)")
    assert shown.startswith("2824229407960347874") and "(an integer of 456574 digits)" in shown and "e+456573" in shown
    assert ok("1/0").startswith("zoo")


@pytest.mark.parametrize(("expression", "expected"), [
    ("simplify((x**2-1)/(x-1))", "x + 1"),
    ("expand((x+1)**3)", "x**3 + 3*x**2 + 3*x + 1"),
    ("factor(x^2-1)", "(x - 1)*(x + 1)"),
    ("solve(x**2 - 4, x)", "x = -2 or x = 2"),
    ("solve(x^2 = 4)", "x = -2 or x = 2"),
    ("x^2 = 4", "x = -2 or x = 2"),
    ("solve(x^2 + 1, x)", "x = -I or x = I"),
    ("solve(x^2 = 2, x)", "x = -sqrt(2) ≈ -1.4142135624 or x = sqrt(2) ≈ 1.4142135624"),
    ("solve(x + y = 3, x - y = 1)", "x = 2, y = 1"),
    ("solve(x + y = 3, x)", "x = 3 - y"),
    ("x + 1 = x", "no solution"),
    ("2*x = x + x", "true for every value"),
    ("x^2 < 4", "(-2 < x) & (x < 2)"),
    ("2 + 2 = 4", "true"),
    ("sqrt(2)*sqrt(2) = 3", "false"),
    ("3 < pi", "true"),
    ("diff(sin(x), x)", "cos(x)"),
    ("diff(x^5, x, 2)", "20*x**3"),
    ("integrate(x^2, x, 0, 1)", "1/3"),
    ("integrate(2*x, x)", "x**2"),
    ("limit(sin(x)/x, x, 0)", "1"),
    ("summation(k, k, 1, n)", "n**2/2 + n/2"),
])
def test_algebra(expression: str, expected: str) -> None:
    assert ok(expression) == expected


def test_compare_says_whether_two_expressions_are_equivalent() -> None:
    assert ok("(x+1)^2", "x^2 + 2*x + 1") == "equivalent: yes"
    assert ok("sin(x)^2 + cos(x)^2", "1") == "equivalent: yes"
    assert ok("sqrt(8)", "2*sqrt(2)") == "equivalent: yes"
    assert ok("0.5", "1/2") == "equivalent: yes"
    assert ok("(x+1)^2", "x^2 + 1") == "equivalent: no (expression - compare = 2*x)"
    refused = call("x = 1", "x")
    assert refused.status is ToolStatus.refused and "must be an expression" in refused.output


@pytest.mark.parametrize("expression", [
    "__import__('os')", "().__class__", "x.__class__", "lambda: 1", "[1,2]", "'a'", "open('f')", "eval('1')",
    "exec('1')", "sympify('x')", "(1, 2)", "{1: 2}", "{1}", "x[0]", "[i for i in x]", "x if y else z", "x and y",
    "(y := 2)", "sqrt(*x)", "f'{x}'", "b'a'", "os", "__builtins__", "sqrt(x).evalf()", "getattr(x, 'y')",
])
def test_refuses_every_construct_off_the_whitelist(expression: str) -> None:
    result = call(expression)
    assert result.status is ToolStatus.refused, (expression, result.output)
    assert "is not allowed in an expression" in result.output or "are not allowed in an expression" in result.output


def test_the_tool_as_the_judge_sees_it() -> None:
    schema = CALCULATOR.schema()
    assert CALCULATOR.name == "calculator" and CALCULATOR.deterministic and LIMIT == 5.0
    assert schema["required"] == ["expression"] and set(schema["properties"]) == {"expression", "compare"}
    assert CALCULATOR.check is not None and CALCULATOR.check(None) is None


def test_unreadable_text_and_wrong_arguments_say_what_to_do() -> None:
    assert "write products with *" in call("2x + 1").output
    assert call("sqrt(1, 2)").output == "sqrt(...) takes 1 arguments, not 2"
    assert call("").status is ToolStatus.refused
    assert call("1+" * 1001 + "1").status is ToolStatus.refused  # over 2000 characters
    assert "nested" in call("sqrt(" * 70 + "2" + ")" * 70).output  # too deep
    assert "nested" in call("(" * 300 + "1" + ")" * 300).output  # past Python's own parser limit
    assert "keyword" in call("solve(x, **y)").output
    assert asyncio.run(BOX.call("calculator", "{}")).status is ToolStatus.bad_arguments
    assert asyncio.run(BOX.call("calculator", '{"expression": "1", "mode": "fast"}')).status is ToolStatus.bad_arguments


def test_the_worker_is_sent_a_tree_never_text() -> None:
    tree = parse("1/3 + x^2")
    assert tree == ["bin", "+", ["bin", "/", ["num", "1", "1"], ["num", "3", "1"]], ["bin", "**", ["sym", "x"], ["num", "2", "1"]]]
    assert parse("0.1") == ["num", "1", "10"]


def test_parser_and_worker_know_the_same_functions() -> None:
    from judge_tools import calc_worker

    assert set(FUNCTIONS) - TOP_LEVEL_ONLY == set(calc_worker.FUNCTIONS)


def test_importing_the_tool_does_not_import_sympy() -> None:
    code = "import sys, judge_tools.calculator, judge_tools.calc_parse; print('sympy' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[3] / "plugins"), os.environ.get("PYTHONPATH", "")])}
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert shown.strip() == "False"


@pytest.mark.parametrize(("expression", "reason"), [
    ("9**9**9**9", "digits"),
    ("2**(10**10)", "digits"),
    ("sqrt(2)^(10^10)", "digits"),
    ("(1/3)^(10^6)", "digits"),
    ("factorial(10**9)", "factorial"),
    ("binomial(10**6, 500000)", "too large"),
    ("gamma(200001/2)", "gamma"),
    ("expand((x+1)**100000)", "expand"),
    ("expand((a+b+c+d)^100)", "terms"),
    ("1e999999999", "too large"),
])
def test_runaway_inputs_are_refused_before_any_work(expression: str, reason: str) -> None:
    started = time.monotonic()
    result = call(expression)
    assert time.monotonic() - started < LIMIT + 5
    assert result.status is ToolStatus.refused and reason in result.output, result.output
    assert ok("1 + 1") == "2"


def test_the_runaways_named_in_the_brief_return_quickly_and_leave_nothing_running() -> None:
    for expression in ["9**9**9**9", "factorial(10**9)", "2**(10**10)", "expand((x+1)**100000)"]:
        started = time.monotonic()
        result = call(expression)
        assert time.monotonic() - started < LIMIT + 5
        assert result.status in (ToolStatus.refused, ToolStatus.timeout), (expression, result.output)
    assert_children_idle()
    assert ok("2^10") == "1024"


def test_a_calculation_past_the_limit_is_killed_and_the_next_call_works() -> None:
    started = time.monotonic()
    result = call(SLOW)
    assert time.monotonic() - started < LIMIT + 5
    assert result.status is ToolStatus.timeout and "did not finish" in result.output
    assert_children_idle()
    assert ok("1/3 + 1/6") == "1/2"


def test_concurrent_calls_each_get_their_answer() -> None:
    async def many() -> list[ToolResult]:
        return await asyncio.gather(*(BOX.call("calculator", json.dumps({"expression": text}))
                                      for text in [SLOW, "2^10", "1/3 + 1/6", "factor(x^2-1)", "sqrt(8)"]))

    slow, *rest = asyncio.run(many())
    assert slow.status is ToolStatus.timeout
    assert [r.output for r in rest] == ["1024", "1/2", "(x - 1)*(x + 1)", "2*sqrt(2) ≈ 2.8284271247"]
    assert_children_idle()


def test_the_worker_gets_no_secrets_from_the_environment() -> None:
    ok("1 + 1")
    workers = calculator_workers()
    assert workers
    for pid in workers:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert {item.split(b"=", 1)[0] for item in environ if item} <= {b"PATH", b"LC_ALL"}


def child_pids() -> list[int]:
    """The test process's children (from /proc, so no psutil is needed)."""
    mine, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == mine:
                found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # gone
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def calculator_workers() -> list[int]:
    """The calculator's workers among the test process's children (other tests of the session,
    a vLLM server, have children of their own)."""
    found = []
    for pid in child_pids():
        try:
            if b"calc_worker.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def assert_children_idle() -> None:
    """Every calculator worker is gone or idle: under 0.2 s of CPU in 1 s."""
    pids = calculator_workers()
    before = {pid: cpu_seconds(pid) for pid in pids}
    time.sleep(1.0)
    busy = {pid: cpu_seconds(pid) - before[pid] for pid in pids if cpu_seconds(pid) - before[pid] > 0.2}
    assert not busy, f"child processes still burning CPU: {busy}"
