"""Format packs: how a particular judge model wants to be prompted, and how its answers are read."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class FormatPack(BaseModel):
    """Everything model-specific about judging, in one plugin-registered value.

    `templates` maps a step (`pointwise`, `pairwise`, `principle`) to a template file in
    `template_dirs`; `parsers` maps the same steps to registered parser names. The candidate
    tokens are the exact strings whose next-token probabilities decide a verdict.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    template_dirs: tuple[Path, ...]
    templates: dict[str, str]
    parsers: dict[str, str]
    yes: str = "Yes"
    no: str = "No"
    labels: tuple[str, ...] = ("A", "B")
    max_tokens: dict[str, int] = Field(default_factory=lambda: {"pointwise": 8, "pairwise": 32, "principle": 1})
