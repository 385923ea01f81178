"""`direct`: one prompt, one answer; the verdict read from exact probabilities or from the text."""

from __future__ import annotations

from judge.parsing import Parsed
from judge.strategy import StrategyContext, StrategySetup


class Direct:
    name = "direct"
    description = "one prompt, one answer: the verdict read from exact token probabilities, or from the text"
    modes = ("pointwise", "pairwise", "principle", "listwise")

    def check(self, setup: StrategySetup) -> None:
        setup.require_template(self.name, None)

    async def decide(self, ctx: StrategyContext) -> Parsed:
        completion = await ctx.ask(ctx.render(), candidates=ctx.spec.use_probabilities, whole=ctx.question.whole)
        return ctx.parse(completion)
