"""The standard plugin: the default format pack, the built-in parsers and aggregators.

It registers through the `judge` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from typing import Any, Callable

from judge.formats import FormatPack
from judge.hookspecs import hookimpl
from judge.templates import shipped_prompts_dir
from judge_standard.aggregators import weighted_mean
from judge_standard.parsers import parse_choice, parse_score, parse_yes_no


@hookimpl
def register_format_packs(register: Callable[..., None]) -> None:
    register(
        FormatPack(
            name="default",
            description="plain instructions for any chat model; verdicts read from exact token probabilities",
            template_dirs=(shipped_prompts_dir() / "default", shipped_prompts_dir()),
            templates={"pointwise": "pointwise.j2", "pairwise": "pairwise.j2", "principle": "principle.j2"},
            parsers={"pointwise": "score", "pairwise": "choice", "principle": "yes_no"},
        )
    )


@hookimpl
def register_parsers(register: Callable[..., None]) -> None:
    register("score", parse_score, "an integer on the criterion's scale, or its expectation under the digit probabilities")
    register("choice", parse_choice, "a response label (A/B), from probabilities or from the text")
    register("yes_no", parse_yes_no, "P(Yes) renormalised over Yes/No, or Yes/No read from the text")


@hookimpl
def register_aggregators(register: Callable[..., None]) -> None:
    register("weighted_mean", weighted_mean, "weighted mean of criteria scaled to [0, 1], times the probability that every hard rule holds (0 for a failed one read from text)")


@hookimpl
def default_backend() -> tuple[str, dict[str, Any]] | None:
    return ("transformers", {})
