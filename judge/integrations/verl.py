"""verl's custom reward function from a principle reward.

verl loads `reward.custom_reward_function.path` and calls its `.name` (default `compute_score`)
as `compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)`, sync or async,
once per sample; the result is a float, or a dict with "score" whose other keys are the same for
every sample. verl needs a number for every sample, so a judgment without a value (unparsed,
error) scores `missing_score` (default 0.0) and says so in the `judge_missing` key (1.0), which
verl logs with the others: filter or down-weight those samples there. Put in a file:

    # judge_reward.py
    from judge.integrations.verl import verl_compute_score
    compute_score = verl_compute_score(["The answer is correct and complete."], backend="vllm", model="/models/judge")

The prompt is read from `extra_info[prompt_key]` (verl's example data sets put the question
there); the ground truth is passed to the judge as the reference answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from judge.errors import JudgeError
from judge.rewards import PrincipleReward, Reward
from judge.rubric import Rubric


def verl_compute_score(
    principles: Sequence[str] | Rubric | str | PrincipleReward, *, prompt_key: str = "question",
    missing_score: float = 0.0, asynchronous: bool = False, **reward_options: Any,
) -> Callable[..., Any]:
    """A `compute_score` for verl (an `async def` one with `asynchronous=True`, for verl's reward
    loop, which then runs many samples at once through the one judge). The judge is built on the
    first call, in the worker that calls it, not when the file is imported."""
    made: list[PrincipleReward] = []

    def reward() -> PrincipleReward:
        if not made:
            made.append(principles if isinstance(principles, PrincipleReward) else PrincipleReward(principles, **reward_options))
        return made[0]

    def arguments(solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None) -> tuple[list[Any], ...]:
        prompt = (extra_info or {}).get(prompt_key)
        if not isinstance(prompt, (str, list)) or not prompt:
            given = ", ".join(sorted(extra_info or {})) or "none"
            raise JudgeError(f"verl sample has no prompt in extra_info['{prompt_key}'] (its keys: {given}); "
                             "put the question there in the data set, or pass prompt_key=")
        reference = ground_truth if isinstance(ground_truth, str) and ground_truth else None
        return [prompt], [solution_str], [reference]

    if asynchronous:
        async def compute_score_async(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None = None,
                                      **kwargs: Any) -> dict[str, float]:
            [result] = await reward().ascore(*arguments(solution_str, ground_truth, extra_info))
            return _scored(result, missing_score)

        return compute_score_async

    def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None = None,
                      **kwargs: Any) -> dict[str, float]:
        [result] = reward().score(*arguments(solution_str, ground_truth, extra_info))
        return _scored(result, missing_score)

    return compute_score


def _scored(result: Reward, missing_score: float) -> dict[str, float]:
    """verl's dict: the same keys for every sample, the flag saying when the score is a stand-in."""
    missing = result.value is None
    return {"score": missing_score if missing else float(result.value),  # type: ignore[arg-type]
            "judge_missing": 1.0 if missing else 0.0}
