"""SPCT (DeepSeek-GRM's Self-Principled Critique Tuning), its principle-generation step: from the
prompt alone, the judge writes the weighted principles it will then score answers by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from judge.generation import Example, GenerationContext, GenerationRejected
from judge.rubric import Rubric
from judge_standard.generators.reading import read_criteria, to_criteria

MAX_PRINCIPLES = 5  # the prompt asks for 2 to 5; more is the model running on


@dataclass(frozen=True)
class Spct:
    """Principles for one prompt (needs no responses): a rubric of 1-5 criteria with weights."""

    name: str = "spct"
    description: str = "SPCT (DeepSeek-GRM): the judge writes 2-5 weighted principles for the prompt alone"
    version: str = "2"  # 2: a bare "(N)" at the end of an item is its weight
    needs: tuple[str, ...] = ()
    produces: Literal["rubric", "principles"] = "rubric"

    async def generate(self, example: Example, ctx: GenerationContext) -> Rubric:
        messages = ctx.render("spct.j2", prompt=example.prompt_text)
        text = await ctx.ask(messages)
        read = read_criteria(text, max_items=MAX_PRINCIPLES)
        if not read:
            raise GenerationRejected("no principle could be read from the answer (want a numbered list, one a line)")
        return Rubric(
            name="spct",
            description=f"principles generated for the prompt of example '{example.id}' (SPCT)",
            criteria=to_criteria(read, prefix="c"),
        )


SPCT = Spct()
