"""TRL reward functions (`GRPOTrainer(reward_funcs=...)`, `RLOOTrainer`) from a principle reward.

    from judge.integrations.trl import trl_reward
    from judge.rewards import PrincipleReward
    trainer = GRPOTrainer(model=..., reward_funcs=[trl_reward(PrincipleReward(["The answer is correct."]))], ...)

TRL calls a reward function with keywords: `prompts`, `completions`, `completion_ids`,
`trainer_state`, `log_extra`, `log_metric` and every other dataset column as a list, one entry
per completion; prompts and completions are strings (standard datasets) or message lists
(conversational: each completion is `[{"role": "assistant", "content": ...}]`). It wants one value
per completion, and `None` means "no reward from this function for this row" (TRL skips it, as
NaN): exactly what an unparsed or failed judgment is, so nothing is invented. An `async def`
function (`async_trl_reward`) is gathered concurrently with the trainer's other async rewards.
TRL itself is not imported: these are plain functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from judge.models import Message
from judge.rewards import PrincipleReward, Reward


def trl_reward(reward: PrincipleReward, *, name: str = "judge", reference_column: str | None = None) -> Callable[..., list[float | None]]:
    """A synchronous TRL reward function named `name` (TRL logs it as rewards/NAME)."""

    def judge_reward(prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, trainer_state: Any = None,
                     log_extra: Callable[..., None] | None = None, log_metric: Callable[..., None] | None = None,
                     **columns: Any) -> list[float | None]:
        rewards = reward.score(*_arguments(prompts, completions, columns, reference_column))
        return _report(rewards, name, log_extra, log_metric)

    judge_reward.__name__ = judge_reward.__qualname__ = name
    return judge_reward


def async_trl_reward(reward: PrincipleReward, *, name: str = "judge", reference_column: str | None = None) -> Callable[..., Any]:
    """An `async def` TRL reward function: TRL gathers it with its other async rewards."""

    async def judge_reward(prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, trainer_state: Any = None,
                           log_extra: Callable[..., None] | None = None, log_metric: Callable[..., None] | None = None,
                           **columns: Any) -> list[float | None]:
        rewards = await reward.ascore(*_arguments(prompts, completions, columns, reference_column))
        return _report(rewards, name, log_extra, log_metric)

    judge_reward.__name__ = judge_reward.__qualname__ = name
    return judge_reward


def _arguments(prompts: Sequence[Any], completions: Sequence[Any], columns: dict[str, Any],
               reference_column: str | None) -> tuple[list[Any], list[Any], list[Any] | None]:
    """(prompts, responses, references) for the reward API, from TRL's standard or conversational rows."""
    references = None
    if reference_column is not None:
        if reference_column not in columns:
            raise KeyError(f"reference column '{reference_column}' is not among the dataset's columns "
                           f"({', '.join(sorted(columns)) or 'none'})")
        references = list(columns[reference_column])
    return [_prompt(p) for p in prompts], [_completion(c) for c in completions], references


def _prompt(prompt: Any) -> str | list[Message]:
    if isinstance(prompt, str):
        return prompt
    return [Message(role=m["role"], content=m["content"]) for m in prompt]


def _completion(completion: Any) -> Any:
    """A conversational completion's assistant text (its messages' contents joined), or the string."""
    if isinstance(completion, str):
        return completion
    contents = [m["content"] for m in completion if m.get("role", "assistant") == "assistant"]
    if len(contents) == 1:
        return contents[0]
    return "\n\n".join(c if isinstance(c, str) else str(c) for c in contents)


def _report(rewards: list[Reward], name: str, log_extra: Callable[..., None] | None,
            log_metric: Callable[..., None] | None) -> list[float | None]:
    """The values for TRL; the share of judgments without a value goes to its metrics, each
    row's status to its completions table."""
    if log_metric is not None and rewards:
        missing = sum(r.value is None for r in rewards)
        log_metric(f"{name}/unparsed_share", missing / len(rewards))
    if log_extra is not None:
        log_extra(f"{name}_status", [r.status.value for r in rewards])
    return [r.value for r in rewards]
