"""From answers to a judgment: the mode's arithmetic once every question has been answered.

A strategy answers each question in the positions the judge was shown; here those answers are
moved back to the item's own order and combined: criteria into a score per response (the
aggregator), the orders of a pair into P(each response is best), a list into scores and a
ranking. Nothing here invents a value: an unparsed answer makes an unparsed judgment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from judge.models import Item, Judgment, RawOutput, Status, Usage, Verdict
from judge.pairwise import in_item_order, unique_best
from judge.parsing import Parsed
from judge.rubric import Rubric
from judge.rubric_sources import ItemRubric
from judge.strategy import Question, Record

if TYPE_CHECKING:
    from judge.compiler import Program


@dataclass
class Answer:
    """A strategy's answer to one question, with what it cost and how many retries it spent."""

    question: Question
    parsed: Parsed
    record: Record
    retries: int = 0
    decided_by: str = "model"  # or the verifier that decided it without a model call


def assemble(
    program: Program, item: Item, answers: list[Answer], started: float, error: str | None = None,
    given: ItemRubric | None = None,
) -> Judgment:
    """The item's judgment; `given` is the rubric it was judged by (its own, from a rubric source)
    with what getting it cost: a generation's raw text, usage and trace entry."""
    note = given.trace if given is not None else None
    raw: list[RawOutput] = (given.raw if given is not None else []) + [r for a in answers for r in a.record.raw]
    if given is not None and given.usage is not None:
        usage = Usage.model_construct(prompt_tokens=0, completion_tokens=0, requests=0, cached_requests=0)
        usage.add(given.usage)
        for answer in answers:
            usage.add(answer.record.usage)
    elif len(answers) == 1:  # the common case: the one record's own usage, not a copy
        usage = answers[0].record.usage
    else:
        usage = Usage.model_construct(prompt_tokens=0, completion_tokens=0, requests=0, cached_requests=0)
        for answer in answers:
            usage.add(answer.record.usage)
    fields: dict[str, Any] = {"raw": raw, "usage": usage, "retries": sum(a.retries for a in answers)}
    if program.strategy_options.trace:
        fields["trace"] = ([note] if note is not None else []) + [entry for a in answers for entry in (a.record.trace or [])]
    if error is None:
        failed = [a.parsed.reason or "error" for a in answers if a.parsed.status is Status.error]
        error = "; ".join(failed) or None
    if error is not None:
        return judgment(program, item, Status.error, started, error=error, **fields)
    if program.mode == "pairwise":
        return _pair(program, item, answers, started, fields)
    if program.mode == "listwise":
        return _list(program, item, answers, started, fields)
    return _criteria(program, item, answers, started, fields, given.rubric if given is not None else program.rubric)


def _criteria(program: Program, item: Item, answers: list[Answer], started: float, fields: dict[str, Any], rubric: Rubric) -> Judgment:
    verdicts: list[Verdict] = []
    for answer in answers:
        question, parsed = answer.question, answer.parsed
        criterion = question.criterion
        assert criterion is not None
        score = passed = None
        probabilities = parsed.probabilities
        detail = dict(answer.record.detail)
        if parsed.status is Status.ok and parsed.value is not None:
            score = parsed.value
            if question.spec.kind == "yes_no":
                passed = parsed.value >= 0.5
            elif program.pack.scale is not None and not criterion.binary:
                score, probabilities = _onto_criterion_scale(score, program.pack.scale, criterion), None
                detail["format_score"] = parsed.value
        verdicts.append(Verdict.model_construct(
            criterion=criterion.id, response=question.response, status=parsed.status, score=score, passed=passed,
            probabilities=probabilities, decided_by=answer.decided_by, step=question.name, reason=parsed.reason,
            detail=detail or None,
        ))
    scores: list[float | None] = []
    for index in range(len(item.responses)):
        own = [v for v in verdicts if v.response == index]
        scores.append(program.aggregate(own, rubric) if all(v.status is Status.ok for v in own) else None)
    status = Status.ok if all(v.status is Status.ok for v in verdicts) else Status.unparsed
    reward = scores[0] if program.mode == "principle" else None
    return judgment(program, item, status, started, verdicts=verdicts, scores=scores, reward=reward, **fields)


def _onto_criterion_scale(value: float, scale: tuple[int, int], criterion: Any) -> float:
    """A format's own scale (DeepSeek-GRM's 1-10) moved linearly onto the criterion's, for the aggregator."""
    low, high = scale
    return criterion.scale.min + (value - low) / (high - low) * (criterion.scale.max - criterion.scale.min)


def preference(parsed: Parsed, labels: tuple[str, ...]) -> list[float] | None:
    """P(each shown position is best) from one answer: its probabilities, its choice, or its
    scores (the best scored wins; positions tied at the top share the win)."""
    if parsed.status is not Status.ok:
        return None
    if parsed.probabilities is not None:
        return [parsed.probabilities[label] for label in labels]
    if parsed.choice is not None:
        return [1.0 if label == parsed.choice else 0.0 for label in labels]
    if parsed.scores is not None:
        top = max(parsed.scores)
        tied = [s == top for s in parsed.scores]
        return [1.0 / sum(tied) if t else 0.0 for t in tied]
    return None


def _pair(program: Program, item: Item, answers: list[Answer], started: float, fields: dict[str, Any]) -> Judgment:
    """`scores`: P(each response is the best), in the item's order, averaged over the orders judged;
    `preferred`: the strictly best one (None on a tie). Each verdict's score is P(response 0 wins)."""
    verdicts: list[Verdict] = []
    preferences: list[list[float] | None] = []
    for answer in answers:
        question, parsed = answer.question, answer.parsed
        shown = preference(parsed, question.spec.candidates)
        probs = None if shown is None else in_item_order(shown, question.order)
        preferences.append(probs)
        detail = dict(answer.record.detail)
        if parsed.scores is not None:
            detail["scores"] = in_item_order(parsed.scores, question.order)
        verdicts.append(Verdict(
            criterion="preference", status=parsed.status, probabilities=parsed.probabilities,
            score=None if probs is None else probs[0], step=question.name, reason=parsed.reason, detail=detail or None,
        ))
    if any(p is None for p in preferences):
        return judgment(program, item, Status.unparsed, started, verdicts=verdicts, **fields)
    count = len(item.responses)
    mean = [sum(p[i] for p in preferences) / len(preferences) for i in range(count)]  # type: ignore[index]
    result = judgment(program, item, Status.ok, started, verdicts=verdicts, scores=mean, preferred=unique_best(mean), **fields)
    if len(preferences) == 2:
        firsts = [unique_best(p) for p in preferences]  # type: ignore[arg-type]
        result.metadata["position_consistent"] = firsts[0] == firsts[1]
    return result


def _list(program: Program, item: Item, answers: list[Answer], started: float, fields: dict[str, Any]) -> Judgment:
    """Listwise: a score per response and a best-to-worst order, both in the item's own indices."""
    [answer] = answers
    parsed, order = answer.parsed, answer.question.order
    ok = parsed.status is Status.ok and parsed.scores is not None and parsed.ranking is not None
    scores = in_item_order(parsed.scores, order) if ok else None  # type: ignore[arg-type]
    ranking = [order[position] for position in parsed.ranking] if ok else None  # type: ignore[union-attr]
    verdict = Verdict(
        criterion="ranking", status=parsed.status if ok or parsed.status is not Status.ok else Status.unparsed,
        step=answer.question.name, reason=parsed.reason, detail=dict(answer.record.detail) or None,
    )
    if not ok:
        return judgment(program, item, Status.unparsed, started, verdicts=[verdict], **fields)
    return judgment(program, item, Status.ok, started, verdicts=[verdict], scores=scores, ranking=ranking,
                    preferred=ranking[0], **fields)  # type: ignore[index]


def judgment(program: Program, item: Item, status: Status, started: float, *, error: str | None = None, **fields: Any) -> Judgment:
    # Every value here was built and checked by this program: constructing skips revalidating
    # the verdicts, raw texts and usage on the hot path (the output is validated when read back).
    stamp = {key: dict(value) if isinstance(value, dict) else value for key, value in program.stamp.items()}
    fields.setdefault("raw", [])
    fields.setdefault("usage", Usage())
    return Judgment.model_construct(
        id=item.id,
        status=status,
        mode=program.mode,
        rubric=program.rubric_name,
        error=error,
        latency_s=round(time.perf_counter() - started, 4),
        metadata=dict(item.metadata),
        **stamp,
        **fields,
    )
