"""Parsers for the published judge formats: each reads exactly the answer its format asks for.

A reply that breaks its format's rule is `unparsed` with the reason, never repaired into a value:
a format checked strictly is what the published models were trained and evaluated against.
"""

from __future__ import annotations

import re
from typing import Any

from judge.backend import Completion
from judge.models import Status
from judge.parsing import ParseSpec, Parsed, last_json_object

# Closed reasoning blocks are not the answer; an unclosed one (cut off by max_tokens) is flagged.
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_RESULT = "[RESULT]"
_INTEGER = re.compile(r"-?\d+")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_BRRM_BEGIN = "[The Begin of Ranking Score]"
# The check of nemo_rl/environments/brrm_environment.py (parse_scoring_response) in YzjiaoNvd/BR-RM.
_BRRM_SECTION = re.compile(
    r"\[The Begin of Ranking Score\]\s*\n\s*\\boxed\{([^}]+)\}\s*\n\s*\[The End of Ranking Score\]", re.DOTALL
)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FENCE = re.compile(r"```(?:json)?")


def _unparsed(reason: str) -> Parsed:
    return Parsed(status=Status.unparsed, reason=reason)


def _raw(completion: Completion) -> str:
    return completion.texts[0] if completion.texts else ""


def _answer_text(completion: Completion) -> str | Parsed:
    """The reply without its closed reasoning blocks; unparsed when a block was never closed."""
    text = _THINK.sub("", _raw(completion))
    if re.search(r"<think>", text, re.IGNORECASE):
        return _unparsed("the reasoning block (<think>) was never closed: the reply was cut off before its answer")
    return text


def _after_last_result(text: str) -> str | Parsed:
    at = text.rfind(_RESULT)
    if at < 0:
        return _unparsed("no [RESULT] in the reply")
    return text[at + len(_RESULT):].strip()


def parse_prometheus_absolute(completion: Completion, spec: ParseSpec) -> Parsed:
    """Prometheus absolute grading: the reply ends "[RESULT] n", n one of the scale's points.

    Read from the last [RESULT]; whatever follows it must be the integer alone. Always read from
    the text: probabilities at the first generated token are not the score of a reply that starts
    with feedback (reason-then-verdict reads them after "[RESULT]" with its own parser).
    """
    after = _after_last_result(_raw(completion))
    if isinstance(after, Parsed):
        return after
    if not _INTEGER.fullmatch(after):
        return _unparsed(f"the last [RESULT] is followed by {after[:40]!r}, not a score alone")
    if after not in spec.candidates:
        return _unparsed(f"[RESULT] {after} is not one of the scale's points {list(spec.candidates)}")
    return Parsed(status=Status.ok, value=float(after), reason=_raw(completion))


def parse_prometheus_relative(completion: Completion, spec: ParseSpec) -> Parsed:
    """Prometheus relative grading: the reply ends "[RESULT] A" or "[RESULT] B" (the last one counts); text only."""
    after = _after_last_result(_raw(completion))
    if isinstance(after, Parsed):
        return after
    if after not in spec.candidates:
        return _unparsed(f"the last [RESULT] is followed by {after[:40]!r}, not one of {list(spec.candidates)} alone")
    return Parsed(status=Status.ok, choice=after, reason=_raw(completion))


def parse_grm_boxed(completion: Completion, spec: ParseSpec) -> Parsed:
    """DeepSeek-GRM: integer scores, comma separated, in the last \\boxed{...}, one per shown response.

    kind `scores`: `count` integers within [low, high] (Parsed.scores, in the order shown);
    kind `score`: one integer among the candidates (Parsed.value). Read from the text always.
    """
    text = _answer_text(completion)
    if isinstance(text, Parsed):
        return text
    boxes = _BOXED.findall(text)
    if not boxes:
        return _unparsed("no \\boxed{...} with the scores in the reply")
    fields = [field.strip() for field in boxes[-1].split(",")]
    expected = spec.count if spec.kind == "scores" else 1
    if len(fields) != expected:
        return _unparsed(f"the last \\boxed{{{boxes[-1]}}} holds {len(fields)} score(s), {expected} expected")
    bad = [field for field in fields if not _INTEGER.fullmatch(field)]
    if bad:
        return _unparsed(f"the last \\boxed{{{boxes[-1]}}} holds non-integer score(s) {bad}")
    values = [int(field) for field in fields]
    points = spec.candidates if spec.kind != "scores" else ()
    out = [v for v in values if (spec.low is not None and v < spec.low) or (spec.high is not None and v > spec.high)
           or (points and str(v) not in points)]
    if out:
        return _unparsed(f"score(s) {out} outside the format's scale")
    if spec.kind == "scores":
        return Parsed(status=Status.ok, scores=[float(v) for v in values], reason=text.strip())
    return Parsed(status=Status.ok, value=float(values[0]), reason=text.strip())


def parse_brrm(completion: Completion, spec: ParseSpec) -> Parsed:
    """BR-RM turn 2's strict format: one "[The Begin of Ranking Score]\\n\\boxed{k}\\n[The End of Ranking Score]".

    The section check is the authors' (parse_scoring_response); k must be one shown response's
    number. A missing or repeated section, no boxed value, a list, or an unknown number is unparsed.
    """
    text = _answer_text(completion)
    if isinstance(text, Parsed):
        return text
    sections = text.count(_BRRM_BEGIN)
    if sections == 0:
        return _unparsed("no [The Begin of Ranking Score] section in the reply")
    if sections > 1:
        return _unparsed(f"{sections} ranking score sections in the reply, one expected")
    match = _BRRM_SECTION.search(text)
    if match is None:
        return _unparsed("the ranking score section is not '[The Begin of Ranking Score]\\n\\boxed{k}\\n[The End of Ranking Score]'")
    answer = match.group(1).strip()
    if "," in answer:
        return _unparsed(f"\\boxed{{{answer}}} holds more than one answer")
    if answer not in spec.candidates:
        return _unparsed(f"\\boxed{{{answer}}} is not a response number among {list(spec.candidates)}")
    return Parsed(status=Status.ok, choice=answer, reason=text.strip())


def parse_rlbff_genrm(completion: Completion, spec: ParseSpec) -> Parsed:
    """Qwen3-Nemotron-GenRM-Principle: the last Yes/No after the reasoning (after the last </think>).

    Always read from the text, even where principle mode asks for probabilities: the first
    generated token of a reasoning model is not its answer (reason-then-verdict reads P(" Yes")
    after the reasoning with its own parser).
    """
    yes, no = spec.candidates
    raw = _raw(completion)
    if re.search(r"<think>", raw, re.IGNORECASE) and not re.search(r"</think>", raw, re.IGNORECASE):
        return _unparsed("the reasoning (<think>) was never closed: the reply was cut off before its answer")
    answer = re.split(r"</think>", raw, flags=re.IGNORECASE)[-1]
    words = re.findall(rf"\b({re.escape(yes.strip())}|{re.escape(no.strip())})\b", answer)
    if not words:
        return _unparsed(f"no {yes.strip()} or {no.strip()} after the reasoning")
    return Parsed(status=Status.ok, value=1.0 if words[-1] == yes.strip() else 0.0, reason=raw)


def _holds_the_published_keys(value: dict[str, Any]) -> bool:
    """RewardAnything's verdict object: "scores" and "best-to-worst" ("best-to-worse" read as that)."""
    return "scores" in value and ("best-to-worst" in value or "best-to-worse" in value)


def _shown_position(name: Any, count: int) -> int | None:
    match = re.fullmatch(r"model-(\d+)", name) if isinstance(name, str) else None
    if match is None or not 1 <= int(match.group(1)) <= count or match.group(1).startswith("0"):
        return None
    return int(match.group(1)) - 1


def parse_rewardanything(completion: Completion, spec: ParseSpec) -> Parsed:
    """RewardAnything's JSON verdict: a score per model-k and a best-to-worst list, mapped to shown positions.

    model-k is the k-th response shown. Every shown response needs exactly one score on the
    format's scale and one place in the ranking; anything missing, unknown or repeated is unparsed.
    """
    text = _answer_text(completion)
    if isinstance(text, Parsed):
        return text
    verdict = last_json_object(_FENCE.sub("", text), _holds_the_published_keys)
    if verdict is None:
        return _unparsed('no JSON object with "scores" and "best-to-worst" in the reply')
    scores, order = verdict["scores"], verdict.get("best-to-worst", verdict.get("best-to-worse"))
    if not isinstance(scores, dict) or not isinstance(order, list):
        return _unparsed('"scores" must be an object and "best-to-worst" a list')
    count = spec.count
    by_position: dict[int, float] = {}
    for name, score in scores.items():
        position = _shown_position(name, count)
        if position is None:
            return _unparsed(f"score for unknown response name {name!r} (model-1 to model-{count} were shown)")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            return _unparsed(f"the score of {name} is {score!r}, not a number")
        if (spec.low is not None and score < spec.low) or (spec.high is not None and score > spec.high):
            return _unparsed(f"the score of {name} is {score}, outside {spec.low}-{spec.high}")
        by_position[position] = float(score)
    missing = [f"model-{p + 1}" for p in range(count) if p not in by_position]
    if missing:
        return _unparsed(f"no score for {missing}")
    ranking: list[int] = []
    for name in order:
        position = _shown_position(name, count)
        if position is None:
            return _unparsed(f"unknown response name {name!r} in best-to-worst")
        if position in ranking:
            return _unparsed(f"{name} appears twice in best-to-worst")
        ranking.append(position)
    if len(ranking) != count:
        absent = [f"model-{p + 1}" for p in range(count) if p not in ranking]
        return _unparsed(f"best-to-worst is not a ranking of every response: {absent} missing")
    return Parsed(status=Status.ok, scores=[by_position[p] for p in range(count)], ranking=ranking, reason=text.strip())


def parse_rm_r1(completion: Completion, spec: ParseSpec) -> Parsed:
    """RM-R1: the final "<answer>[[A]]</answer>" (or [[B]]); the last answer tag counts.

    The authors' rule (eval/reward-bench/rewardbench/generative.py) also refuses a reply holding
    both [[A]] and [[B]] anywhere ("Prevent Hacking"); that rule is kept.
    """
    text = _raw(completion)
    marks = [f"[[{label}]]" for label in spec.candidates]
    present = [mark for mark in marks if mark in text]
    if len(present) > 1:
        return _unparsed(f"the reply holds {' and '.join(present)}: RM-R1's rule counts that as no verdict")
    answers = _ANSWER.findall(text)
    if not answers:
        return _unparsed("no <answer>...</answer> tag in the reply")
    final = answers[-1].strip()
    for label, mark in zip(spec.candidates, marks):
        if final == mark:
            return Parsed(status=Status.ok, choice=label, reason=text)
    return _unparsed(f"the final answer tag holds {final[:40]!r}, not one of {marks}")
