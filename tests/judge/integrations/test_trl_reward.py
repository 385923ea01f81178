"""The TRL adapter, called exactly the way TRL's GRPOTrainer calls reward functions.

`call_like_grpo_trainer` below reproduces `GRPOTrainer._calculate_rewards` of TRL 1.x
(trl/trainer/grpo_trainer.py): every dataset column but prompt/completion/completion_ids becomes
a keyword list, plus `trainer_state`, `log_extra` and `log_metric`; a function for which
`inspect.iscoroutinefunction` is true is gathered with `asyncio.gather` on the trainer's own
event loop in another thread (`asyncio.run_coroutine_threadsafe(..., self.async_loop)`), the others
are called in turn; a None reward becomes NaN. TRL itself is not installed for this (it pulls
datasets, pandas and pyarrow); its calling convention is what is tested.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import threading
from collections import defaultdict

import pytest

from judge.integrations.trl import async_trl_reward, trl_reward
from judge.rewards import PrincipleReward
from judge_fake.backend import FakeBackend
from support.yes_no import judge_that_sees


class FakeTrainer:
    """What of GRPOTrainer the reward call touches: state, metric and extra-column logs, an async loop."""

    def __init__(self) -> None:
        self.state = object()
        self.metrics: dict[str, list[float]] = defaultdict(list)
        self.extra: dict[str, list] = defaultdict(list)
        self.async_loop = asyncio.new_event_loop()
        threading.Thread(target=self.async_loop.run_forever, daemon=True).start()

    def _log_completion_extra(self, column: str, values: list) -> None:
        self.extra[column].extend(values)

    def _log_metric(self, name: str, value: float) -> None:
        self.metrics[name].append(value)


def call_like_grpo_trainer(trainer: FakeTrainer, reward_funcs, inputs, prompts, completions) -> list[list[float]]:
    keys = [key for key in inputs[0] if key not in ["prompt", "completion", "completion_ids"]]
    reward_kwargs = {key: [example[key] for example in inputs] for key in keys}
    reward_kwargs["trainer_state"] = trainer.state
    reward_kwargs["log_extra"] = trainer._log_completion_extra
    reward_kwargs["log_metric"] = trainer._log_metric
    completion_ids = [[1, 2, 3] for _ in completions]
    columns: dict[int, list[float]] = {}
    asynchronous = []
    for i, func in enumerate(reward_funcs):
        if inspect.iscoroutinefunction(func):
            asynchronous.append((i, func))
        else:
            output = func(prompts=prompts, completions=completions, completion_ids=completion_ids, **reward_kwargs)
            columns[i] = [r if r is not None else math.nan for r in output]
    if asynchronous:
        async def invoke(i, func):
            output = await func(prompts=prompts, completions=completions, completion_ids=completion_ids, **reward_kwargs)
            return i, [r if r is not None else math.nan for r in output]

        async def run_all():
            return await asyncio.gather(*(invoke(i, f) for i, f in asynchronous))

        for i, output in asyncio.run_coroutine_threadsafe(run_all(), trainer.async_loop).result():
            columns[i] = output
    return [columns[i] for i in range(len(reward_funcs))]


answer = judge_that_sees("Paris", 0.8, 0.3)  # the response names the city, or not; "garbled" is unreadable


PRINCIPLE = ["The response names the right city."]


def test_standard_rows_sync_and_async_with_extra_columns_and_logged_unparsed_share():
    backend = FakeBackend(answer)
    reward = PrincipleReward(PRINCIPLE, backend=backend)
    funcs = [trl_reward(reward, name="city"), async_trl_reward(reward, name="city_async", reference_column="solution")]
    assert inspect.iscoroutinefunction(funcs[1]) and not inspect.iscoroutinefunction(funcs[0])
    assert [f.__name__ for f in funcs] == ["city", "city_async"]
    prompts = ["Capital of France?"] * 3
    completions = ["Paris.", "Lyon.", "garbled"]
    inputs = [{"prompt": p, "completion": c, "solution": "the city on the Seine", "task": "geo"} for p, c in zip(prompts, completions)]
    trainer = FakeTrainer()
    sync, asynchronous = call_like_grpo_trainer(trainer, funcs, inputs, prompts, completions)
    assert sync[:2] == pytest.approx([0.8, 0.3]) and math.isnan(sync[2])  # unparsed: TRL's None, never a number
    assert asynchronous[:2] == pytest.approx([0.8, 0.3]) and math.isnan(asynchronous[2])
    assert trainer.metrics["city/unparsed_share"] == [pytest.approx(1 / 3)]
    assert trainer.extra["city_status"] == ["ok", "ok", "unparsed"]
    assert sum("the city on the Seine" in str(r.messages) for r in backend.requests) == 4  # the async rows, the garbled one retried once


def test_conversational_rows_judge_the_assistant_message_after_the_chat_prompt():
    backend = FakeBackend(answer)
    reward = PrincipleReward(PRINCIPLE, backend=backend)
    prompts = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]] * 2
    completions = [[{"role": "assistant", "content": "Paris."}], [{"role": "assistant", "content": "Rome."}]]
    inputs = [{"prompt": p, "completion": c} for p, c in zip(prompts, completions)]
    [values] = call_like_grpo_trainer(FakeTrainer(), [trl_reward(reward)], inputs, prompts, completions)
    assert values == pytest.approx([0.8, 0.3])
    shown = [str(r.messages) for r in backend.requests]
    assert any("Capital of France?" in s and "Paris." in s for s in shown)


def test_a_missing_reference_column_is_named():
    reward = trl_reward(PrincipleReward(PRINCIPLE, backend=FakeBackend(answer)), reference_column="answer")
    with pytest.raises(KeyError, match="reference column 'answer' is not among the dataset's columns \\(task\\)"):
        reward(prompts=["q"], completions=["a"], task=["t"])


def test_on_the_embedded_model_through_the_trainers_calling_code(embedded):
    reward = PrincipleReward(["The response contains a number."], backend=embedded)
    prompts = ["How many legs does a spider have?"] * 2
    completions = ["A spider has 8 legs.", "Spiders have many legs."]
    inputs = [{"prompt": p, "completion": c} for p, c in zip(prompts, completions)]
    sync, asynchronous = call_like_grpo_trainer(FakeTrainer(), [trl_reward(reward), async_trl_reward(reward)], inputs, prompts, completions)
    assert all(0.0 < v < 1.0 for v in sync) and sync == pytest.approx(asynchronous)
    assert sync[0] > sync[1]  # the pinned "number" case of examples/principle_rewards.jsonl
