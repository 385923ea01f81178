"""Built-in parsers. Each returns `unparsed` with a reason rather than inventing a value."""

from __future__ import annotations

import re

from judge.backend import Completion
from judge.models import Status
from judge.parsing import ParseSpec, Parsed, last_json_object, normalised

# Reasoning is not the verdict: closed blocks are removed, and an unclosed one (cut off by
# max_tokens) runs to the end of the text, so nothing inside it is read as a score.
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
# Scales the model echoes ("1 to 5", "1-5") are not scores.
_RANGE = re.compile(r"\d+\s*(?:-|–|to)\s*\d+", re.IGNORECASE)


def _text(completion: Completion) -> str:
    text = completion.texts[0] if completion.texts else ""
    return _THINK.sub("", text).strip()


def _from_probabilities(completion: Completion, spec: ParseSpec) -> dict[str, float] | Parsed:
    if completion.candidate_logprobs is None:
        return Parsed(status=Status.unparsed, reason="backend returned no candidate probabilities")
    probs = normalised(completion.candidate_logprobs, spec.candidates)
    if probs is None:
        missing = [c for c in spec.candidates if c not in completion.candidate_logprobs]
        if not missing:
            return Parsed(status=Status.unparsed, reason="every candidate has zero probability (-inf logprob)")
        return Parsed(status=Status.unparsed, reason=f"no probability for candidate(s) {missing}")
    return probs


def parse_score(completion: Completion, spec: ParseSpec) -> Parsed:
    """Expected score under the digit probabilities, or the first in-scale integer of the text."""
    if spec.use_probabilities:
        probs = _from_probabilities(completion, spec)
        if isinstance(probs, Parsed):
            return probs
        value = sum(float(c) * p for c, p in probs.items())
        return Parsed(status=Status.ok, value=value, probabilities=probs)
    text = _RANGE.sub(" ", _text(completion))
    labelled = re.search(r"(?:score|rating|\[RESULT\])\s*(?:is|of)?\s*[:=]?\s*(-?\d+)", text, re.IGNORECASE)
    numbers = [labelled.group(1)] if labelled else re.findall(r"(?<![\d.])-?\d+(?!\.?\d)", text)
    for number in numbers:
        if number in spec.candidates:
            return Parsed(status=Status.ok, value=float(number))
    return Parsed(status=Status.unparsed, reason=f"no score among {list(spec.candidates)} in the text")


def parse_choice(completion: Completion, spec: ParseSpec) -> Parsed:
    """The preferred label, by probability, or read from an explicit statement in the text."""
    if spec.use_probabilities:
        probs = _from_probabilities(completion, spec)
        if isinstance(probs, Parsed):
            return probs
        best = max(spec.candidates, key=lambda c: probs[c])
        return Parsed(status=Status.ok, choice=best, probabilities=probs, reason=_text(completion) or None)
    text = _text(completion)
    labels = "|".join(re.escape(c) for c in spec.candidates)
    # A label counts only where it stands as a verdict: alone, or followed by punctuation or
    # "is"; the English article "A" opening a sentence is not a vote for response A.
    verdict_end = r"(?=\s*$|\s*[.):,\]*!]|\s+(?i:is|was)\b)"
    explicit = [rf"\[RESULT\]\s*({labels})\b", rf"\\boxed\{{\s*(?:(?i:response|output)\s+)?({labels})\s*\}}"]
    first_line = text.splitlines()[0] if text else ""
    stated = [
        rf"^\W*(?:(?i:response|output)\s+)?({labels}){verdict_end}",
        rf"(?i:better|preferred|winner|answer|choice)(?:\s+(?i:response|output))?[^\w.]+(?:(?i:is)\s+)?"
        rf"(?:(?i:response|output)\s+)?({labels}){verdict_end}",
    ]
    for pattern, where in [(p, text) for p in explicit] + [(p, first_line) for p in stated]:
        match = re.search(pattern, where)
        if match:
            return Parsed(status=Status.ok, choice=match.group(1), reason=text)
    return Parsed(status=Status.unparsed, reason=f"no choice among {list(spec.candidates)} in the text")


# "No idea" or "Yes and no" opens with the word but answers nothing: unparsed, not a verdict.
_NON_ANSWERS = r"\s+(?:idea|clue|comment|opinion|answer|and\s+(?:yes|no)|or\s+(?:yes|no))\b"


def parse_yes_no(completion: Completion, spec: ParseSpec) -> Parsed:
    """P(Yes) over {Yes, No} exactly, or a Yes/No that opens the text."""
    yes, no = spec.candidates
    if spec.use_probabilities:
        probs = _from_probabilities(completion, spec)
        if isinstance(probs, Parsed):
            return probs
        return Parsed(status=Status.ok, value=probs[yes], probabilities=probs)
    match = re.match(rf"^\W*({re.escape(yes)}|{re.escape(no)})\b(?!{_NON_ANSWERS})", _text(completion), re.IGNORECASE)
    if match is None:
        return Parsed(status=Status.unparsed, reason=f"the text does not start with {yes} or {no}")
    return Parsed(status=Status.ok, value=1.0 if match.group(1).lower() == yes.lower() else 0.0)


def parse_rewardbench(completion: Completion, spec: ParseSpec) -> Parsed:
    """RewardBench's `process_judgement`: the first of [[A]], [[B]], ... (in label order) anywhere in the text.

    The rule of rewardbench/generative.py (2 labels) and generative_v2.py (4 labels) at
    allenai/reward-bench 05a9005, applied to the whole reply as the model wrote it (reasoning
    included, nothing stripped). It reads the text even when probabilities were asked for: the
    probability of "A" before the explanation the prompt asks for is not that protocol's verdict.
    """
    text = completion.texts[0] if completion.texts else ""
    for label in spec.candidates:
        if f"[[{label}]]" in text:
            return Parsed(status=Status.ok, choice=label)
    marks = [f"[[{label}]]" for label in spec.candidates]
    listed = marks[0] if len(marks) == 1 else f"{', '.join(marks[:-1])} or {marks[-1]}"
    return Parsed(status=Status.unparsed, reason=f"no {listed} in the text")


def parse_listwise(completion: Completion, spec: ParseSpec) -> Parsed:
    """The default listwise answer: JSON `{"scores": {"1": s, ...}, "ranking": [best, ..., worst]}`.

    Responses are numbered from 1 as shown; every one must have a score on the spec's scale and
    appear once in the ranking. The last JSON object in the text that has both keys is read.
    """
    found = last_json_object(_text(completion), lambda value: "scores" in value and "ranking" in value)
    if found is None:
        return Parsed(status=Status.unparsed, reason='no JSON object with "scores" and "ranking" in the text')
    names = [str(i + 1) for i in range(spec.count)]
    scores, ranking = found["scores"], found["ranking"]
    if not isinstance(scores, dict) or sorted(map(str, scores)) != sorted(names):
        return Parsed(status=Status.unparsed, reason=f'"scores" must give exactly responses {", ".join(names)} a score')
    values: list[float] = []
    for name in names:
        value = scores.get(name, scores.get(int(name)))  # type: ignore[call-overload]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return Parsed(status=Status.unparsed, reason=f"response {name}'s score is not a number")
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            return Parsed(status=Status.unparsed, reason=f"response {name}'s score {value} is off the scale {spec.low}-{spec.high}")
        values.append(float(value))
    order = [str(r) for r in ranking] if isinstance(ranking, list) else []
    if sorted(order) != sorted(names):
        return Parsed(status=Status.unparsed, reason=f'"ranking" must list responses {", ".join(names)} once each')
    return Parsed(status=Status.ok, scores=values, ranking=[int(r) - 1 for r in order])
