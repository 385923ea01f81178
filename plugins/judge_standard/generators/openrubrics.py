"""OpenRubrics' Contrastive Rubric Generation: from a prompt with a preferred and a rejected
response, the rubric items that separate them, as hard rules (checked by a verifier when one
fits) and principles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from judge.generation import Example, GenerationContext, GenerationRejected
from judge.rubric import Rubric
from judge_standard.generators.reading import read_criteria, to_criteria


@dataclass(frozen=True)
class OpenRubrics:
    """A rubric of hard rules (binary) and principles (1-5) for one preference pair's prompt."""

    name: str = "openrubrics"
    description: str = "OpenRubrics (contrastive rubric generation): hard rules and principles that separate a chosen from a rejected response"
    version: str = "2"  # 2: a bare "(N)" at the end of an item is its weight
    needs: tuple[str, ...] = ("chosen", "rejected")
    produces: Literal["rubric", "principles"] = "rubric"

    async def generate(self, example: Example, ctx: GenerationContext) -> Rubric:
        messages = ctx.render("openrubrics.j2", prompt=example.prompt_text, chosen=example.chosen, rejected=example.rejected)
        text = await ctx.ask(messages)
        read = read_criteria(text)
        if not read:
            raise GenerationRejected("no rubric item could be read from the answer (want a numbered list, one a line)")
        criteria = to_criteria(read, prefix="c")
        verified = sum(c.verifier is not None for c in criteria)
        hard = sum(c.kind == "hard_rule" for c in criteria)
        return Rubric(
            name="openrubrics",
            description=(f"contrastive rubric generated for the prompt of example '{example.id}' (OpenRubrics): "
                         f"{hard} hard rule(s), {verified} checked by a verifier, {len(criteria) - hard} principle(s)"),
            criteria=criteria,
        )


OPENRUBRICS = OpenRubrics()
