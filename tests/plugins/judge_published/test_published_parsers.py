"""The published formats' parsers: well-formed answers are read exactly, every broken rule is unparsed with a reason."""

from __future__ import annotations

import pytest

from judge.backend import Completion
from judge.models import Status
from judge.parsing import ParseSpec
from judge.plugins import Registry

POINTS = tuple(str(p) for p in range(1, 6))
ABSOLUTE = ParseSpec(kind="score", candidates=POINTS, use_probabilities=False)
RELATIVE = ParseSpec(kind="choice", candidates=("A", "B"), use_probabilities=False, count=2)
GRM_PAIR = ParseSpec(kind="scores", candidates=("1", "2"), use_probabilities=False, count=2, low=1, high=10)
GRM_THREE = ParseSpec(kind="scores", candidates=("1", "2", "3"), use_probabilities=False, count=3, low=1, high=10)
GRM_ONE = ParseSpec(kind="score", candidates=tuple(str(p) for p in range(1, 11)), use_probabilities=False)
BRRM = ParseSpec(kind="choice", candidates=("1", "2"), use_probabilities=False, count=2)
GENRM = ParseSpec(kind="yes_no", candidates=("Yes", "No"), use_probabilities=False)
LIST3 = ParseSpec(kind="ranking", candidates=("1", "2", "3"), use_probabilities=False, count=3, low=1, high=5)
RM_R1 = ParseSpec(kind="choice", candidates=("A", "B"), use_probabilities=False, count=2)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(allowed={"standard", "published"}).load()


def read(registry: Registry, parser: str, text: str, spec: ParseSpec, logprobs: dict[str, float] | None = None):
    return registry.get("parsers", parser)(Completion(texts=[text], candidate_logprobs=logprobs), spec)


RANKING_OK = 'Thinking done.\n```json\n{"scores": {"model-1": 2, "model-2": 5, "model-3": 4}, "best-to-worst": ["model-2", "model-3", "model-1"]}\n```'

READ = [
    # (parser, reply, spec, field, expected)
    ("prometheus_absolute", "The response is correct but terse. [RESULT] 4", ABSOLUTE, "value", 4.0),
    ("prometheus_absolute", "Feedback mentions [RESULT] 2 as an example. Final: [RESULT] 5\n", ABSOLUTE, "value", 5.0),
    ("prometheus_relative", "Feedback: B cites sources, A does not. [RESULT] B", RELATIVE, "choice", "B"),
    ("prometheus_relative", "Feedback: both fine; A is tighter. [RESULT] A ", RELATIVE, "choice", "A"),
    ("grm_boxed", "Specific Criteria: ...\nAnalysis: ...\nScores: \\boxed{8, 9}", GRM_PAIR, "scores", [8.0, 9.0]),
    ("grm_boxed", "e.g. \\boxed{x, x}\nScores: \\boxed{10,1}", GRM_PAIR, "scores", [10.0, 1.0]),
    ("grm_boxed", "Scores: \\boxed{ 3, 7 ,6 }", GRM_THREE, "scores", [3.0, 7.0, 6.0]),
    ("grm_boxed", "<think>maybe \\boxed{2}</think>Scores: \\boxed{7}", GRM_ONE, "value", 7.0),
    ("brrm", "[The Begin of Analysis on Response 1]\nok\n[The End of Analysis on Response 1]\n\n"
             "[The Begin of Ranking Score]\n\\boxed{2}\n[The End of Ranking Score]", BRRM, "choice", "2"),
    ("brrm", "<think>first \\boxed{1}</think>[The Begin of Ranking Score]\n \\boxed{ 1 } \n[The End of Ranking Score]", BRRM, "choice", "1"),
    ("rlbff_genrm", "<think>\nIs it correct? No doubt it is. Yes.\n</think>\n\nFinal Judgement: Yes", GENRM, "value", 1.0),
    ("rlbff_genrm", "<think>Yes, probably.</think>\n\nThe response fails. Final Judgement: No", GENRM, "value", 0.0),
    ("rewardanything", RANKING_OK, LIST3, "scores", [2.0, 5.0, 4.0]),
    ("rewardanything", RANKING_OK, LIST3, "ranking", [1, 2, 0]),
    ("rewardanything", '<think>{"scores": {}, "best-to-worst": []}</think>{"scores": {"model-1": 1, "model-2": 3, "model-3": 3},'
                       ' "best-to-worse": ["model-3", "model-2", "model-1"]}', LIST3, "ranking", [2, 1, 0]),
    ("rm_r1", "<type>Chat</type>\n<rubric>...</rubric>\n<eval><quote_A>x</quote_A></eval>\n\n<answer>[[A]]</answer>", RM_R1, "choice", "A"),
    ("rm_r1", "<think>compare</think>\n<answer> [[B]] </answer>", RM_R1, "choice", "B"),
]


@pytest.mark.parametrize(("parser", "reply", "spec", "field", "expected"), READ)
def test_a_well_formed_answer_is_read_exactly(registry, parser, reply, spec, field, expected):
    parsed = read(registry, parser, reply, spec)
    assert parsed.status is Status.ok, parsed.reason
    assert getattr(parsed, field) == expected


REFUSED = [
    # (parser, reply, spec, words of the reason)
    ("prometheus_absolute", "Good answer, score 4.", ABSOLUTE, "no [RESULT]"),
    ("prometheus_absolute", "[RESULT] 4 because it is good", ABSOLUTE, "not a score alone"),
    ("prometheus_absolute", "Feedback. [RESULT] 7", ABSOLUTE, "not one of the scale's points"),
    ("prometheus_absolute", "Feedback. [RESULT] 4.5", ABSOLUTE, "not a score alone"),
    ("prometheus_relative", "Feedback: A wins.", RELATIVE, "no [RESULT]"),
    ("prometheus_relative", "Feedback. [RESULT] Response A", RELATIVE, "not one of"),
    ("prometheus_relative", "Feedback. [RESULT] C", RELATIVE, "not one of"),
    ("grm_boxed", "Scores: 8, 9", GRM_PAIR, "no \\boxed"),
    ("grm_boxed", "Scores: \\boxed{8}", GRM_PAIR, "1 score(s), 2 expected"),
    ("grm_boxed", "Scores: \\boxed{8, 9, 7}", GRM_PAIR, "3 score(s), 2 expected"),
    ("grm_boxed", "Scores: \\boxed{8.5, 9}", GRM_PAIR, "non-integer"),
    ("grm_boxed", "Scores: \\boxed{11, 9}", GRM_PAIR, "outside"),
    ("grm_boxed", "Scores: \\boxed{0}", GRM_ONE, "outside"),
    ("grm_boxed", "<think>still weighing \\boxed{8, 9}", GRM_PAIR, "never closed"),
    ("brrm", "Response 2 is better. \\boxed{2}", BRRM, "no [The Begin of Ranking Score]"),
    ("brrm", "[The Begin of Ranking Score]\n2\n[The End of Ranking Score]", BRRM, "is not"),
    ("brrm", "[The Begin of Ranking Score]\n\\boxed{2}", BRRM, "is not"),
    ("brrm", "[The Begin of Ranking Score]\n\\boxed{3}\n[The End of Ranking Score]", BRRM, "not a response number"),
    ("brrm", "[The Begin of Ranking Score]\n\\boxed{1, 2}\n[The End of Ranking Score]", BRRM, "more than one answer"),
    ("brrm", "[The Begin of Ranking Score]\n\\boxed{1}\n[The End of Ranking Score]\n"
             "[The Begin of Ranking Score]\n\\boxed{2}\n[The End of Ranking Score]", BRRM, "2 ranking score sections"),
    ("brrm", "[The Begin of Ranking Score]\n\\boxed{1}\\boxed{2}\n[The End of Ranking Score]", BRRM, "is not"),
    ("rlbff_genrm", "<think>Is it correct? Yes it", GENRM, "never closed"),
    ("rlbff_genrm", "<think>Yes.</think>\n\nI cannot decide.", GENRM, "no Yes or No"),
    ("rewardanything", "model-2 is best, then model-1.", LIST3, "no JSON object"),
    ("rewardanything", '{"scores": {"model-1": 2, "model-2": 5}, "best-to-worst": ["model-2", "model-1"]}', LIST3, "no score for ['model-3']"),
    ("rewardanything", '{"scores": {"model-1": 2, "model-2": 5, "model-3": 1, "model-4": 3}, "best-to-worst": []}', LIST3, "unknown response name 'model-4'"),
    ("rewardanything", '{"scores": {"model-1": 2, "model-2": 5, "model-3": 6}, "best-to-worst": ["model-2", "model-1", "model-3"]}', LIST3, "outside"),
    ("rewardanything", '{"scores": {"model-1": 2, "model-2": 5, "model-3": "4"}, "best-to-worst": ["model-2", "model-1", "model-3"]}', LIST3, "not a number"),
    ("rewardanything", '{"scores": {"model-1": 2, "model-2": 5, "model-3": 4}, "best-to-worst": ["model-2", "model-2", "model-1"]}', LIST3, "appears twice"),
    ("rewardanything", '{"scores": {"model-1": 2, "model-2": 5, "model-3": 4}, "best-to-worst": ["model-2", "model-1"]}', LIST3, "not a ranking of every response"),
    ("rewardanything", '{"scores": {"model-1": 2, "model-2": 5, "model-3": 4}, "best-to-worst": ["model-2", "model-9", "model-1"]}', LIST3, "unknown response name 'model-9'"),
    ("rewardanything", '{"scores": [2, 5, 4], "best-to-worst": ["model-2", "model-3", "model-1"]}', LIST3, "must be an object"),
    ("rewardanything", '<think>{"scores": {"model-1": 2', LIST3, "never closed"),
    ("rm_r1", "Chatbot A is better.", RM_R1, "no <answer>"),
    ("rm_r1", "<answer>A</answer>", RM_R1, "not one of"),
    ("rm_r1", "<answer>[[A]]</answer> ... on reflection <answer>[[B]]</answer>", RM_R1, "holds [[A]] and [[B]]"),
    ("rm_r1", "<answer>[[C]]</answer>", RM_R1, "not one of"),
]


@pytest.mark.parametrize(("parser", "reply", "spec", "why"), REFUSED)
def test_a_broken_answer_is_unparsed_with_its_reason(registry, parser, reply, spec, why):
    parsed = read(registry, parser, reply, spec)
    assert parsed.status is Status.unparsed
    assert why in (parsed.reason or ""), parsed.reason
    assert parsed.value is None and parsed.choice is None and parsed.scores is None and parsed.ranking is None


def test_first_token_probabilities_are_not_read_as_the_verdict(registry):
    """These formats answer after feedback or reasoning: direct mode's first-token probabilities are ignored."""
    logprobs = {"1": 0.0, "2": -9.0, "3": -9.0, "4": -9.0, "5": -9.0, "A": 0.0, "B": -9.0, "Yes": 0.0, "No": -9.0}
    absolute = ABSOLUTE.model_copy(update={"use_probabilities": True})
    assert read(registry, "prometheus_absolute", "Fine. [RESULT] 4", absolute, logprobs).value == 4.0
    relative = RELATIVE.model_copy(update={"use_probabilities": True})
    assert read(registry, "prometheus_relative", "Feedback. [RESULT] B", relative, logprobs).choice == "B"
    genrm = GENRM.model_copy(update={"use_probabilities": True})
    assert read(registry, "rlbff_genrm", "<think>Yes?</think> Final Judgement: No", genrm, logprobs).value == 0.0
    assert read(registry, "prometheus_absolute", "", absolute, logprobs).status is Status.unparsed


def test_parser_names_do_not_collide_with_the_standard_plugin(registry):
    for name in ("prometheus_absolute", "prometheus_relative", "grm_boxed", "brrm", "rlbff_genrm", "rewardanything", "rm_r1"):
        assert registry.get("parsers", name) is not None
    for pack in ("prometheus", "deepseek-grm", "brrm", "rlbff", "rlbff-genrm", "rewardanything", "rm-r1", "rm-r1-reasoning"):
        for parser in registry.get("format_packs", pack).parsers.values():
            assert registry.get("parsers", parser) is not None, (pack, parser)
