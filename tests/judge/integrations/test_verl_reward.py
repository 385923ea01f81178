"""The verl adapter, called the way verl calls a custom reward function.

`call_like_naive_reward_manager` reproduces verl's NaiveRewardManager.__call__
(verl/workers/reward_manager/naive.py): per sample, `compute_score(data_source=...,
solution_str=..., ground_truth=..., extra_info=...)`; a dict result's "score" is the reward and its
other keys are collected per key into reward_extra_info (so they must be the same for every
sample). The async form is awaited per sample with asyncio.gather, as verl's async reward loop
does. verl itself is not installed for this (it pins its own torch); its calling convention is what is tested.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from judge.errors import JudgeError
from judge.integrations.verl import verl_compute_score
from judge.rewards import PrincipleReward
from judge_fake.backend import FakeBackend
from support.yes_no import judge_that_sees


def call_like_naive_reward_manager(compute_score, samples):
    rewards, extra = [], defaultdict(list)
    for sample in samples:
        score = compute_score(data_source=sample["data_source"], solution_str=sample["response"],
                              ground_truth=sample["ground_truth"], extra_info=sample["extra_info"])
        if isinstance(score, dict):
            reward = score["score"]
            for key, value in score.items():
                extra[key].append(value)
        else:
            reward = score
        rewards.append(reward)
    return rewards, dict(extra)


answer = judge_that_sees("= 4", 0.9, 0.2)


SAMPLES = [{"data_source": "arith", "response": r, "ground_truth": "4", "extra_info": {"question": "2 + 2?", "index": i}}
           for i, r in enumerate(["2 + 2 = 4", "2 + 2 = 5", "garbled"])]


def test_sync_compute_score_gives_every_sample_a_number_and_flags_the_stand_ins():
    compute_score = verl_compute_score(PrincipleReward(["The answer is correct."], backend=FakeBackend(answer)))
    rewards, extra = call_like_naive_reward_manager(compute_score, SAMPLES)
    assert rewards == pytest.approx([0.9, 0.2, 0.0])
    assert extra["judge_missing"] == [0.0, 0.0, 1.0] and set(extra) == {"score", "judge_missing"}


def test_async_compute_score_runs_samples_side_by_side_through_one_judge():
    backend = FakeBackend(answer)
    compute_score = verl_compute_score(PrincipleReward(["The answer is correct."], backend=backend), asynchronous=True,
                                       missing_score=-1.0)

    async def loop():
        return await asyncio.gather(*(compute_score(s["data_source"], s["response"], s["ground_truth"], s["extra_info"]) for s in SAMPLES))

    results = asyncio.run(loop())
    assert [r["score"] for r in results] == pytest.approx([0.9, 0.2, -1.0]) and results[2]["judge_missing"] == 1.0
    assert any("4" in str(r.messages) and "reference" in str(r.messages).lower() for r in backend.requests)


def test_a_sample_without_its_prompt_is_a_clear_error():
    compute_score = verl_compute_score(PrincipleReward(["x y z"], backend=FakeBackend(answer)), prompt_key="problem")
    with pytest.raises(JudgeError, match=r"no prompt in extra_info\['problem'\] \(its keys: index, question\)"):
        compute_score("d", "r", "4", {"question": "q", "index": 0})


def test_on_the_embedded_model_the_judge_is_built_at_the_first_call(embedded):
    compute_score = verl_compute_score(["The response contains a number."], backend=embedded, prompt_key="question")
    samples = [{"data_source": "d", "response": r, "ground_truth": None, "extra_info": {"question": "How many legs does a spider have?"}}
               for r in ["A spider has 8 legs.", "Spiders have many legs."]]
    rewards, extra = call_like_naive_reward_manager(compute_score, samples)
    assert extra["judge_missing"] == [0.0, 0.0] and rewards[0] > rewards[1] and all(0 < r < 1 for r in rewards)
