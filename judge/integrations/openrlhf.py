"""OpenRLHF's reward function file (`--reward_func FILE`, or the remote protocol's body) from a
principle reward.

OpenRLHF calls `reward_func(queries, prompts, labels)`: each query is the templated prompt plus
the policy's response, special tokens included (an end-of-turn marker at the end); `prompts` are
the templated prompts; `labels` the data set's label column. It wants `{"rewards", "scores",
"extra_logs"}`, rewards and scores as tensors, one per query. OpenRLHF needs a number for every
query, so a judgment without a value gets `missing_score` (default 0.0), and
`extra_logs["judge_missing"]` is the share of such queries in the batch. Put in a file:

    # judge_reward.py
    from judge.integrations.openrlhf import openrlhf_reward_func
    reward_func = openrlhf_reward_func(["The answer is correct."], backend="vllm", model="/models/judge")

The judge sees the user's request (the last user turn, taken out of the ChatML or Llama 3
template; a prompt in neither is shown as it is) and the response with the template's tokens
removed. Labels, when non-empty, are shown as the reference answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from judge.rewards import PrincipleReward, Reward
from judge.rubric import Rubric

# End-of-turn and end-of-text markers of the common chat templates, stripped from a response's end.
END_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "</s>", "<|end|>", "<end_of_turn>", "<eos>")
_CHATML_USER = re.compile(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", re.S)
_LLAMA3_USER = re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\n\n(.*?)<\|eot_id\|>", re.S)


def split_query(query: str, prompt: str) -> tuple[str, str]:
    """(the user's request, the response) from OpenRLHF's templated prompt and query."""
    response = query[len(prompt):] if query.startswith(prompt) else _after_last_assistant_header(query)
    response = response.strip()
    changed = True
    while changed:  # "...<|im_end|>\n<|endoftext|>": strip every trailing marker
        changed = False
        for marker in END_MARKERS:
            if response.endswith(marker):
                response, changed = response[: -len(marker)].rstrip(), True
    return untemplate(prompt), response


def untemplate(prompt: str) -> str:
    """The last user turn of a ChatML or Llama 3 templated prompt, else the prompt as it is."""
    for pattern in (_CHATML_USER, _LLAMA3_USER):
        turns = pattern.findall(prompt)
        if turns:
            return turns[-1].strip()
    return prompt


def _after_last_assistant_header(query: str) -> str:
    for header in ("<|im_start|>assistant\n", "<|start_header_id|>assistant<|end_header_id|>\n\n"):
        if header in query:
            return query.rsplit(header, 1)[1]
    return query


def openrlhf_inputs(queries: Sequence[str], prompts: Sequence[str],
                    labels: Sequence[Any] | None) -> tuple[list[str], list[str], list[str | None]]:
    """(the users' requests, the responses, the references) of an OpenRLHF batch: each query split
    from its templated prompt, a non-empty string label as the reference answer."""
    pairs = [split_query(q, p) for q, p in zip(queries, prompts)]
    references = [label if isinstance(label, str) and label.strip() else None for label in (labels or [None] * len(pairs))]
    return [request for request, _ in pairs], [response for _, response in pairs], references


def openrlhf_reward_func(
    principles: Sequence[str] | Rubric | str | PrincipleReward, *, missing_score: float = 0.0, **reward_options: Any,
) -> Callable[..., dict[str, Any]]:
    """`reward_func(queries, prompts, labels)` for OpenRLHF; the judge is built at the first call."""
    made: list[PrincipleReward] = []

    def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] | None = None) -> dict[str, Any]:
        if not made:
            made.append(principles if isinstance(principles, PrincipleReward) else PrincipleReward(principles, **reward_options))
        rewards = made[0].score(*openrlhf_inputs(queries, prompts, labels))
        return openrlhf_result(rewards, missing_score)

    return reward_func


def openrlhf_result(rewards: list[Reward], missing_score: float, as_tensors: bool = True) -> dict[str, Any]:
    """OpenRLHF's answer: rewards and scores (tensors where torch is there, as OpenRLHF has it),
    and the share of stand-in scores."""
    values = [missing_score if r.value is None else float(r.value) for r in rewards]
    missing = sum(r.value is None for r in rewards) / len(rewards) if rewards else 0.0
    if as_tensors:
        import torch

        return {"rewards": torch.tensor(values), "scores": torch.tensor(values), "extra_logs": {"judge_missing": torch.tensor(missing)}}
    return {"rewards": values, "scores": values, "extra_logs": {"judge_missing": [missing] * len(values)}}
