"""Built-in aggregators: how one response's verdicts become its score."""

from __future__ import annotations

from judge.models import Verdict
from judge.rubric import Rubric


def weighted_mean(verdicts: list[Verdict], rubric: Rubric) -> float | None:
    """Weighted mean of each criterion's score scaled to [0, 1]; hard rules are gates.

    A hard rule judged as failed (P(Yes) < 0.5, or a score in the lower half of its scale) makes
    the whole score 0: OpenRubrics' hard rules are requirements, not one quality among others.
    """
    criteria = {c.id: c for c in rubric.criteria}
    total = weight = 0.0
    for verdict in verdicts:
        if verdict.score is None:
            return None
        criterion = criteria[verdict.criterion]
        if criterion.binary or verdict.passed is not None:  # asked as Yes/No: the score is P(Yes)
            scaled = verdict.score
        else:
            lo, hi = criterion.scale.min, criterion.scale.max  # type: ignore[union-attr]
            scaled = (verdict.score - lo) / (hi - lo)
        if criterion.kind == "hard_rule" and scaled < 0.5:
            return 0.0
        total += criterion.weight * scaled
        weight += criterion.weight
    return total / weight if weight else None
