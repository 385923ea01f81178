"""`reason`: the judge writes its analysis, then the verdict is forced after a fixed marker.

RM-R1, Think-RM and RLBFF's GenRM reason before they answer. The analysis is generated (at most
the pack's `MODE:reason` tokens, stopped at the pack's `verdict_marker`); then the chat is
continued with the analysis and the marker as a partial assistant message, and the candidates'
exact probabilities (Yes/No, A/B, score digits, each after the pack's `answer_prefix`) are read at
the next position. In principle mode that is RLBFF GenRM's reward: P(Yes) after reasoning.
With `--score-from text` the judge writes on past the marker and its verdict is read from there.
"""

from __future__ import annotations

from judge.backend import Completion
from judge.formats import FormatPack
from judge.models import Message, Status
from judge.parsing import Parsed
from judge.strategy import StrategyContext, StrategySetup
from judge_standard.parsers import parse_choice, parse_score, parse_yes_no

_BY_PROBABILITY = {"choice": parse_choice, "score": parse_score, "yes_no": parse_yes_no}


class Reason:
    name = "reason"
    description = "reason then verdict: the judge writes an analysis, then the verdict's probabilities are read after a fixed marker"
    modes = ("pointwise", "pairwise", "principle")

    def candidate_prefix(self, pack: FormatPack) -> str:
        return pack.answer_prefix

    def check(self, setup: StrategySetup) -> None:
        setup.require_template(self.name, "reason", parsed=not setup.use_probabilities)
        if setup.use_probabilities or setup.mode == "principle":
            setup.require_capability(
                self.name, "continuation",
                "reads the verdict's probabilities by continuing the judge's own analysis after the verdict marker",
            )

    async def decide(self, ctx: StrategyContext) -> Parsed:
        messages = ctx.render("reason")
        marker = ctx.pack.verdict_marker
        if not ctx.spec.use_probabilities:
            written = await ctx.ask(messages, part="reason", max_tokens=ctx.max_tokens("reason"))
            return verdict_in_text(ctx, written.texts[0] if written.texts else "", "reason")
        written = await ctx.ask(messages, part="reason", max_tokens=ctx.max_tokens("reason"), stop=(marker,))
        analysis = (written.texts[0] if written.texts else "").rstrip()
        return await verdict_after(ctx, messages, analysis)


async def verdict_after(ctx: StrategyContext, messages: list[Message], analysis: str, part: str = "verdict") -> Parsed:
    """Continue the judge's own text with the verdict marker and read the candidates' exact
    probabilities at the next position, each after the pack's answer prefix (" Yes", " A")."""
    marker = ctx.pack.verdict_marker
    partial = f"{analysis}\n{marker}" if analysis else marker
    prefix = ctx.pack.answer_prefix
    asked = tuple(prefix + candidate for candidate in ctx.spec.candidates)
    verdict = await ctx.ask([*messages, Message(role="assistant", content=partial)], part=part,
                            candidates=asked, max_tokens=1, whole=ctx.question.whole)
    found = verdict.candidate_logprobs
    renamed = None if found is None else {c: found[a] for c, a in zip(ctx.spec.candidates, asked) if a in found}
    read = _BY_PROBABILITY[ctx.spec.kind](verdict.model_copy(update={"candidate_logprobs": renamed}), ctx.spec)
    ctx.note_trace({"step": ctx.step_name(part), "parsed": read.model_dump(exclude_none=True)})
    return read.model_copy(update={"reason": analysis})


def verdict_in_text(ctx: StrategyContext, text: str, part: str) -> Parsed:
    """The verdict written after the pack's marker, read by the pack's parser; the text before it
    is the reason. No marker: unparsed."""
    marker = ctx.pack.verdict_marker
    if marker not in text:
        return Parsed(status=Status.unparsed, reason=f"no '{marker}' in the judge's text")
    analysis, _, verdict = text.rpartition(marker)
    parsed = ctx.parse(Completion(texts=[verdict.strip()]), part)
    return parsed.model_copy(update={"reason": analysis.strip()})
