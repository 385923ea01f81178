"""Rewards for RL: the RLBFF binary-principle reward, one number (or an honest None) per response.

    from judge.rewards import PrincipleReward
    reward = PrincipleReward(["The response answers in French."])
    reward.score(prompts=["Say hello."], responses=["Bonjour !"])   # -> [Reward(value=0.93, ...)]

Each principle is a Yes/No question asked after the model's chat template; its value is P(Yes)
read exactly from the next-token distribution (principle mode), or logit(Yes) - logit(No) as
RLBFF's scalar reward model reports it. Several principles combine by weighted mean, min (all
must hold) or product. A judgment that is unparsed or an error is a Reward with `value=None` and
its status: it is never turned into a number here; a trainer adapter that must have a number
says what it substitutes and flags it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from judge.engine import Judge
from judge.errors import JudgeError
from judge.models import Content, Item, Judgment, Message, Status
from judge.rubric import Rubric, load_rubric

Combine = Literal["mean", "min", "product"]
Scale = Literal["probability", "logit"]
LOGIT_CLAMP = 1e-6  # P(Yes) of exactly 0 or 1 would be an infinite logit


class Reward(BaseModel):
    """One response's reward: the combined value, each principle's value, and the status."""

    model_config = ConfigDict(frozen=True)

    value: float | None
    status: Status
    principles: dict[str, float | None]
    error: str | None = None
    id: str = ""


class PrincipleReward:
    """A reward function over (prompt, response) pairs from binary principles (or a rubric whose
    criteria are asked as Yes/No questions). Holds one Judge, so one loaded model serves every call."""

    def __init__(
        self,
        principles: Sequence[str] | Rubric | str,
        *,
        combine: Combine = "mean",
        scale: Scale = "probability",
        judge: Judge | None = None,
        **judge_options: Any,
    ) -> None:
        if combine not in ("mean", "min", "product"):
            raise JudgeError(f"combine must be mean, min or product, not '{combine}'")
        if scale not in ("probability", "logit"):
            raise JudgeError(f"scale must be probability or logit, not '{scale}'")
        if scale == "logit" and combine == "product":
            raise JudgeError("a product of logits means nothing: combine logits by mean or min, or use scale='probability'")
        self.rubric = _rubric(principles)
        self.combine = combine
        self.scale = scale
        self.judge = judge or Judge(self.rubric, mode="principle", **judge_options)
        if self.judge.options.mode != "principle":
            raise JudgeError(f"a principle reward judges in principle mode, not {self.judge.options.mode}")
        self._weights = {c.id: c.weight for c in self.judge.rubric.criteria}

    def items(
        self, prompts: Sequence[str | list[Message]], responses: Sequence[Content],
        references: Sequence[Content | None] | None = None, ids: Sequence[str] | None = None,
    ) -> list[Item]:
        if len(prompts) != len(responses):
            raise JudgeError(f"{len(prompts)} prompts but {len(responses)} responses: give one response per prompt")
        if references is not None and len(references) != len(prompts):
            raise JudgeError(f"{len(references)} references for {len(prompts)} prompts")
        return [
            Item(id=ids[i] if ids is not None else str(i), prompt=prompt, responses=[response],
                 reference=references[i] if references is not None else None)
            for i, (prompt, response) in enumerate(zip(prompts, responses))
        ]

    async def ascore(
        self, prompts: Sequence[str | list[Message]], responses: Sequence[Content],
        references: Sequence[Content | None] | None = None,
    ) -> list[Reward]:
        """One Reward per response, in order; concurrent callers share the judge's batches."""
        judgments = await self.judge.ascore(self.items(prompts, responses, references))
        return [self.reward(j) for j in judgments]

    def score(
        self, prompts: Sequence[str | list[Message]], responses: Sequence[Content],
        references: Sequence[Content | None] | None = None,
    ) -> list[Reward]:
        """Blocking `ascore`."""
        judgments = self.judge.score(self.items(prompts, responses, references))
        return [self.reward(j) for j in judgments]

    def reward(self, judgment: Judgment) -> Reward:
        """A judgment's reward: None (with the status) unless every principle has a value."""
        values = {v.criterion: (None if v.score is None else self._scaled(v.score)) for v in judgment.verdicts}
        if judgment.status is not Status.ok or not values or any(v is None for v in values.values()):
            status = judgment.status if judgment.status is not Status.ok else Status.unparsed
            return Reward(value=None, status=status, principles=values, error=judgment.error, id=judgment.id)
        return Reward(value=self._combined(values), status=Status.ok, principles=values, id=judgment.id)  # type: ignore[arg-type]

    def _scaled(self, p_yes: float) -> float:
        if self.scale == "probability":
            return p_yes
        p = min(max(p_yes, LOGIT_CLAMP), 1 - LOGIT_CLAMP)
        return math.log(p) - math.log(1 - p)

    def _combined(self, values: dict[str, float]) -> float:
        if self.combine == "min":
            return min(values.values())
        if self.combine == "product":
            return math.prod(values.values())
        total = sum(self._weights.get(k, 1.0) for k in values)
        return sum(self._weights.get(k, 1.0) * v for k, v in values.items()) / total


def _rubric(principles: Sequence[str] | Rubric | str) -> Rubric:
    """Principles as sentences, a Rubric, or a rubric's name or file."""
    if isinstance(principles, Rubric):
        return principles
    if isinstance(principles, str):
        return load_rubric(principles)
    return Rubric.from_principles(list(principles))
