"""The standard plugin: the default format pack, the built-in parsers and aggregators.

It registers through the `judge` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from typing import Any, Callable

from judge.formats import FormatPack
from judge.hookspecs import hookimpl
from judge.templates import shipped_prompts_dir
from judge_standard.aggregators import weighted_mean
from judge_standard.generators import GENERATORS
from judge_standard.parsers import parse_choice, parse_listwise, parse_rewardbench, parse_score, parse_yes_no
from judge_standard.strategies import STRATEGIES
from judge_standard.verifiers import VERIFIERS


@hookimpl
def register_format_packs(register: Callable[..., None]) -> None:
    register(
        FormatPack(
            name="default",
            description="plain instructions for any chat model; verdicts read from exact token probabilities",
            template_dirs=(shipped_prompts_dir() / "default", shipped_prompts_dir()),
            templates={
                "pointwise": "pointwise.j2", "pairwise": "pairwise.j2", "principle": "principle.j2", "listwise": "listwise.j2",
                "pointwise:reason": "pointwise_reason.j2", "pairwise:reason": "pairwise_reason.j2",
                "principle:reason": "principle_reason.j2",
                "pointwise:turn1": "pointwise_turn1.j2", "pointwise:turn2": "pointwise_turn2.j2",
                "pairwise:turn1": "pairwise_turn1.j2", "pairwise:turn2": "pairwise_turn2.j2",
                "pointwise:tools": "pointwise_tools.j2", "pairwise:tools": "pairwise_tools.j2", "principle:tools": "principle_tools.j2",
                "pointwise:observation": "tools_observation.j2", "pairwise:observation": "tools_observation.j2",
                "principle:observation": "tools_observation.j2",
            },
            parsers={"pointwise": "score", "pairwise": "choice", "principle": "yes_no", "listwise": "listwise"},
            max_tokens={
                "pointwise": 8, "pairwise": 32, "principle": 1, "listwise": 256,
                "pointwise:reason": 256, "pairwise:reason": 256, "principle:reason": 256,
                "pointwise:turn1": 384, "pointwise:turn2": 384, "pairwise:turn1": 384, "pairwise:turn2": 384,
                "pointwise:tools": 256, "pairwise:tools": 256, "principle:tools": 256,
            },
        )
    )
    register(
        FormatPack(
            name="rewardbench",
            description=(
                "RewardBench's generative-judge prompt, byte for byte (pairwise mode only): 2 responses get "
                "RewardBench 1's MT-Bench pair prompt without the tie option, 4 get RewardBench 2's best-of-4 "
                "prompt; the verdict is the first [[A]]/[[B]](/[[C]]/[[D]]) in the reply, read from the text "
                "(--protocol rewardbench sets --score-from text: the probability of 'A' is not its verdict)"
            ),
            template_dirs=(shipped_prompts_dir() / "rewardbench",),
            templates={"pairwise": "pairwise.j2"},
            parsers={"pairwise": "rewardbench"},
            labels=("A", "B", "C", "D"),
            max_tokens={"pairwise": 2048},
        )
    )


@hookimpl
def register_parsers(register: Callable[..., None]) -> None:
    register("score", parse_score, "an integer on the criterion's scale, or its expectation under the digit probabilities")
    register("choice", parse_choice, "a response label (A/B), from probabilities or from the text")
    register("yes_no", parse_yes_no, "P(Yes) renormalised over Yes/No, or Yes/No read from the text")
    register("listwise", parse_listwise, 'listwise JSON: {"scores": {"1": s, ...}, "ranking": [best, ..., worst]}, responses numbered from 1')
    register("rewardbench", parse_rewardbench, "RewardBench's rule: the first of [[A]], [[B]], ... in the text, in label order")


@hookimpl
def register_aggregators(register: Callable[..., None]) -> None:
    register("weighted_mean", weighted_mean, "weighted mean of criteria scaled to [0, 1], times the probability that every hard rule holds (0 for a failed one read from text)")


@hookimpl
def register_strategies(register: Callable[..., None]) -> None:
    for strategy in STRATEGIES:
        register(strategy)


@hookimpl
def register_verifiers(register: Callable[..., None]) -> None:
    for verifier in VERIFIERS:
        register(verifier)


@hookimpl
def default_backend() -> tuple[str, dict[str, Any]] | None:
    return ("transformers", {})


@hookimpl
def register_rubric_generators(register: Callable[..., None]) -> None:
    for generator in GENERATORS:
        register(generator)
