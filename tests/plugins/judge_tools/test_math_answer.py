"""math_answer decides "the final answer matches the reference" without a model: extraction (boxed,
stated, last number), equivalence (exact, fractions, decimals, percentages, LaTeX, symbolic, sets,
intervals, tuples), a time limit that defers instead of hanging, and the verifier in an engine run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from judge import Item, Judge, Rubric
from judge.hookspecs import hookimpl
from judge.plugins import Registry
from judge.rubric import Criterion
from judge.verifiers import Verifier, VerifierSpec
from judge_fake.backend import FakeBackend
from judge_tools.math_answer import MATH_ANSWER, MathAnswerArgs, check_math_answer, equivalent, extract, extract_final_answer

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("text", "answer"), [
    (r"so the result is \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
    (r"first \boxed{3}, then corrected: \boxed{4}", "4"),
    (r"\boxed{\{1, \{2\}\}}", r"\{1, \{2\}\}"),
    (r"$\fbox{x^{2}}$", "x^{2}"),
    ("Adding up, the answer is 42. Done.", "42"),
    ("Answer: 3.5", "3.5"),
    ("The final answer is: $-7$", "-7"),
    ("The answer is 12 apples. Later: the answer is 13.", "13"),
    ("We get 3 apples and then 1,000 more", "1,000"),
    ("half of it: 1/2", "1/2"),
    ("it grew by 12.5%", "12.5%"),
    (r"so it is \dfrac{3}{4} in total", r"\dfrac{3}{4}"),
    ("no digits here", None),
    ("", None),
])
def test_extract_final_answer(text, answer):
    assert extract_final_answer(text) == answer


def test_extraction_says_where_the_answer_came_from():
    assert extract(r"\boxed{2}") == ("2", "\\boxed")
    assert extract("the answer is 2")[1] == "'the answer is'"
    assert extract("x = 2")[1] == "the last number"


@pytest.mark.parametrize(("answer", "reference"), [
    ("1/2", "0.5"), (r"\frac{1}{2}", "0.5"), (r"\dfrac{3}{4}", "0.75"), (r"\frac12", "0.5"), ("-3", "-3.0"), ("042", "42"), (".75", "3/4"), ("7/3", r"2\frac{1}{3}"), (r"\sin^2 x + \cos^2 x", "1"),
    ("50%", "0.5"), ("50%", "1/2"), (r"50\%", "50"), ("1,000", "1000"), (r"2\sqrt{2}", r"\sqrt{8}"),
    (r"\sqrt[3]{8}", "2"), (r"\pi/2", r"\frac{\pi}{2}"), (r"2 \cdot 3", "6"), (r"2 \times 10^{3}", "2000"),
    (r"\left(x+1\right)^2", "x^2+2x+1"), ("$5$", "5"), (r"5\text{ cm}", "5"), ("12 dollars", "12"),
    (r"90^\circ", "90"), ("x = 5", "5"), (r"[1, 2)", "[1,2)"), (r"(0, \infty)", r"(0,\infty)"),
    (r"\{1, 2\}", r"\{2, 1\}"), ("1, 2", "2, 1"), ("x = 1 or x = 2", r"\{1, 2\}"), ("(1, 2)", "(1,2)"),
    (r"(-\infty, 1) \cup (2, \infty)", r"(2, \infty) \cup (-\infty, 1)"), (r"\binom{5}{2}", "10"), (r"\alpha", r"\alpha"),
])
def test_equivalent(answer, reference):
    assert equivalent(answer, reference, timeout=5.0) is True


@pytest.mark.parametrize(("answer", "reference"), [
    ("1/3", "0.33"), ("3", "4"), ("-2", "2"), (r"2\sqrt{2}", r"\sqrt{2}"), ("[1, 2]", "[1, 2)"), ("(1, 2)", "(2, 1)"),
    (r"\{1, 2\}", r"\{1, 2, 3\}"), ("x^2", "2x"), (r"\pi", "3.14"), ("1, 2", "(1, 2, 3)"), ("0.5", "(0.5, 1)"),
])
def test_not_equivalent(answer, reference):
    assert equivalent(answer, reference, timeout=5.0) is False


def test_tolerance_is_relative_to_the_reference():
    assert equivalent("3.14", r"\pi", timeout=5.0, tolerance=0.001) is True
    assert equivalent("3.1", r"\pi", timeout=5.0, tolerance=0.001) is False
    assert equivalent("1.001", "1", tolerance=0.01) is True and equivalent("1.1", "1", tolerance=0.01) is False


def test_unreadable_text_is_undecided_never_evaluated():
    assert equivalent("__import__('os').system('true')", "0") is None
    assert equivalent("x.__class__", "1") is None


def test_a_slow_comparison_is_stopped_and_undecided_within_the_limit():
    equivalent(r"\sqrt{2}", "1.4")  # a warm worker, so the limit times the comparison, not sympy's import
    started = time.monotonic()
    # sympy decides the smaller sin^40 + cos^40 + tan^17 in anything from under 0.5 s to 7 s
    # (its equals() samples numerically): this one ran past 30 s in a measured run
    assert equivalent("sin(x)^80+cos(x)^80+tan(x)^37+sin(2*x)^30", "1", timeout=0.5) is None
    assert time.monotonic() - started < 0.5 + 5
    assert equivalent("1/2", "0.5", timeout=0.5) is True  # the killed worker is replaced


def item(reference: str | None) -> Item:
    return Item(id="i", prompt="What is 1/2 + 0?", responses=["r"], reference=reference)


def test_the_verifier_reasons():
    args = MathAnswerArgs()
    passed = check_math_answer(r"Thus \boxed{1/2}.", args, item("0.5"))
    assert passed is not None and passed.passed and passed.reason == "answer 1/2 (from \\boxed) equals reference 0.5"
    failed = check_math_answer("The answer is 3.", args, item("0.5"))
    assert failed is not None and not failed.passed and failed.reason == "answer 3 (from 'the answer is') differs from reference 0.5"
    none = check_math_answer("I do not know.", args, item("0.5"))
    assert none is not None and not none.passed and none.reason == "no final answer found"
    assert check_math_answer(r"\boxed{1}", args, item(None)) is None
    assert check_math_answer(r"\boxed{1}", MathAnswerArgs(reference="1"), item(None)).passed  # type: ignore[union-attr]
    assert check_math_answer(r"\boxed{1}", args, item(r"so \boxed{1.0}")).passed  # type: ignore[union-attr]


class _Plugin:
    @staticmethod
    @hookimpl
    def register_verifiers(register):
        register(Verifier("math_answer_test", MATH_ANSWER.description, MATH_ANSWER.arguments, MATH_ANSWER.function))


def test_the_engine_decides_the_answer_without_the_model():
    registry = Registry()
    registry.register_module(_Plugin(), name="m")
    rubric = Rubric(name="math", criteria=[
        Criterion(id="correct", text="The final answer matches the reference.", kind="hard_rule", scale="binary",
                  high="matches", low="does not match", verifier=VerifierSpec(name="math_answer_test", args={"timeout": 5})),
    ])
    items = [Item(id="right", prompt="1/2?", responses=[r"\boxed{\frac{1}{2}}"], reference="0.5"),
             Item(id="wrong", prompt="1/2?", responses=["The answer is 2."], reference="0.5"),
             Item(id="none", prompt="1/2?", responses=["hmm"], reference="0.5"),
             Item(id="no-reference", prompt="1/2?", responses=["1/2"])]
    fake = FakeBackend()
    judgments = {j.id: j for j in Judge(rubric, mode="principle", backend=fake, registry=registry).score(items)}
    assert len(fake.requests) == 1  # only the item without a reference asked the model
    assert judgments["right"].reward == 1.0 and judgments["right"].verdicts[0].decided_by == "math_answer_test"
    assert judgments["wrong"].reward == 0.0 and judgments["wrong"].verdicts[0].reason.endswith("differs from reference 0.5")
    assert judgments["none"].reward == 0.0 and judgments["none"].verdicts[0].reason == "no final answer found"
    assert judgments["no-reference"].verdicts[0].decided_by == "model"


def test_math_answers_bench_runs():
    done = subprocess.run([sys.executable, "bench/math_answers.py", "--limit", "20", "--rounds", "1"], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "agreement" in done.stdout
