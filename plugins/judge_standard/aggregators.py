"""Built-in aggregators: how one response's verdicts become its score."""

from __future__ import annotations

from judge.models import Verdict
from judge.rubric import Criterion, Rubric


def weighted_mean(verdicts: list[Verdict], rubric: Rubric) -> float | None:
    """Weighted mean of each criterion's score scaled to [0, 1], times the chance that every hard
    rule holds.

    OpenRubrics' hard rules are requirements, not one quality among others: a response that fails
    one scores 0. Where the judge's exact probabilities are known, a hard rule is not cut at 0.5
    but counts with the probability that it holds, so the score is the expected score under the
    judge's own uncertainty (as G-Eval's expected scores are): a judge 60% sure that a rule is
    broken lowers the score by 60%, rather than zeroing a response it is unsure about. Read from
    text (no probabilities), a hard rule is a plain pass or fail, as before.
    """
    criteria = {c.id: c for c in rubric.criteria}
    total = weight = 0.0
    holds = 1.0
    for verdict in verdicts:
        if verdict.score is None:
            return None
        criterion = criteria[verdict.criterion]
        scaled = _scaled(verdict, criterion)
        if criterion.kind == "hard_rule":
            holds *= _chance_it_holds(verdict, criterion, scaled)
        total += criterion.weight * scaled
        weight += criterion.weight
    return holds * total / weight if weight else None


def _scaled(verdict: Verdict, criterion: Criterion) -> float:
    if criterion.binary or verdict.passed is not None:  # asked as Yes/No: the score is P(Yes)
        return float(verdict.score or 0.0)
    lo, hi = criterion.scale.min, criterion.scale.max  # type: ignore[union-attr]
    return (float(verdict.score or 0.0) - lo) / (hi - lo)


def _chance_it_holds(verdict: Verdict, criterion: Criterion, scaled: float) -> float:
    """P(the rule holds): P(Yes), or the probability mass on the upper half of the scale."""
    probabilities = verdict.probabilities
    if not probabilities:
        return 1.0 if scaled >= 0.5 else 0.0
    if criterion.binary or verdict.passed is not None:
        return scaled
    lo, hi = criterion.scale.min, criterion.scale.max  # type: ignore[union-attr]
    return sum(p for point, p in probabilities.items() if (float(point) - lo) / (hi - lo) >= 0.5)
