"""The `math_answer` verifier against Hugging Face's math-verify on the same (response, reference) pairs.

    .venv/bin/python bench/math_answers.py [--limit N] [--rounds 3] [--timeout 2] [--write-data]

The pairs (bench/data/math_answer_pairs.jsonl, written by this script's generator with --write-data,
deterministic; see math_answer_pairs.md) cover each answer form: integers, decimals, fractions,
percentages, thousands separators, LaTeX (\\frac, \\sqrt, \\pi, ^, \\cdot, units in \\text), symbolic
expressions, intervals, sets, tuples, equations `x = 5`, with hard negatives next to each. Each pair
says whether the answer is equivalent to the reference. Printed: agreement of each with the label,
agreement between the two, every disagreement, and the time per pair of each, measured in this
one run with the two sides alternating (median of rounds). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "math_answer_pairs.jsonl"
sys.path.insert(0, str(ROOT / "plugins"))

# (form, answer as written, reference, equivalent?)
_FORMS: list[tuple[str, str, str, bool]] = [
    ("integer", "42", "42", True), ("integer", "-7", "-7", True), ("integer", "43", "42", False), ("integer", "7", "-7", False),
    ("integer", "042", "42", True), ("integer", "42.0", "42", True), ("integer", "0", "0", True), ("integer", "10", "100", False),
    ("decimal", "0.5", "1/2", True), ("decimal", "0.25", "\\frac{1}{4}", True), ("decimal", "0.33", "\\frac{1}{3}", False),
    ("decimal", "2.50", "2.5", True), ("decimal", "2.05", "2.5", False), ("decimal", ".75", "3/4", True), ("decimal", "-0.2", "-\\frac15", True),
    ("fraction", "1/2", "0.5", True), ("fraction", "\\frac{1}{2}", "\\frac{2}{4}", True), ("fraction", "\\dfrac{3}{4}", "0.75", True),
    ("fraction", "\\tfrac{5}{2}", "2.5", True), ("fraction", "\\frac{2}{3}", "\\frac{3}{2}", False), ("fraction", "-\\frac{1}{3}", "\\frac{-1}{3}", True),
    ("fraction", "\\frac{1}{3}", "-\\frac{1}{3}", False), ("fraction", "7/3", "2\\frac{1}{3}", True), ("fraction", "2/3", "2\\frac{1}{3}", False),
    ("percentage", "50\\%", "0.5", True), ("percentage", "50%", "\\frac{1}{2}", True), ("percentage", "25\\%", "25", True),
    ("percentage", "12.5\\%", "0.125", True), ("percentage", "5\\%", "0.5", False), ("percentage", "40\\%", "0.04", False),
    ("thousands", "1,000", "1000", True), ("thousands", "12,345", "12345", True), ("thousands", "1,000,000", "10^6", True),
    ("thousands", "1,001", "1000", False), ("thousands", "2,500", "25", False),
    ("sqrt", "2\\sqrt{2}", "\\sqrt{8}", True), ("sqrt", "\\sqrt{12}", "2\\sqrt{3}", True), ("sqrt", "\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
    ("sqrt", "\\sqrt{2}", "1.414", False), ("sqrt", "3\\sqrt{2}", "\\sqrt{12}", False), ("sqrt", "\\sqrt[3]{27}", "3", True),
    ("pi", "2\\pi", "\\pi \\cdot 2", True), ("pi", "\\frac{\\pi}{3}", "\\pi/3", True), ("pi", "\\pi", "3.14", False),
    ("pi", "\\frac{3\\pi}{4}", "\\frac{3}{4}\\pi", True), ("pi", "\\frac{\\pi}{4}", "\\frac{\\pi}{2}", False),
    ("power", "2^{10}", "1024", True), ("power", "3^4", "81", True), ("power", "2^{-1}", "0.5", True), ("power", "2^{10}", "1000", False),
    ("operators", "2 \\cdot 3", "6", True), ("operators", "3 \\times 10^{2}", "300", True), ("operators", "12 \\div 4", "3", True),
    ("operators", "2 \\times 3", "5", False), ("operators", "\\left(2+1\\right)^2", "9", True),
    ("units", "5\\text{ cm}", "5", True), ("units", "12 \\text{ dollars}", "12", True), ("units", "90^\\circ", "90", True),
    ("units", "30^{\\circ}", "\\frac{\\pi}{6}", False), ("units", "7 \\mbox{ meters}", "8", False),
    ("symbolic", "x^2+2x+1", "(x+1)^2", True), ("symbolic", "2(x+3)", "2x+6", True), ("symbolic", "\\frac{x^2-1}{x-1}", "x+1", True),
    ("symbolic", "x^2-1", "(x-1)^2", False), ("symbolic", "2x", "x^2", False), ("symbolic", "\\sin^2 x + \\cos^2 x", "1", True),
    ("symbolic", "e^{i\\pi}", "-1", True), ("symbolic", "\\ln(e^2)", "2", True),
    ("equation", "x = 5", "5", True), ("equation", "y = 2x + 1", "2x+1", True), ("equation", "x = 4", "5", False),
    ("interval", "[1, 2)", "[1,2)", True), ("interval", "(0, \\infty)", "(0,\\infty)", True), ("interval", "[1, 2]", "[1, 2)", False),
    ("interval", "(-\\infty, 3]", "(-\\infty,3]", True), ("interval", "(-\\infty, 3)", "(-\\infty, 3]", False),
    ("interval", "(-\\infty, 1) \\cup (2, \\infty)", "(2, \\infty) \\cup (-\\infty, 1)", True),
    ("interval", "(-\\infty, 1) \\cup (3, \\infty)", "(-\\infty, 1) \\cup (2, \\infty)", False),
    ("set", "\\{1, 2\\}", "\\{2, 1\\}", True), ("set", "\\{1, 2, 3\\}", "\\{3, 1, 2\\}", True), ("set", "\\{1, 2\\}", "\\{1, 2, 3\\}", False),
    ("set", "\\{-1, 1\\}", "\\{1, -2\\}", False), ("solutions", "x = 1 \\text{ or } x = 2", "1, 2", True), ("solutions", "1, 2", "2, 1", True),
    ("solutions", "-3, 3", "3", False),
    ("tuple", "(1, 2)", "(1,2)", True), ("tuple", "(1, 2)", "(2, 1)", False), ("tuple", "(\\frac12, 3)", "(0.5, 3)", True),
    ("tuple", "(1, 2, 3)", "(1, 2)", False), ("tuple", "(-1, \\sqrt{4})", "(-1, 2)", True),
]

# how the response states its answer: (wrapper name, template)
_WRAPPERS = [
    ("boxed", "We work it out step by step and get 3 intermediate values.\nTherefore the final answer is $\\boxed{{{a}}}$."),
    ("stated", "Combining the 2 cases above, the answer is ${a}$."),
    ("last-number", "After simplifying the 4 terms we are left with {a}"),
]


def generate() -> list[dict[str, Any]]:
    """Every form in each wrapper (last-number only where the answer is a plain number)."""
    pairs = []
    for form, answer, reference, same in _FORMS:
        for wrapper, template in _WRAPPERS:
            if wrapper == "last-number" and not all(c in "0123456789.,-/%\\" for c in answer.replace("\\%", "%")):
                continue
            pairs.append({"form": form, "wrapper": wrapper, "text": template.format(a=answer), "reference": reference,
                          "equivalent": same})
    return pairs


def load(limit: int | None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()] if DATA.exists() else generate()
    return rows[:limit] if limit else rows


def ours(pairs: list[dict[str, Any]], timeout: float) -> list[bool | None]:
    from judge.models import Item
    from judge_tools.math_answer import MathAnswerArgs, check_math_answer

    args = MathAnswerArgs(timeout=timeout)
    results: list[bool | None] = []
    for pair in pairs:
        check = check_math_answer(pair["text"], args, Item(id="b", prompt="p", responses=["r"], reference=pair["reference"]))
        results.append(None if check is None else check.passed)
    return results


def theirs(pairs: list[dict[str, Any]]) -> list[bool | None]:
    from math_verify import parse, verify

    results: list[bool | None] = []
    for pair in pairs:
        try:
            results.append(bool(verify(parse(f"${pair['reference']}$"), parse(pair["text"]))))
        except Exception:  # noqa: BLE001 - a crash is shown as undecided
            results.append(None)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N pairs")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds, the two sides alternating")
    parser.add_argument("--timeout", type=float, default=2.0, help="math_answer's time limit per comparison")
    parser.add_argument("--write-data", action="store_true", help=f"write the generated pairs to {DATA.relative_to(ROOT)}")
    options = parser.parse_args(argv)
    if options.write_data:
        DATA.parent.mkdir(parents=True, exist_ok=True)
        DATA.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in generate()))
        print(f"wrote {len(generate())} pairs to {DATA}")
        return
    pairs = load(options.limit)
    ours(pairs[:1], options.timeout), theirs(pairs[:1])  # warm: imports and the sympy worker
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    mine: list[bool | None] = []
    other: list[bool | None] = []
    for round_ in range(max(1, options.rounds)):
        for side in (("ours", "theirs") if round_ % 2 == 0 else ("theirs", "ours")):
            started = time.perf_counter()
            if side == "ours":
                mine = ours(pairs, options.timeout)
            else:
                other = theirs(pairs)
            times[side].append((time.perf_counter() - started) / len(pairs))
    labels = [p["equivalent"] for p in pairs]
    n = len(pairs)
    print(f"pairs: {n} ({sum(labels)} equivalent, {n - sum(labels)} not)")
    print(f"math_answer correct: {sum(m is lab for m, lab in zip(mine, labels))}/{n}, undecided {mine.count(None)}")
    print(f"math-verify correct: {sum(o is lab for o, lab in zip(other, labels))}/{n}, undecided {other.count(None)}")
    agree = sum(m is o for m, o in zip(mine, other))
    print(f"agreement between math_answer and math-verify: {agree}/{n} = {agree / n:.1%}")
    print("disagreements (form, wrapper, text, reference, label, ours, theirs):")
    for pair, m, o in zip(pairs, mine, other):
        if m is not o:
            text = pair["text"].replace("\n", " ")
            print(f"  {pair['form']:<11} {pair['wrapper']:<11} {text[-48:]!r:<52} ref {pair['reference']!r:<28} "
                  f"label {pair['equivalent']!s:<5} ours {m!s:<5} theirs {o!s}")
    print("both against the label (form, text, reference, label, ours, theirs):")
    for pair, m, o in zip(pairs, mine, other):
        if m is not pair["equivalent"] and o is not pair["equivalent"]:
            print(f"  {pair['form']:<11} {pair['text'].replace(chr(10), ' ')[-48:]!r:<52} ref {pair['reference']!r:<28} "
                  f"label {pair['equivalent']!s:<5} ours {m!s:<5} theirs {o!s}")
    ours_time, theirs_time = statistics.median(times["ours"]), statistics.median(times["theirs"])
    print(f"time per pair (median of {len(times['ours'])} rounds): math_answer {ours_time * 1e3:.2f} ms, "
          f"math-verify {theirs_time * 1e3:.2f} ms, ratio ours/theirs {ours_time / theirs_time:.2f}")


if __name__ == "__main__":
    main()
