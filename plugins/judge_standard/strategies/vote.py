"""`vote` (DeepSeek-GRM's inference-time scaling): k samples, an optional meta RM, then a vote.

Each sample sees the responses in an order drawn from a generator seeded by the run's seed, the
item and the question (never the global random state), so a rerun draws the same orders. The
samples of one order go out as one request with n of them where the backend samples natively
(they share one prefill), else as seeded requests of one sample each. Each sample's verdict is
read from its text and moved back to the question's order. With a meta reward model, every
sample is rated (P(Yes) that the critique is sound) and only the top k_meta vote. Then:
pairwise choices are counted, per-response scores (DeepSeek-GRM's boxed list, listwise scores)
are summed, Yes/No verdicts are counted, pointwise scores averaged; a tie stays a tie.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from judge.backend import Completion
from judge.models import Status
from judge.parsing import ParseSpec, Parsed
from judge.strategy import StrategyContext, StrategySetup

DEFAULT_TEMPERATURE = 0.7


@dataclass
class Sample:
    """One sampled judgment: the order it was shown, its text, its verdict in the question's order."""

    order: tuple[int, ...]
    text: str
    parsed: Parsed
    meta: float | None = None
    voted: bool = False


class Vote:
    name = "vote"
    description = "k samples (shuffled orders, one prefill per order), an optional meta RM keeps the top k_meta, then a vote"
    modes = ("pointwise", "pairwise", "principle", "listwise")

    def check(self, setup: StrategySetup) -> None:
        setup.require_template(self.name, "reason" if setup.options.reason else None)
        if setup.options.meta_top is not None and not setup.has_meta:
            from judge.errors import JudgeError

            raise JudgeError("--meta-top keeps the top samples by meta RM score: give --meta-rm too")

    async def decide(self, ctx: StrategyContext) -> Parsed:
        options = ctx.options
        question = ctx.question
        rng = random.Random(f"{options.seed}:{question.item.id}:{question.name}:{ctx.attempt}")
        shuffle = options.shuffle and question.mode in ("pairwise", "listwise")
        drawn = [_shuffled(question.order, rng) if shuffle else question.order for _ in range(options.samples)]
        seeds = [rng.randrange(2**31) for _ in drawn]
        part = "reason" if options.reason else None
        spec = question.spec.model_copy(update={"use_probabilities": False})
        samples = await _sample(ctx, drawn, seeds, part, spec)
        if ctx.can_rate:
            await _rate(ctx, samples, part)
        voters = choose_voters(samples, options.meta_top if ctx.can_rate else None)
        result = tally(voters, spec)
        ctx.record.detail.update(describe(samples, result, spec.kind))
        return result


def _shuffled(order: tuple[int, ...], rng: random.Random) -> tuple[int, ...]:
    shown = list(order)
    rng.shuffle(shown)
    return tuple(shown)


async def _sample(ctx: StrategyContext, drawn: list[tuple[int, ...]], seeds: list[int], part: str | None, spec: ParseSpec) -> list[Sample]:
    """Every sample's text: one request per distinct order (n samples) where the backend samples
    natively, else one seeded request per sample."""
    temperature = ctx.options.temperature
    if temperature is None:
        given = ctx.program.options.sampling
        temperature = given.temperature if given is not None and given.temperature > 0 else DEFAULT_TEMPERATURE
    by_order: dict[tuple[int, ...], list[int]] = {}
    for index, order in enumerate(drawn):
        by_order.setdefault(order, []).append(index)
    texts: list[str] = [""] * len(drawn)

    async def ask(order: tuple[int, ...], indices: list[int], n: int, seed: int) -> None:
        completion = await ctx.ask(ctx.render(part, order=order), part=part, n=n, temperature=temperature, seed=seed,
                                   max_tokens=ctx.max_tokens(part) if part else None)
        got = list(completion.texts) + [""] * (len(indices) - len(completion.texts))
        for index, text in zip(indices, got):
            texts[index] = text

    calls = []
    for order, indices in by_order.items():
        if ctx.native_n:
            calls.append(ask(order, indices, len(indices), seeds[indices[0]]))
        else:
            calls += [ask(order, [index], 1, seeds[index]) for index in indices]
    await asyncio.gather(*calls)
    samples = []
    for order, text in zip(drawn, texts):
        read = _read(ctx, text, part, spec)
        samples.append(Sample(order, text, to_question_order(read, order, ctx.question.order, spec)))
    return samples


def _read(ctx: StrategyContext, text: str, part: str | None, spec: ParseSpec) -> Parsed:
    if part == "reason":  # a reasoning sample: its verdict is what follows the marker
        marker = ctx.pack.verdict_marker
        if marker not in text:
            return Parsed(status=Status.unparsed, reason=f"no '{marker}' in the sample")
        text = text.rpartition(marker)[2].strip()
    return ctx.parse(Completion(texts=[text]), part, spec)


def to_question_order(parsed: Parsed, shown: tuple[int, ...], question: tuple[int, ...], spec: ParseSpec) -> Parsed:
    """A sample's verdict, read in the order it was shown, restated in the question's order."""
    if parsed.status is not Status.ok or shown == question or not shown:
        return parsed
    where = {index: position for position, index in enumerate(question)}  # item index -> question position
    moved: dict[str, Any] = {}
    if parsed.choice is not None:
        labels = spec.candidates
        moved["choice"] = labels[where[shown[labels.index(parsed.choice)]]]
    if parsed.probabilities is not None and spec.kind == "choice":
        labels = spec.candidates
        moved["probabilities"] = {labels[where[shown[p]]]: parsed.probabilities[labels[p]] for p in range(len(shown))}
    if parsed.scores is not None:
        scores = [0.0] * len(shown)
        for position, score in enumerate(parsed.scores):
            scores[where[shown[position]]] = score
        moved["scores"] = scores
    if parsed.ranking is not None:
        moved["ranking"] = [where[shown[position]] for position in parsed.ranking]
    return parsed.model_copy(update=moved)


async def _rate(ctx: StrategyContext, samples: list[Sample], part: str | None) -> None:
    async def one(sample: Sample) -> None:
        sample.meta = await ctx.rate(ctx.render(part, order=sample.order), sample.text)

    await asyncio.gather(*(one(s) for s in samples))


def choose_voters(samples: list[Sample], top: int | None) -> list[Sample]:
    """The samples that vote: every parsed one, or with a meta RM the top k_meta by its score
    (default: half, rounded up); unrated or unparsed samples come last; ties keep sample order."""
    readable = [s for s in samples if s.parsed.status is Status.ok]
    if any(s.meta is not None for s in samples) or top is not None:
        keep = top if top is not None else math.ceil(len(samples) / 2)
        ranked = sorted(readable, key=lambda s: -(s.meta if s.meta is not None else -1.0))
        readable = ranked[:keep]
    for sample in readable:
        sample.voted = True
    return readable


def tally(voters: list[Sample], spec: ParseSpec) -> Parsed:
    """The vote: choices counted (shares as probabilities), scores summed, Yes/No counted,
    pointwise scores averaged. Nothing readable is `unparsed`, never a default."""
    if not voters:
        return Parsed(status=Status.unparsed, reason="no sample could be read")
    kind = spec.kind
    if kind == "choice":
        counts = Counter(s.parsed.choice for s in voters)
        shares = {label: counts.get(label, 0) / len(voters) for label in spec.candidates}
        return Parsed(status=Status.ok, probabilities=shares)
    if kind == "yes_no":
        yes = sum(1 for s in voters if (s.parsed.value or 0.0) >= 0.5)
        return Parsed(status=Status.ok, value=yes / len(voters))
    if kind == "score":
        return Parsed(status=Status.ok, value=sum(float(s.parsed.value or 0.0) for s in voters) / len(voters))
    sums = [sum(s.parsed.scores[p] for s in voters) for p in range(spec.count)]  # type: ignore[index]
    if kind == "scores":
        return Parsed(status=Status.ok, scores=sums)
    ranking = sorted(range(spec.count), key=lambda p: -sums[p])  # listwise: by summed score, stable on ties
    return Parsed(status=Status.ok, scores=sums, ranking=ranking)


def describe(samples: list[Sample], result: Parsed, kind: str) -> dict[str, Any]:
    """What the judgment records of a vote: each sample's verdict and meta score, who voted, the
    counts, and the share of voters that agree with the outcome (a confidence; None on a tie)."""
    voters = [s for s in samples if s.voted]
    winner = winner_of(result, kind, tallied=True)
    agreeing = sum(1 for s in voters if winner_of(s.parsed, kind) == winner)
    return {
        "samples": [
            {"order": list(s.order), "status": s.parsed.status.value, "verdict": _verdict(s.parsed),
             "meta": s.meta, "voted": s.voted}
            for s in samples
        ],
        "voters": len(voters),
        "counts": counts(voters, kind),
        "outcome": _verdict(result),
        "agreement": agreeing / len(voters) if voters and winner is not None else None,
    }


def counts(voters: list[Sample], kind: str) -> Any:
    """Votes per label (pairwise), per Yes/No, or the summed scores (per response, or pointwise)."""
    if kind in ("choice", "yes_no"):
        tally_of = Counter(str(winner_of(s.parsed, kind)).lower() if kind == "yes_no" else s.parsed.choice for s in voters)
        return {("yes" if k == "true" else "no" if k == "false" else k): n for k, n in sorted(tally_of.items())}
    if kind == "score":
        return sum(float(s.parsed.value or 0.0) for s in voters)
    return [sum(s.parsed.scores[p] for s in voters) for p in range(len(voters[0].parsed.scores or []))] if voters else []


def winner_of(parsed: Parsed, kind: str, tallied: bool = False) -> Any:
    """The verdict a sample (or the tally) stands for: a label, a best position, Yes or No; None
    for a tie, an unread answer, or a pointwise score (which has no winner)."""
    if parsed.status is not Status.ok:
        return None
    if kind == "choice":
        return _unique_top(parsed.probabilities) if tallied else parsed.choice  # type: ignore[arg-type]
    if kind in ("scores", "ranking"):
        return _unique_top(dict(enumerate(parsed.scores or [])))
    if kind == "yes_no" and parsed.value is not None:
        return None if parsed.value == 0.5 else parsed.value > 0.5
    return None


def _unique_top(values: dict[Any, float]) -> Any:
    if not values:
        return None
    top = max(values.values())
    best = [key for key, value in values.items() if value == top]
    return best[0] if len(best) == 1 else None


def _verdict(parsed: Parsed) -> Any:
    if parsed.status is not Status.ok:
        return None
    for name in ("choice", "probabilities", "scores", "value"):
        value = getattr(parsed, name)
        if value is not None:
            return value
    return None
