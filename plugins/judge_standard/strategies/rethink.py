"""`rethink` (BR-RM, "Think Twice"): one chat, two turns.

Turn 1 picks the critical dimensions and lists suspected issues per response; turn 2 is
appended to the same chat after turn 1's answer (so a backend with prefix caching computes the
shared prefix once), rereads the responses against those hypotheses and ends in the pack's
strict format. The verdict is read from turn 2's text; a format violation is `unparsed`, and
the engine retries it within the budget.
"""

from __future__ import annotations

from judge.models import Message
from judge.parsing import Parsed
from judge.strategy import StrategyContext, StrategySetup


class Rethink:
    name = "rethink"
    description = "branch and rethink (BR-RM): turn 1 names dimensions and suspected issues, turn 2 rereads and decides in a strict format"
    modes = ("pointwise", "pairwise")

    def check(self, setup: StrategySetup) -> None:
        setup.require_template(self.name, "turn1", parsed=False)
        setup.require_template(self.name, "turn2")

    async def decide(self, ctx: StrategyContext) -> Parsed:
        first = ctx.render("turn1")
        hypotheses = await ctx.ask(first, part="turn1", max_tokens=ctx.max_tokens("turn1"))
        chat = [*first, Message(role="assistant", content=hypotheses.texts[0] if hypotheses.texts else ""), *ctx.render("turn2")]
        decision = await ctx.ask(chat, part="turn2", max_tokens=ctx.max_tokens("turn2"))
        spec = ctx.spec.model_copy(update={"use_probabilities": False})
        return ctx.parse(decision, "turn2", spec)
