"""RLBFF principle extraction: free-text feedback on a response -> binary principles, each backed
by a verbatim quote of the feedback. A principle the feedback does not literally support is the
model's invention and is dropped; so is a "partially" statement (RLBFF keeps only clear-cut ones)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from judge.generation import Example, GenerationContext, GenerationRejected
from judge.rubric import Criterion, Rubric
from judge.rubric_merge import near_duplicates
from judge_standard.generators.reading import read_principles

MIN_EVIDENCE = 8  # characters: "good" alone is found in any feedback and proves nothing
_HEDGE = re.compile(r"\b(?:partially|partly|somewhat)\b", re.IGNORECASE)


def find_quote(evidence: str, feedback: list[str]) -> str | None:
    """The evidence as it appears in the feedback (whitespace collapsed), exact case first, then
    any case; None when no feedback contains it."""
    wanted = " ".join(evidence.split())
    texts = [" ".join(text.split()) for text in feedback]
    for text in texts:
        if wanted in text:
            return wanted
    for text in texts:
        at = text.lower().find(wanted.lower())
        if at >= 0:
            return text[at: at + len(wanted)]
    return None


def _trimmed(evidence: str) -> str:
    """A quote's trailing full stop or comma may differ from the feedback's."""
    return evidence.strip().rstrip(".,;:!").strip()


@dataclass(frozen=True)
class Rlbff:
    """Binary principles (Yes/No) from people's feedback on one response, with their evidence."""

    name: str = "rlbff"
    description: str = "RLBFF: binary principles extracted from free-text feedback, each with a verbatim quote as evidence"
    version: str = "1"
    needs: tuple[str, ...] = ("response", "feedback")
    produces: Literal["rubric", "principles"] = "principles"

    async def generate(self, example: Example, ctx: GenerationContext) -> Rubric:
        feedback = list(example.feedback or [])
        messages = ctx.render("rlbff.j2", prompt=example.prompt_text, response=example.response, feedback=feedback)
        text = await ctx.ask(messages)
        pairs = read_principles(text)
        if not pairs:
            raise GenerationRejected("no principle could be read from the answer (want '- principle | evidence: \"quote\"' lines)")
        kept: list[tuple[str, str]] = []
        dropped: Counter[str] = Counter()
        for principle, evidence in pairs:
            reason, quote = self._check(principle, evidence, feedback)
            if reason is None and any(near_duplicates(principle, other) for other, _ in kept):
                reason = "near-duplicate"
            if reason is not None:
                dropped[reason] += 1
                continue
            assert quote is not None
            kept.append((principle, quote))
        summary = f"dropped {sum(dropped.values())}: " + ", ".join(f"{why} ({n})" for why, n in dropped.items()) if dropped else ""
        if not kept:
            raise GenerationRejected(f"no principle kept of {len(pairs)} read; {summary}")
        criteria = [
            Criterion(id=f"p{i}", text=principle, kind="principle", weight=1.0, scale="binary", high="Yes", low="No", evidence=quote)
            for i, (principle, quote) in enumerate(kept, start=1)
        ]
        description = f"binary principles extracted from the feedback on example '{example.id}' (RLBFF)"
        return Rubric(name="rlbff", description=f"{description}\n{summary}" if summary else description, criteria=criteria)

    @staticmethod
    def _check(principle: str, evidence: str, feedback: list[str]) -> tuple[str | None, str | None]:
        """(why it is dropped, None) or (None, the quote as found in the feedback)."""
        if not evidence.strip():
            return "no evidence quoted", None
        if _HEDGE.search(principle) or _HEDGE.search(evidence):
            return "partially", None
        quote = find_quote(evidence, feedback) or find_quote(_trimmed(evidence), feedback)
        if quote is None:
            return "evidence not in the feedback", None
        if len(quote) < MIN_EVIDENCE:
            return "evidence too short", None
        return None, quote


RLBFF = Rlbff()
