"""The `math_answer` verifier: the response's final answer equals the item's reference answer.

The rule RLVR rewards and Cooper's VerifyRM check: extract the final answer (the last \\boxed{...},
else "the answer is X", else the last number), then decide equivalence without a model. Fast
paths first (the same text after normalisation, then exact fractions); only then sympy, in the
calculator's worker process, under a time limit past which the worker is killed and the verifier
defers to the model. Model text is never evaluated: LaTeX is rewritten into the calculator's
whitelist syntax and read by its whitelist parser (`judge_tools.calc_parse`).

Percentages: `X%` may be read as X/100 or as X, whichever matches (50% equals 0.5, 1/2 and 50).
"""

from __future__ import annotations

import re
import time
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from judge.models import Item, content_text
from judge.verifiers import Check, Verifier

STARTUP_LIMIT = 20.0  # seconds a cold worker may take to import sympy; not counted in the comparison's limit
MAX_EXACT_POWER = 64  # larger integer powers go to sympy, which guards their size

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS = re.compile(r"(?:final\s+answer|the\s+answer|answer)\s*(?:is\s*:?|:|=)\s*", re.IGNORECASE)
_NUMBER = re.compile(r"\\[dt]?frac\s*\{\s*-?\d+\s*\}\s*\{\s*\d+\s*\}|-?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?(?:\\?%)?|-?\.\d+(?:\\?%)?")
_TEXT_COMMANDS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_DROP = re.compile(r"\\(?:displaystyle|left|right|big|Big|bigg|Bigg|quad|qquad|[,;:! ])|\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|°|~")
_COMMANDS = {"\\pi": " pi ", "\\infty": " oo ", "\\cdot": "*", "\\times": "*", "\\div": "/", "\\leq": "<=", "\\le": "<=",
             "\\geq": ">=", "\\ge": ">=", "\\neq": "!=", "\\ne": "!=", "\\cup": " U ", "\\ln": "log", "\\log": "log",
             "\\exp": "exp", "\\sin": "sin", "\\cos": "cos", "\\tan": "tan", "\\%": "%", "\\{": "⦃", "\\}": "⦄", "\\$": ""}
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
_MIXED = re.compile(r"(?<![\d.])(\d+)\s*\\[dt]?frac\s*\{(\d+)\}\s*\{(\d+)\}")
_FUNCTION_POWER = re.compile(r"\b(sin|cos|tan|cot|sec|csc|log)\s*(\^\s*\(?\{?\d+\}?\)?)?\s*([A-Za-z0-9]+|\([^()]*\))")
_WORD = re.compile(r"[A-Za-z]{2,}")
_EQUATION_LHS = re.compile(r"^\s*[A-Za-z](?:_\(?\w+\)?)?\s*=(?!=)")
_TOKEN = re.compile(r"\d+\.?\d*|\.\d+|[A-Za-z_][A-Za-z_0-9]*|\*\*|[<>!=]=|\S")


class MathAnswerArgs(BaseModel):
    """What a criterion gives `math_answer`."""

    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(default=None, description="the reference answer (else the item's reference)")
    timeout: float = Field(default=2.0, gt=0, le=60, description="seconds one symbolic comparison may take; past it the model judges")
    tolerance: float = Field(default=0.0, ge=0, description="relative tolerance for numbers: |answer - reference| <= tolerance * |reference|")


# -- extraction -----------------------------------------------------------------------------------

def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The content of the brace group opening at text[start] ('{'), and the index after it; None if unbalanced."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{" and text[i - 1:i] != "\\":
            depth += 1
        elif text[i] == "}" and text[i - 1:i] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None


def extract(text: str) -> tuple[str, str] | None:
    """(final answer, where it came from), or None when the text has none."""
    boxes = [m for m in _BOXED.finditer(text)]
    for match in reversed(boxes):
        group = _braced(text, match.end() - 1)
        if group is not None and group[0].strip():
            return group[0].strip(), "\\boxed"
    stated = list(_ANSWER_IS.finditer(text))
    if stated:
        rest = text[stated[-1].end():].split("\n", 1)[0]
        rest = re.split(r"\.(?=\s|$)|;|\s(?:because|since|as)\s", rest, maxsplit=1)[0].strip().strip("$").strip()
        if rest:
            return rest.rstrip(".,"), "'the answer is'"
    numbers = list(_NUMBER.finditer(text))
    return (numbers[-1].group(0), "the last number") if numbers else None


def extract_final_answer(text: str) -> str | None:
    """The last \\boxed{...}, else the stated answer ("the answer is X"), else the last number."""
    found = extract(text)
    return found[0] if found else None


# -- LaTeX to the calculator's syntax -------------------------------------------------------------

def _commands_with_groups(text: str) -> str:
    """\\frac{a}{b}, \\sqrt[n]{x}, \\binom{a}{b} as calls and quotients; bare digits as \\frac12 also read."""
    out, i = [], 0
    pattern = re.compile(r"\\(?:[dt]?frac|sqrt|binom)")
    while (match := pattern.search(text, i)) is not None:
        out.append(text[i:match.start()])
        name, j, args, index = match.group(0), match.end(), [], None
        if name == "\\sqrt" and text[j:j + 1] == "[":
            close = text.find("]", j)
            index, j = (text[j + 1:close], close + 1) if close > 0 else (None, j)
        for _ in range(1 if name == "\\sqrt" else 2):
            while text[j:j + 1] == " ":
                j += 1
            group = _braced(text, j) if text[j:j + 1] == "{" else None
            if group is not None:
                args.append(_commands_with_groups(group[0]))
                j = group[1]
            elif j < len(text):
                args.append(text[j])
                j += 1
        while len(args) < (1 if name == "\\sqrt" else 2):
            args.append("")
        if name == "\\sqrt":
            out.append(f"root(({args[0]}),({index}))" if index else f"sqrt({args[0]})")
        elif name == "\\binom":
            out.append(f"binomial(({args[0]}),({args[1]}))")
        else:
            out.append(f"(({args[0]})/({args[1]}))")
        i = j
    out.append(text[i:])
    return "".join(out)


def normalise(text: str) -> str:
    """Plain whitelist-syntax text of a LaTeX or plain answer; structure marks kept: ⦃ ⦄ for sets, U for unions."""
    s = text.strip().strip("$").replace("\\(", "").replace("\\)", "").replace("\\[", "").replace("\\]", "")
    s = _TEXT_COMMANDS.sub(lambda m: f" {m.group(1)} ", s)
    s = _DROP.sub(" ", s)
    s = _MIXED.sub(r"(\1+\2/\3)", s)  # 2\frac{1}{3} is the mixed number 7/3
    s = _commands_with_groups(s)
    for command in sorted(_COMMANDS, key=len, reverse=True):
        s = re.sub(re.escape(command) + r"(?![A-Za-z])", lambda _m, c=command: _COMMANDS[c], s)
    s = re.sub(r"\\([A-Za-z]+)", r"\1", s)  # \alpha -> alpha; anything unknown fails in the parser
    s = re.sub(r"\b(?:or|and)\b", ",", s)
    s = re.sub(r"(?<![A-Za-z])i(?![A-Za-z])", "I", s)  # i is the imaginary unit
    s = _FUNCTION_POWER.sub(lambda m: f"{m.group(1)}({m.group(3)}){m.group(2) or ''}", s)  # sin^2 x -> sin(x)^2
    s = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), s)
    s = re.sub(r"(?<![\w.])0+(?=\d)", "", s)  # 042 is 42
    from judge_tools.calc_parse import ALIASES, CONSTANTS, FUNCTIONS, GREEK

    known = set(FUNCTIONS) | set(ALIASES) | set(CONSTANTS) | GREEK
    s = _WORD.sub(lambda m: m.group(0) if m.group(0) in known else " ", s)  # units and words: 5 cm, 12 dollars
    return " ".join(s.split()).strip(" ,").rstrip(".")


def _with_products(text: str) -> str:
    """Implicit products made explicit (2sqrt(2), 3x, (a)(b), 2pi), tokens rejoined for the parser."""
    from judge_tools.calc_parse import ALIASES, FUNCTIONS

    tokens = _TOKEN.findall(text.replace("{", "(").replace("}", ")"))
    out: list[str] = []
    for token in tokens:
        if out:
            left = out[-1]
            left_value = left == ")" or left[0].isdigit() or left[0] == "." or (left[0].isalpha() and left not in FUNCTIONS and left not in ALIASES)
            right_value = token == "(" or token[0].isalpha() or token[0] == "_"
            if left_value and right_value or (left == ")" and (token[0].isdigit() or token[0] == ".")):
                out.append("*")
        out.append(token)
    return " ".join(out)


# -- structure: sets, lists, intervals and tuples ------------------------------------------------

def _split_top(text: str, separator: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        depth += char in "([{⦃"
        depth -= char in ")]}⦄"
        if char == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _enclosed(text: str, opens: str, closes: str) -> bool:
    """Whether text[0] opens a bracket that closes exactly at text[-1]."""
    if len(text) < 2 or text[0] not in opens or text[-1] not in closes:
        return False
    depth = 0
    for i, char in enumerate(text):
        depth += char in "([{⦃"
        depth -= char in ")]}⦄"
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def structure(text: str) -> tuple[str, Any]:
    """('union', parts) | ('set', items) | ('list', items) | ('seq', (open, close, items)) | ('expr', text)."""
    text = text.strip()
    if len(unions := _split_top(text, "U")) > 1:
        return "union", [structure(u) for u in unions]
    if _enclosed(text, "⦃{", "⦄}"):
        return "set", [structure(_element(e)) for e in _split_top(text[1:-1], ",") if e]
    if _enclosed(text, "([", ")]") and len(items := _split_top(text[1:-1], ",")) > 1:
        return "seq", (text[0], text[-1], [structure(_element(e)) for e in items])
    if len(items := [e for e in _split_top(text, ",") if e]) > 1:
        return "list", [structure(_element(e)) for e in items]
    return "expr", _element(text)


def _element(text: str) -> str:
    """One value: `x = 5` is 5 (a named answer)."""
    match = _EQUATION_LHS.match(text)
    return text[match.end():].strip() if match and "=" not in text[match.end():] else text.strip()


# -- comparison -----------------------------------------------------------------------------------

def _exact(node: list[Any]) -> Fraction | None:
    """The exact rational value of a tree of numbers and + - * / (small integer powers), else None."""
    kind = node[0]
    if kind == "num":
        return Fraction(int(node[1]), int(node[2]))
    if kind == "un":
        value = _exact(node[2])
        return None if value is None else (-value if node[1] == "-" else value)
    if kind != "bin" or node[1] not in ("+", "-", "*", "/", "**"):
        return None
    left, right = _exact(node[2]), _exact(node[3])
    if left is None or right is None:
        return None
    if node[1] == "**":
        if right.denominator != 1 or abs(right) > MAX_EXACT_POWER or (left == 0 and right < 0):
            return None
        return left ** int(right)
    if node[1] == "/":
        return None if right == 0 else left / right
    return left + right if node[1] == "+" else left - right if node[1] == "-" else left * right


def _readings(text: str) -> list[str]:
    """A percentage read as X/100 and as X; any other text as itself."""
    if "%" not in text:
        return [text]
    return [re.sub(r"%", "/100", text).replace("(/100", "(").strip(), text.replace("%", "").strip()]


class _Comparison:
    """One answer against one reference, sharing a deadline; `why` says what left it undecided."""

    def __init__(self, timeout: float, tolerance: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.tolerance = Fraction(tolerance)
        self.why = ""

    def same(self, a: tuple[str, Any], r: tuple[str, Any]) -> bool | None:
        (ka, va), (kr, vr) = a, r
        if ka == kr == "expr":
            return self.expr(va, vr)
        if ka in ("set", "list") and kr in ("set", "list") or ka == kr == "union":
            return self.matching(va, vr)
        if ka == kr == "seq":
            return self.ordered(va[2], vr[2]) if va[:2] == vr[:2] else False
        if {ka, kr} == {"seq", "list"}:  # 1, 2 for the point (1, 2)
            seq, plain = (va, vr) if ka == "seq" else (vr, va)
            return self.ordered(seq[2], plain) if seq[0] == "(" else False
        return False

    def ordered(self, left: list[Any], right: list[Any]) -> bool | None:
        if len(left) != len(right):
            return False
        results = [self.same(x, y) for x, y in zip(left, right)]
        return False if False in results else True if all(results) else None

    def matching(self, left: list[Any], right: list[Any]) -> bool | None:
        """The same items in any order (sets, solution lists, unions of intervals)."""
        if len(left) != len(right):
            return False
        unmatched, undecided = list(right), False
        for x in left:
            results = [self.same(x, y) for y in unmatched]
            if True in results:
                unmatched.pop(results.index(True))
            elif None in results:
                undecided = True
            else:
                return False
        return None if undecided else True

    def expr(self, answer: str, reference: str) -> bool | None:
        results = [self.one(a, r) for a in _readings(answer) for r in _readings(reference)]
        return True if True in results else None if None in results else False

    def one(self, answer: str, reference: str) -> bool | None:
        from judge.tools import ToolRefused
        from judge_tools.calc_parse import parse

        if answer.replace(" ", "") == reference.replace(" ", ""):
            return True
        try:
            ta, tr = parse(_with_products(answer)), parse(_with_products(reference))
        except ToolRefused as exc:
            self.why = f"cannot read {answer!r} or {reference!r}: {exc}"
            return None
        fa, fr = _exact(ta), _exact(tr)
        if fa is not None and fr is not None:
            return abs(fa - fr) <= self.tolerance * abs(fr)
        if "rel" in (ta[0], tr[0]):
            self.why = "an equation or inequality is compared by the model"
            return None
        reply = self._ask({"expression": ta, "compare": tr})
        verdict = None if reply is None else reply.get("ok", "")
        if verdict == "equivalent: yes":
            return True
        if verdict is None or not verdict.startswith("equivalent: no"):
            self.why = self.why or f"sympy could not decide ({(reply or {}).get('refused', verdict)})"
            return None
        if not self.tolerance:
            return False
        close = ["rel", "<=", ["call", "abs", [["bin", "-", ta, tr]]],
                 ["bin", "*", ["num", str(self.tolerance.numerator), str(self.tolerance.denominator)], ["call", "abs", [tr]]]]
        reply = self._ask({"expression": close, "compare": None})
        return {"true": True, "false": False}.get((reply or {}).get("ok", ""))

    def _ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The calculator worker's reply, or None (with `why`) when none is ready or it runs past the deadline (then it is killed)."""
        from judge_tools.calculator import WorkerDied, WorkerTimeout, WorkerUnavailable, ask_worker

        try:
            return ask_worker(request, self.deadline, start_deadline=time.monotonic() + STARTUP_LIMIT)
        except WorkerUnavailable as exc:
            self.why = f"no sympy worker could start ({exc})"
        except WorkerTimeout as exc:
            self.why = f"the comparison ran past {self.timeout:g} s" + (" and was stopped" if exc.started else "")
        except WorkerDied:
            self.why = "the sympy worker stopped during the comparison"
        return None


def compare(answer: str, reference: str, timeout: float = 2.0, tolerance: float = 0.0) -> tuple[bool | None, str]:
    """Whether the answer equals the reference (None: undecided), and what left it undecided."""
    comparison = _Comparison(timeout, tolerance)
    a, r = normalise(answer), normalise(reference)
    if not a or not r:
        return False, "an empty answer"
    if a.replace(" ", "") == r.replace(" ", ""):
        return True, ""
    result = comparison.same(structure(a), structure(r))
    return result, comparison.why if result is None else ""


def equivalent(answer: str, reference: str, timeout: float = 2.0, tolerance: float = 0.0) -> bool | None:
    """Whether two final answers are mathematically the same; None when undecided or past `timeout` seconds."""
    return compare(answer, reference, timeout, tolerance)[0]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def check_math_answer(text: str, args: MathAnswerArgs, item: Item) -> Check | None:
    """Pass when the response's final answer equals the reference; None without a reference or when undecided."""
    reference = args.reference if args.reference is not None else content_text(item.reference) if item.reference is not None else None
    if reference is None or not reference.strip():
        return None
    if _BOXED.search(reference):
        reference = extract_final_answer(reference) or reference
    found = extract(text)
    if found is None:
        return Check(passed=False, reason="no final answer found")
    answer, source = found
    result, _ = compare(answer, reference, args.timeout, args.tolerance)
    if result is None:
        return None
    verb = "equals" if result else "differs from"
    return Check(passed=result, reason=f"answer {_short(answer)} (from {source}) {verb} reference {_short(reference)}")


MATH_ANSWER = Verifier(
    "math_answer",
    "the final answer (last \\boxed{}, else 'the answer is X', else the last number) equals the reference answer: "
    "exact, fractions, decimals, percentages, LaTeX, sets, intervals, tuples, symbolic (sympy, time-limited)",
    MathAnswerArgs,
    check_math_answer,
)
