"""Format packs: how a particular judge model wants to be prompted, and how its answers are read."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class FormatPack(BaseModel):
    """Everything model-specific about judging, in one plugin-registered value.

    `templates` maps a step to a template file in `template_dirs`; `parsers` maps the same steps
    to registered parser names. A step is a mode (`pointwise`, `pairwise`, `principle`,
    `listwise`), or `MODE:PART` for a part a strategy asks for (`pairwise:reason`,
    `pairwise:turn1`, `pairwise:turn2`); a part without its own parser uses the mode's. The
    candidate tokens are the exact strings whose next-token probabilities decide a verdict.

    The reason-then-verdict strategy lets the judge write (at most `max_tokens["MODE:reason"]`
    tokens, cut at `verdict_marker`), then appends the marker and reads each candidate's
    probability as `answer_prefix + candidate` at the next position.
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
    verdict_marker: str = "Verdict:"
    answer_prefix: str = " "
    scale: tuple[int, int] | None = None  # the format's own per-response scale (DeepSeek-GRM 1-10, RewardAnything 1-5)
    source: str = ""  # where the published prompt comes from (model card, repository and commit)

    def step(self, mode: str, part: str | None = None) -> str:
        return mode if part is None else f"{mode}:{part}"

    def has(self, mode: str, part: str | None = None) -> bool:
        return self.step(mode, part) in self.templates

    def parser_name(self, mode: str, part: str | None = None) -> str | None:
        return self.parsers.get(self.step(mode, part)) or self.parsers.get(mode)
