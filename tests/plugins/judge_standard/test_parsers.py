"""Unit tests for the built-in parsers: real answers parse, garbage is `unparsed` with a reason."""

from __future__ import annotations

import math

import pytest

from judge.backend import Completion
from judge.models import Status
from judge.parsing import ParseSpec, normalised
from judge_standard.parsers import parse_choice, parse_score, parse_yes_no

SCORE_TEXT = ParseSpec(kind="score", candidates=("1", "2", "3", "4", "5"), use_probabilities=False)
SCORE_PROBS = ParseSpec(kind="score", candidates=("1", "2", "3", "4", "5"), use_probabilities=True)
CHOICE_TEXT = ParseSpec(kind="choice", candidates=("A", "B"), use_probabilities=False)
CHOICE_PROBS = ParseSpec(kind="choice", candidates=("A", "B"), use_probabilities=True)
YES_NO_TEXT = ParseSpec(kind="yes_no", candidates=("Yes", "No"), use_probabilities=False)
YES_NO_PROBS = ParseSpec(kind="yes_no", candidates=("Yes", "No"), use_probabilities=True)

NEG_INF = float("-inf")


def text(value: str) -> Completion:
    return Completion(texts=[value])


def assert_unparsed(parsed) -> None:
    assert parsed.status is Status.unparsed
    assert parsed.value is None
    assert parsed.choice is None
    assert parsed.probabilities is None
    assert isinstance(parsed.reason, str) and parsed.reason.strip()


# -- normalised ---------------------------------------------------------------------------------


def test_normalised_renormalises_over_candidates_only():
    probs = normalised({"Yes": math.log(0.3), "No": math.log(0.1), "Maybe": math.log(0.6)}, ("Yes", "No"))
    assert probs == pytest.approx({"Yes": 0.75, "No": 0.25})


def test_normalised_missing_candidate_is_none():
    assert normalised({"Yes": -0.1}, ("Yes", "No")) is None


def test_normalised_neg_inf_is_zero_probability():
    assert normalised({"Yes": NEG_INF, "No": -3.0}, ("Yes", "No")) == {"Yes": 0.0, "No": 1.0}


def test_normalised_all_neg_inf_is_none():
    assert normalised({"Yes": NEG_INF, "No": NEG_INF}, ("Yes", "No")) is None


def test_normalised_handles_very_negative_logprobs_without_underflow():
    probs = normalised({"Yes": -2000.0, "No": -2000.0 - math.log(3)}, ("Yes", "No"))
    assert probs == pytest.approx({"Yes": 0.75, "No": 0.25})


# -- parse_score: probabilities -----------------------------------------------------------------


def test_score_expected_value_from_probabilities():
    weights = {"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.2, "5": 0.2}
    completion = Completion(texts=["3"], candidate_logprobs={k: math.log(v) for k, v in weights.items()})
    parsed = parse_score(completion, SCORE_PROBS)
    assert parsed.status is Status.ok
    assert parsed.value == pytest.approx(1 * 0.1 + 2 * 0.2 + 3 * 0.3 + 4 * 0.2 + 5 * 0.2)
    assert parsed.probabilities == pytest.approx(weights)


def test_score_probabilities_ignore_the_text():
    # The text says 1, the probabilities say 5: the probability path must not read the text.
    completion = Completion(texts=["1"], candidate_logprobs={"1": NEG_INF, "2": NEG_INF, "3": NEG_INF, "4": NEG_INF, "5": 0.0})
    parsed = parse_score(completion, SCORE_PROBS)
    assert parsed.status is Status.ok
    assert parsed.value == 5.0


def test_score_probabilities_renormalise_unnormalised_logprobs():
    # Candidates together hold only 10% of the mass; the result is over the candidates alone.
    logprobs = {"1": math.log(0.05), "5": math.log(0.05), "2": NEG_INF, "3": NEG_INF, "4": NEG_INF, "x": math.log(0.9)}
    parsed = parse_score(Completion(candidate_logprobs=logprobs), SCORE_PROBS)
    assert parsed.status is Status.ok
    assert parsed.value == pytest.approx(3.0)
    assert parsed.probabilities["1"] == pytest.approx(0.5)
    assert parsed.probabilities["3"] == 0.0
    assert "x" not in parsed.probabilities


def test_score_missing_candidate_is_unparsed_with_reason():
    completion = Completion(texts=["4"], candidate_logprobs={"1": -1.0, "2": -1.0, "3": -1.0, "5": -1.0})
    parsed = parse_score(completion, SCORE_PROBS)
    assert_unparsed(parsed)
    assert "'4'" in parsed.reason
    assert "'1'" not in parsed.reason


def test_score_no_candidate_logprobs_is_unparsed_even_if_text_has_a_number():
    parsed = parse_score(Completion(texts=["4"], candidate_logprobs=None), SCORE_PROBS)
    assert_unparsed(parsed)
    assert "probabilit" in parsed.reason


def test_score_with_neg_inf_logprobs():
    logprobs = {"1": NEG_INF, "2": NEG_INF, "3": math.log(0.5), "4": math.log(0.5), "5": NEG_INF}
    parsed = parse_score(Completion(candidate_logprobs=logprobs), SCORE_PROBS)
    assert parsed.status is Status.ok
    assert parsed.value == pytest.approx(3.5)
    assert parsed.probabilities["1"] == 0.0


def test_score_all_neg_inf_is_unparsed_not_a_default():
    logprobs = {c: NEG_INF for c in SCORE_PROBS.candidates}
    parsed = parse_score(Completion(texts=["3"], candidate_logprobs=logprobs), SCORE_PROBS)
    assert_unparsed(parsed)


def test_score_all_neg_inf_reason_is_meaningful():
    logprobs = {c: NEG_INF for c in SCORE_PROBS.candidates}
    parsed = parse_score(Completion(candidate_logprobs=logprobs), SCORE_PROBS)
    assert "[]" not in parsed.reason


# -- parse_score: text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("4", 4.0),
        ("Score: 3", 3.0),
        ("score=2", 2.0),
        ("Rating: 1", 1.0),
        ("[RESULT] 5", 5.0),
        ("  5\n", 5.0),
        ("I would give it a 4 out of 5.", 4.0),
        ("The response is accurate.\nScore: 2", 2.0),
    ],
)
def test_score_from_well_formed_text(answer, expected):
    parsed = parse_score(text(answer), SCORE_TEXT)
    assert parsed.status is Status.ok
    assert parsed.value == expected
    assert isinstance(parsed.value, float)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "   \n\t ",
        "I cannot judge this",
        "7",  # outside the 1-5 scale
        "0",
        "-3",
        "10",
        "3.5",  # not an integer on the scale
        "Score: 7",
        "Score: 9. Actually 4",  # a labelled out-of-scale score is not replaced by a stray number
        "five",
    ],
)
def test_score_garbage_is_unparsed(answer):
    assert_unparsed(parse_score(text(answer), SCORE_TEXT))


def test_score_no_texts_is_unparsed():
    assert_unparsed(parse_score(Completion(texts=[]), SCORE_TEXT))


def test_score_uses_the_spec_candidates_not_a_fixed_scale():
    spec = ParseSpec(kind="score", candidates=tuple(str(i) for i in range(0, 11)), use_probabilities=False)
    assert parse_score(text("7"), spec).value == 7.0
    assert parse_score(text("10"), spec).value == 10.0


def test_score_think_block_is_stripped():
    parsed = parse_score(text("<think>It deserves a 2, maybe 1.</think>\n4"), SCORE_TEXT)
    assert parsed.status is Status.ok
    assert parsed.value == 4.0


def test_score_think_block_only_is_unparsed():
    assert_unparsed(parse_score(text("<THINK>\nI'd say 3\n</THINK>"), SCORE_TEXT))


def test_score_unclosed_think_block_is_unparsed():
    assert_unparsed(parse_score(text("<think>Let me weigh this. Point 2 is weak"), SCORE_TEXT))


@pytest.mark.parametrize(("answer", "expected"), [("On a scale of 1 to 5, I give 3", 3.0), ("Scale 1-5: 4", 4.0)])
def test_score_echoed_scale_is_not_the_score(answer, expected):
    assert parse_score(text(answer), SCORE_TEXT).value == expected


# -- parse_choice --------------------------------------------------------------------------------


def test_choice_from_probabilities():
    completion = Completion(texts=["B because it is right"], candidate_logprobs={"A": math.log(0.2), "B": math.log(0.6)})
    parsed = parse_choice(completion, CHOICE_PROBS)
    assert parsed.status is Status.ok
    assert parsed.choice == "B"
    assert parsed.probabilities == pytest.approx({"A": 0.25, "B": 0.75})
    assert parsed.reason == "B because it is right"


def test_choice_probabilities_missing_label_is_unparsed():
    parsed = parse_choice(Completion(texts=["A"], candidate_logprobs={"A": -0.1}), CHOICE_PROBS)
    assert_unparsed(parsed)
    assert "'B'" in parsed.reason


def test_choice_probabilities_all_neg_inf_is_unparsed():
    parsed = parse_choice(Completion(texts=["A"], candidate_logprobs={"A": NEG_INF, "B": NEG_INF}), CHOICE_PROBS)
    assert_unparsed(parsed)


def test_choice_probabilities_one_neg_inf():
    parsed = parse_choice(Completion(candidate_logprobs={"A": NEG_INF, "B": -7.0}), CHOICE_PROBS)
    assert parsed.choice == "B"
    assert parsed.probabilities == {"A": 0.0, "B": 1.0}
    assert parsed.reason is None  # no text: no reason invented


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("A", "A"),
        ("B", "B"),
        ("B.", "B"),
        ("A\nIt answers the question directly.", "A"),
        ("**B**", "B"),
        ("[RESULT] A", "A"),
        ("Feedback: both are fine. [RESULT] B", "B"),
        ("\\boxed{B}", "B"),
        ("\\boxed{ A }", "A"),
        ("response A", "A"),
        ("The answer is B", "B"),
        ("Winner: A", "A"),
        ("Preferred: B", "B"),
        ("<think>A looks better at first.</think>B", "B"),
    ],
)
def test_choice_from_well_formed_text(answer, expected):
    parsed = parse_choice(text(answer), CHOICE_TEXT)
    assert parsed.status is Status.ok
    assert parsed.choice == expected
    assert parsed.value is None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("Response B is better", "B"), ("Output A", "A"), ("The better response is B", "B")],
)
def test_choice_capitalised_response_label(answer, expected):
    parsed = parse_choice(text(answer), CHOICE_TEXT)
    assert parsed.status is Status.ok
    assert parsed.choice == expected


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "  \n ",
        "I cannot judge this",
        "Both responses give a good answer.",  # lowercase article 'a' is not the label
        "Apples and Bananas",  # a word starting with the label is not the label
        "C",
        "Overall, I lean towards A",  # no explicit statement pattern: unparsed rather than a guess
        "<think>A</think>",
    ],
)
def test_choice_garbage_is_unparsed(answer):
    assert_unparsed(parse_choice(text(answer), CHOICE_TEXT))


@pytest.mark.parametrize(
    "answer",
    [
        "A good answer would explain the trade-offs first.",
        "I cannot judge this.\nA good answer would cite a source.",
        "Neither is better. A and B are equally wrong.",
    ],
)
def test_choice_article_a_is_not_a_verdict(answer):
    assert_unparsed(parse_choice(text(answer), CHOICE_TEXT))


def test_choice_labels_come_from_the_spec():
    spec = ParseSpec(kind="choice", candidates=("1", "2"), use_probabilities=False)
    assert parse_choice(text("2"), spec).choice == "2"
    assert_unparsed(parse_choice(text("B"), spec))


# -- parse_yes_no --------------------------------------------------------------------------------


def test_yes_no_probability_of_yes():
    completion = Completion(texts=["No"], candidate_logprobs={"Yes": math.log(0.2), "No": math.log(0.6), "yes": 0.0})
    parsed = parse_yes_no(completion, YES_NO_PROBS)
    assert parsed.status is Status.ok
    assert parsed.value == pytest.approx(0.25)
    assert parsed.probabilities == pytest.approx({"Yes": 0.25, "No": 0.75})


def test_yes_no_neg_inf_no_gives_certain_yes():
    parsed = parse_yes_no(Completion(candidate_logprobs={"Yes": -5.0, "No": NEG_INF}), YES_NO_PROBS)
    assert parsed.value == 1.0


@pytest.mark.parametrize(
    "logprobs",
    [None, {"Yes": -0.1}, {"No": -0.1}, {"Yes": NEG_INF, "No": NEG_INF}],
)
def test_yes_no_probabilities_unusable_is_unparsed(logprobs):
    assert_unparsed(parse_yes_no(Completion(texts=["Yes"], candidate_logprobs=logprobs), YES_NO_PROBS))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Yes.", 1.0),
        ("Yes", 1.0),
        ("YES", 1.0),
        ("yes, it does", 1.0),
        ("no", 0.0),
        ("No.", 0.0),
        ("**No**", 0.0),
        ("<think>Yes, probably.</think>\nNo", 0.0),
    ],
)
def test_yes_no_from_text(answer, expected):
    parsed = parse_yes_no(text(answer), YES_NO_TEXT)
    assert parsed.status is Status.ok
    assert parsed.value == expected


@pytest.mark.parametrize(
    "answer",
    ["", " ", "I cannot judge this", "Not sure", "Nobody can tell", "Yesterday it was", "Maybe yes", "<think>Yes</think>",
     "no idea", "No idea.", "yes and no"],  # "no idea" opens with "no" but answers nothing
)
def test_yes_no_garbage_is_unparsed(answer):
    parsed = parse_yes_no(text(answer), YES_NO_TEXT)
    assert_unparsed(parsed)
    assert "Yes" in parsed.reason and "No" in parsed.reason


def test_yes_no_uses_the_spec_words():
    spec = ParseSpec(kind="yes_no", candidates=("Oui", "Non"), use_probabilities=False)
    assert parse_yes_no(text("Non."), spec).value == 0.0
    assert parse_yes_no(text("oui"), spec).value == 1.0
    assert_unparsed(parse_yes_no(text("Yes"), spec))
