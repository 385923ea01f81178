"""The parser contract: how one model answer becomes a value, or an honest `unparsed`."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from judge.backend import Completion
from judge.models import Status


class ParseSpec(BaseModel):
    """What a step expects back. `candidates` map the exact tokens asked for to their values.

    kinds: `score` (one response, a point of `candidates`), `yes_no` (candidates: yes, no),
    `choice` (the best of `count` shown responses; candidates: their labels), `scores` (one
    score per shown response, e.g. DeepSeek-GRM's boxed list, on the pack's scale `low`-`high`),
    `ranking` (listwise: a score per shown response and a best-to-worst order).
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["score", "choice", "yes_no", "scores", "ranking"]
    candidates: tuple[str, ...]
    use_probabilities: bool
    count: int = 1  # responses shown to the judge
    low: float | None = None  # the scale of `scores` / `ranking` answers, when the format fixes one
    high: float | None = None


class Parsed(BaseModel):
    """One answer read. Positions in `scores` and `ranking` are as shown to the judge (0-based)."""

    status: Status
    value: float | None = None
    choice: str | None = None
    probabilities: dict[str, float] | None = None
    reason: str | None = None
    scores: list[float] | None = None  # one per shown response
    ranking: list[int] | None = None  # shown positions, best first


class Parser(Protocol):
    def __call__(self, completion: Completion, spec: ParseSpec) -> Parsed: ...


def normalised(logprobs: dict[str, float], candidates: tuple[str, ...]) -> dict[str, float] | None:
    """Renormalise exact candidate logprobs into probabilities over the candidates alone.

    None when a candidate is missing or every candidate has zero probability: a missing
    probability is a status, never a guess.
    """
    if any(c not in logprobs for c in candidates):
        return None
    finite = [logprobs[c] for c in candidates if math.isfinite(logprobs[c])]
    if not finite:
        return None
    top = max(finite)
    weights = {c: math.exp(logprobs[c] - top) if math.isfinite(logprobs[c]) else 0.0 for c in candidates}
    total = sum(weights.values())
    return {c: w / total for c, w in weights.items()}


def last_json_object(text: str, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """The last `{...}` in a judge's text that parses as a JSON object `accept` takes, or None.

    Every `{` is tried as a start, so JSON inside prose or a code fence is found; a later start
    wins, and an outer object is seen before the ones inside it.
    """
    decoder = json.JSONDecoder()
    found = None
    for start in [i for i, ch in enumerate(text) if ch == "{"]:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict) and accept(value):
            found = value
    return found
