"""The three first-party rubric generators (SPCT, OpenRubrics, RLBFF) against scripted answers:
their real templates are rendered, the answers read into rubrics, garbage rejected and retried."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from judge.generation import Example, GenerationContext, GenerationRejected, RubricGenerator, generate, template_dirs
from judge.models import Message
from judge.rubric import Criterion, Rubric, Scale, parse_rubric
from judge.verifiers import VerifierSpec
from judge_fake.backend import FakeBackend
from judge_standard.generators import GENERATORS, OPENRUBRICS, RLBFF, SPCT

PROMPT = "What is the capital of France? Answer in under 20 words."
PAIR = Example(id="q1", prompt=PROMPT, chosen="Paris is the capital of France.", rejected="I think it is Lyon, a large city in the east.")
FEEDBACK = [
    "The answer is correct and  nicely short. It does not cite any source though.",
    "Good: correct capital. The tone is somewhat curt.",
]
RATED = Example(id="r1", prompt=PROMPT, response="Paris.", feedback=FEEDBACK)
GARBAGE = "I am sorry, but I am a language model and I cannot do that."


def run(generator, example: Example, *answers: str, tries: int = 1):
    backend = FakeBackend(script=list(answers))

    async def call(request):
        return (await backend.complete([request]))[0]

    return asyncio.run(generate(generator, example, call, tries=tries)), backend


def direct(generator, example: Example, answer: str) -> Rubric:
    """One attempt without the core's loop: GenerationRejected comes out as is."""
    backend = FakeBackend(script=[answer])

    async def call(request):
        return (await backend.complete([request]))[0]

    ctx = GenerationContext(call, 0, 0, 512, template_dirs(generator))
    return asyncio.run(generator.generate(example, ctx))


def user_text(backend: FakeBackend) -> str:
    return "\n".join(str(m.content) for m in backend.requests[0].messages)


def test_the_generators_meet_the_contract():
    assert [g.name for g in GENERATORS] == ["spct", "openrubrics", "rlbff"]
    for generator in GENERATORS:
        assert isinstance(generator, RubricGenerator)
        assert generator.version and generator.description
    assert [g.version for g in GENERATORS] == ["2", "2", "1"]  # spct and openrubrics read "(N)" weights since 2
    assert (SPCT.needs, SPCT.produces) == ((), "rubric")
    assert (OPENRUBRICS.needs, OPENRUBRICS.produces) == (("chosen", "rejected"), "rubric")
    assert (RLBFF.needs, RLBFF.produces) == (("response", "feedback"), "principles")


# --- SPCT ---------------------------------------------------------------------------------

SPCT_ANSWER = (
    "Here are the principles:\n"
    "1. **Correctness**: The answer names Paris as the capital. (weight: 50%)\n"
    "2. [hard_rule] The answer is under 20 words. (weight: 30%)\n"
    "3. The answer is a direct statement without hedging.\n"
    "4. The answer is a direct statement without hedging.\n"
)


def test_spct_reads_weighted_principles_from_the_prompt_alone():
    result, backend = run(SPCT, RATED.model_copy(update={"response": None, "feedback": None}), SPCT_ANSWER)
    assert result.rubric is not None and result.attempts == 1 and result.calls == 1
    rubric = result.rubric
    assert rubric.name == "spct" and "generated for the prompt" in rubric.description
    assert [(c.id, c.kind, c.weight) for c in rubric.criteria] == [("c1", "principle", 50.0), ("c2", "hard_rule", 30.0), ("c3", "principle", 40.0)]
    assert rubric.criteria[0] == Criterion(
        id="c1", text="Correctness: The answer names Paris as the capital.", weight=50.0, scale=Scale(),
        high="fully meets: Correctness: The answer names Paris as the capital", low="does not meet",
    )
    assert rubric.criteria[1].scale == "binary" and rubric.criteria[1].verifier == VerifierSpec(name="words", args={"max": 19})
    assert PROMPT in user_text(backend)


def test_spct_weights_default_to_1_and_take_a_chat_prompt():
    chat = [Message(role="system", content="Be brief."), Message(role="user", content="Name three primary colours.")]
    result, backend = run(SPCT, Example(id="c", prompt=chat), "1. The answer lists red, yellow and blue.\n2. The answer names exactly three colours.\n")
    assert [c.weight for c in result.rubric.criteria] == [1.0, 1.0]
    assert "Name three primary colours." in user_text(backend) and "Be brief." not in user_text(backend)


def test_spct_keeps_at_most_five_principles():
    answer = "".join(f"{i}. The answer handles case number {i}.\n" for i in range(1, 9))
    assert len(direct(SPCT, PAIR, answer).criteria) == 5


def test_spct_rejects_garbage():
    with pytest.raises(GenerationRejected, match="no principle"):
        direct(SPCT, PAIR, GARBAGE)


# --- OpenRubrics --------------------------------------------------------------------------

OPENRUBRICS_ANSWER = (
    "Rubric:\n"
    "1. [hard_rule] The answer is under 20 words. (weight: 3)\n"
    "2. [hard_rule] Respond in English. (weight: 1)\n"
    "3. [hard_rule] The answer states the capital correctly. (weight: 4)\n"
    "4. [principle] The answer is confident and does not hedge. (weight: 2)\n"
    "5. [principle] The answer avoids irrelevant details. (weight:"
)


def expected_openrubrics() -> list[Criterion]:
    return [
        Criterion(id="c1", text="The answer is under 20 words.", kind="hard_rule", weight=3.0, scale="binary",
                  high="Yes", low="No", verifier=VerifierSpec(name="words", args={"max": 19})),
        Criterion(id="c2", text="Respond in English.", kind="hard_rule", weight=1.0, scale="binary",
                  high="Yes", low="No", verifier=VerifierSpec(name="language", args={"language": "en"})),
        Criterion(id="c3", text="The answer states the capital correctly.", kind="hard_rule", weight=4.0, scale="binary",
                  high="Yes", low="No"),
        Criterion(id="c4", text="The answer is confident and does not hedge.", kind="principle", weight=2.0, scale=Scale(),
                  high="fully meets: The answer is confident and does not hedge", low="does not meet"),
    ]


def test_openrubrics_reads_hard_rules_with_verifiers_and_principles():
    result, backend = run(OPENRUBRICS, PAIR, OPENRUBRICS_ANSWER)
    rubric = result.rubric
    assert rubric is not None and rubric.name == "openrubrics"
    assert rubric.criteria == expected_openrubrics()  # the line cut at max_tokens is not kept
    text = user_text(backend)
    assert PROMPT in text and PAIR.chosen in text and PAIR.rejected in text
    assert text.index(PAIR.chosen) < text.index(PAIR.rejected)


def test_openrubrics_round_trips_through_yaml():
    rubric = direct(OPENRUBRICS, PAIR, OPENRUBRICS_ANSWER.replace("Respond in English.", "Respond in valid JSON."))
    text = yaml.safe_dump(rubric.model_dump(mode="json", exclude_none=True, by_alias=True))
    assert parse_rubric(text, "x.yaml").model_copy(update={"source": None}) == rubric
    assert rubric.criteria[1].verifier == VerifierSpec(name="json")


def test_openrubrics_rejects_garbage():
    with pytest.raises(GenerationRejected, match="no rubric item"):
        direct(OPENRUBRICS, PAIR, GARBAGE)


# --- RLBFF --------------------------------------------------------------------------------

RLBFF_ANSWER = (
    "Principles:\n"
    '- The answer is correct | evidence: "The answer is correct"\n'
    '- The answer is short | evidence: "correct and nicely short."\n'
    '- The answer cites a source for the claim | evidence: "does not cite any source"\n'
    '- The answer is partially polite | evidence: "correct capital"\n'
    '- The tone is warm | evidence: "The tone is somewhat curt"\n'
    '- The answer is accurate | evidence: "the answer is very accurate"\n'
    '- The answer cites a source for its claim | evidence: "It does not cite any source"\n'  # a near-duplicate
)


def test_rlbff_keeps_principles_with_verbatim_evidence():
    result, backend = run(RLBFF, RATED, RLBFF_ANSWER)
    rubric = result.rubric
    assert rubric is not None and rubric.name == "rlbff"
    assert [(c.id, c.text, c.evidence) for c in rubric.criteria] == [
        ("p1", "The answer is correct", "The answer is correct"),
        ("p2", "The answer is short", "correct and nicely short."),  # the feedback's double space collapsed
        ("p3", "The answer cites a source for the claim", "does not cite any source"),
    ]
    for criterion in rubric.criteria:
        assert (criterion.kind, criterion.scale, criterion.high, criterion.low, criterion.weight) == ("principle", "binary", "Yes", "No", 1.0)
    assert rubric.description.splitlines()[1] == (
        "dropped 4: partially (2), evidence not in the feedback (1), near-duplicate (1)"
    )
    text = user_text(backend)
    assert PROMPT in text and "Paris." in text and all(" ".join(f.split()) in " ".join(text.split()) for f in FEEDBACK)


def test_rlbff_accepts_evidence_in_another_case_and_reports_the_feedbacks_own():
    rubric = direct(RLBFF, RATED, '- Names the right capital | evidence: "GOOD: CORRECT CAPITAL"\n')
    assert rubric.criteria[0].evidence == "Good: correct capital" and "\n" not in rubric.description


def test_rlbff_all_dropped_is_rejected_with_the_counts():
    answer = '- The answer is warm | evidence: "very warm answer"\n- It is somewhat curt | evidence: "The tone is somewhat curt"\n- Cites sources\n'
    with pytest.raises(GenerationRejected, match=r"no principle kept of 3 read; dropped 3: evidence not in the feedback \(1\), partially \(1\), no evidence quoted \(1\)"):
        direct(RLBFF, RATED, answer)


def test_rlbff_rejects_garbage():
    with pytest.raises(GenerationRejected, match="no principle could be read"):
        direct(RLBFF, RATED, GARBAGE)


# --- the core's loop: a garbage first answer, then a good one -------------------------------

@pytest.mark.parametrize(("generator", "example", "good"), [
    (SPCT, PAIR, SPCT_ANSWER), (OPENRUBRICS, PAIR, OPENRUBRICS_ANSWER), (RLBFF, RATED, RLBFF_ANSWER),
], ids=["spct", "openrubrics", "rlbff"])
def test_a_garbage_answer_is_retried_with_sampling(generator, example, good):
    result, backend = run(generator, example, GARBAGE, good, tries=2)
    assert result.rubric is not None and (result.attempts, result.calls) == (2, 2)
    assert result.texts == [GARBAGE, good] and len(result.problems) == 1
    first, second = (r.sampling for r in backend.requests)
    assert first.temperature == 0.0 and first.seed is None
    assert second.temperature == 0.7 and second.seed is not None


def test_garbage_twice_leaves_no_rubric_and_says_why():
    result, _ = run(OPENRUBRICS, PAIR, GARBAGE, tries=2)
    assert result.rubric is None and result.attempts == 2 and "no rubric item" in result.reason
