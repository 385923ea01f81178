"""The principle reward API on the in-process fake backend (named as such): P(Yes) per principle,
combinations, the logit scale, and statuses that are never numbers."""

from __future__ import annotations

import asyncio
import math

import pytest

from judge.backend import Completion, Request
from judge.errors import JudgeError
from judge.models import Status, Usage
from judge.rewards import PrincipleReward
from judge.rubric import Criterion, Rubric
from judge_fake.backend import FakeBackend
from support.yes_no import p_yes, unreadable

P_YES = {"French": 0.9, "polite": 0.2}


def answer(request: Request) -> Completion:
    """P(Yes) by which principle is asked (its text is in the last message); 'BROKEN' gives no probabilities."""
    asked = str(request.messages[-1].content) + str(request.messages)
    if "BROKEN" in asked:
        return unreadable()
    return p_yes(next(v for k, v in P_YES.items() if k in asked))


PRINCIPLES = ["The response is in French.", "The response is polite."]


def reward(**options) -> PrincipleReward:
    return PrincipleReward(PRINCIPLES, backend=FakeBackend(answer), **options)


def test_each_principle_is_p_yes_and_they_combine_by_mean_min_or_product():
    prompts, responses = ["Say hello."] * 2, ["Bonjour.", "Hello."]
    [mean, _] = reward().score(prompts, responses)
    assert mean.status is Status.ok and mean.principles == pytest.approx({"p1": 0.9, "p2": 0.2})
    assert mean.value == pytest.approx(0.55) and mean.id == "0"
    assert reward(combine="min").score(prompts, responses)[0].value == pytest.approx(0.2)
    assert reward(combine="product").score(prompts, responses)[0].value == pytest.approx(0.18)


def test_the_logit_scale_is_rlbffs_logit_yes_minus_logit_no():
    [r] = reward(scale="logit").score(["Say hello."], ["Bonjour."])
    assert r.principles["p1"] == pytest.approx(math.log(0.9 / 0.1)) and r.principles["p2"] == pytest.approx(math.log(0.2 / 0.8))
    with pytest.raises(JudgeError, match="product of logits"):
        reward(scale="logit", combine="product")


def test_weights_of_a_rubric_weigh_the_mean():
    rubric = Rubric(name="w", criteria=[
        Criterion(id="fr", text="The response is in French.", scale="binary", high="Yes", low="No", weight=3),
        Criterion(id="po", text="The response is polite.", scale="binary", high="Yes", low="No", weight=1)])
    [r] = PrincipleReward(rubric, backend=FakeBackend(answer)).score(["Say hello."], ["Bonjour."])
    assert r.value == pytest.approx((3 * 0.9 + 0.2) / 4)


def test_an_unreadable_verdict_is_a_status_with_no_number():
    [r] = PrincipleReward(["BROKEN principle."], backend=FakeBackend(answer)).score(["q"], ["a"])
    assert r.value is None and r.status is Status.unparsed


def test_an_empty_prompt_is_an_error_reward_not_a_crash_of_the_batch():
    ok, bad = reward().score(["Say hello.", "  "], ["Bonjour.", "x"])
    assert ok.status is Status.ok and bad.value is None and bad.status is Status.error and "prompt is empty" in bad.error


def test_concurrent_callers_share_one_judge_and_each_gets_its_own_rewards():
    shared = reward()

    async def many():
        return await asyncio.gather(*(shared.ascore([f"Q{i}"], ["Bonjour."]) for i in range(20)))

    results = asyncio.run(many())
    assert all(len(r) == 1 and r[0].value == pytest.approx(0.55) for r in results)


def test_mismatched_lengths_and_modes_are_refused():
    with pytest.raises(JudgeError, match="2 prompts but 1 responses"):
        reward().score(["a", "b"], ["x"])
    from judge.engine import Judge
    from judge.rubric import load_rubric

    with pytest.raises(JudgeError, match="principle mode, not pointwise"):
        PrincipleReward(PRINCIPLES, judge=Judge(load_rubric("helpfulness"), backend=FakeBackend(answer)))


def test_a_reasoning_judge_writes_its_analysis_first_and_the_reward_is_p_yes_after_it():
    def reasoning(request: Request) -> Completion:
        if not request.candidates:  # the analysis step
            return Completion(texts=["The reply is in French: 'Bonjour'."], usage=Usage(requests=1))
        assert "Bonjour'." in str(request.messages[-1].content)  # the verdict continues the judge's own analysis
        yes, no = request.candidates  # as the pack spells them after its marker
        return Completion(texts=["Yes"], candidate_logprobs={yes: math.log(0.7), no: math.log(0.3)}, usage=Usage(requests=1))

    backend = FakeBackend(reasoning)
    [r] = PrincipleReward(["The response is in French."], backend=backend, strategy="reason").score(["Say hello."], ["Bonjour."])
    assert r.status is Status.ok and r.value == pytest.approx(0.7) and len(backend.requests) == 2
