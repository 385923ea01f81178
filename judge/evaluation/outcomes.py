"""How one judgment answers an evaluation question: did the judge prefer the labelled response?"""

from __future__ import annotations

from judge.evaluation.report import EvalInfo, Outcome
from judge.models import Item, Judgment, Status


def eval_info(judged: Judgment | Item) -> EvalInfo | None:
    """The evaluation facts an item carries (and its judgment keeps); None outside an evaluation."""
    found = judged.metadata.get("eval")
    return EvalInfo.model_validate(found) if isinstance(found, dict) else None


def preferred_index(judgment: Judgment) -> int | None:
    """The response the judge put first: pairwise mode's `preferred`, else the strictly highest score.
    None for a tie or when a score is missing."""
    if judgment.mode == "pairwise":
        return judgment.preferred
    scores = judgment.scores
    if not scores or any(s is None for s in scores):
        return None
    top = max(scores)  # type: ignore[type-var]
    best = [i for i, s in enumerate(scores) if s == top]
    return best[0] if len(best) == 1 else None


def judgment_outcome(judgment: Judgment, label: int, among: tuple[int, ...] | None = None) -> Outcome:
    """correct / wrong / tie / unparsed / error for "response `label` beats the others".

    Pairwise mode reads `preferred` (None on an ok judgment is a tie). Score modes (pointwise,
    principle) compare `scores[label]` with the best other score in `among` (default: all
    responses): strictly higher is correct, equal is a tie.
    """
    if judgment.status is Status.error:
        return "error"
    if judgment.status is Status.unparsed:
        return "unparsed"
    if judgment.mode == "pairwise":
        if judgment.preferred is None:
            return "tie"
        return "correct" if judgment.preferred == label else "wrong"
    indexes = among if among is not None else tuple(range(len(judgment.scores)))
    scores = judgment.scores
    if label >= len(scores) or any(scores[i] is None for i in indexes):
        return "unparsed"
    mine = scores[label]
    others = [scores[i] for i in indexes if i != label]
    if not others:
        return "error"
    best = max(others)  # type: ignore[type-var]
    if mine > best:  # type: ignore[operator]
        return "correct"
    return "tie" if mine == best else "wrong"
