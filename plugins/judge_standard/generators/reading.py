"""Reading a model's list answer into criteria, leniently: small models write messy lists.

A generator asks for a plain numbered list; what comes back may have a preamble, markdown bold,
bullets instead of numbers, repeated items, a restarted numbering, or a last line cut off at
max_tokens. These readers keep what is clearly a criterion and drop the rest, so a generator
either has usable items or rejects the attempt (and the core retries with another seed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from judge.rubric import Criterion, Scale
from judge_standard.generators.proposals import propose_verifier

MAX_ITEMS = 10
MAX_WEIGHT = 100.0
Kind = Literal["hard_rule", "principle"]

# A list line: "1." "1)" "-" "*" "•" "+" or "Principle 1:" / "Rule 2 -" / "Criterion 3." (bold already removed).
_ITEM = re.compile(
    r"^\s*(?:\(?\d{1,2}[.):]|[-*•+–]|(?:principle|rule|criterion|item)\s*\d{1,2}\s*[:.)\-–])\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_TAG = r"hard[ _\-]?rules?|principles?"
_TAG_START = re.compile(rf"^(?:\[\s*(?P<a>{_TAG})\s*\]|\(\s*(?P<b>{_TAG})\s*\)|(?P<c>{_TAG})\s*[:\-–])\s*", re.IGNORECASE)
_TAG_END = re.compile(rf"\s*(?:\[\s*(?P<a>{_TAG})\s*\]|\(\s*(?P<b>{_TAG})\s*\))\s*[.]?\s*$", re.IGNORECASE)
_NUM = r"\d+(?:\.\d+)?"
_WEIGHT_END = re.compile(
    rf"\s*[,;\-–—]?\s*(?:\(\s*weight\s*[:=]?\s*(?P<a>{_NUM})\s*%?\s*\)|\[\s*weight\s*[:=]?\s*(?P<b>{_NUM})\s*%?\s*\]"
    rf"|weight\s*[:=]?\s*(?P<c>{_NUM})\s*%?|\[\s*(?P<d>{_NUM})\s*%?\s*\]"
    rf"|\(\s*(?P<e>{_NUM})\s*%?\s*\))\s*[.]?\s*$",  # "(3)": the format's "(weight: 3)" shortened, as SmolLM2 writes it
    re.IGNORECASE,
)
_BOLD = re.compile(r"\*\*|__")
_ITALIC = re.compile(r"(?<![\w*])[*_](?=\S)([^*_\n]+?)(?<=\S)[*_](?![\w*])")
_PLACEHOLDER = re.compile(r"<[a-z][a-z ,']*\s[a-z ,']*>")  # the format example's "<a quality>", copied back
_SENTENCE_BREAK = re.compile(r"[.!?]\s+\S")
_WORD = re.compile(r"\w+(?:['’\-]\w+)*")
# The last line of an answer without a final newline may have been cut at max_tokens: it ends on
# a word that cannot end a sentence, or with a bracket still open.
_CUT_WORDS = frozenset("a an the and or of to in on for with that which is are be by as at from its their your than".split())


@dataclass(frozen=True)
class ReadCriterion:
    """One criterion as read from the answer; weight None when the answer gave none."""

    text: str
    kind: Kind = "principle"
    weight: float | None = None


def strip_markdown(text: str) -> str:
    """Bold and italics markers removed; the words stay."""
    return _ITALIC.sub(r"\1", _BOLD.sub("", text)).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def usable(text: str, min_words: int = 3) -> bool:
    """3 to 300 characters and enough words: a criterion, not a heading or a paragraph."""
    return 3 <= len(text) <= 300 and len(words(text)) >= min_words and not _PLACEHOLDER.search(text.lower())


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


def _looks_cut(line: str) -> bool:
    last = words(line)
    return (
        line.count("(") > line.count(")") or line.count("[") > line.count("]") or line.count('"') % 2 == 1
        or line.rstrip().endswith((",", ":", "-", "–", "|")) or (bool(last) and last[-1].lower() in _CUT_WORDS)
    )


def _read_tag(text: str) -> tuple[str, Kind | None]:
    for pattern in (_TAG_START, _TAG_END):
        match = pattern.search(text)
        if match:
            tag = next(g for g in match.groups() if g)
            kind: Kind = "hard_rule" if tag.lower().startswith("hard") else "principle"
            return (text[match.end():] if pattern is _TAG_START else text[: match.start()]).strip(), kind
    return text, None


def _read_weight(text: str) -> tuple[str, float | None]:
    match = _WEIGHT_END.search(text)
    if not match:
        return text, None
    value = float(next(g for g in match.groups() if g))
    rest = text[: match.start()].rstrip(" ,;-–—")
    if value <= 0:
        return rest, None
    return rest, min(value, MAX_WEIGHT)


def read_item(body: str) -> ReadCriterion | None:
    """One list item's text (marker removed): tag, weight and text, or None when not usable."""
    text = strip_markdown(body)
    text, kind = _read_tag(text)
    text, weight = _read_weight(text)
    if kind is None:  # a tag after the weight: "text (weight: 2) [hard_rule]"
        text, kind = _read_tag(text)
        if weight is None:
            text, weight = _read_weight(text)
    text = strip_markdown(text).strip(" \t\"'`")
    if not usable(text):
        return None
    return ReadCriterion(text=text, kind=kind or "principle", weight=weight)


def _lines(text: str) -> list[str]:
    """The answer's lines, the last dropped when it looks cut off at max_tokens."""
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and not text.endswith("\n") and _looks_cut(lines[-1]):
        lines = lines[:-1]
    return lines


def read_criteria(text: str, max_items: int = MAX_ITEMS) -> list[ReadCriterion]:
    """Criteria from a numbered or bulleted list; with no list lines at all, from 2-10 plain lines
    that each read as a short one-sentence criterion (a preamble line ending in ':' aside).
    Duplicates dropped."""
    lines = _lines(text)
    bodies = [m.group("rest") for m in (_ITEM.match(_BOLD.sub("", line)) for line in lines) if m]
    if not bodies:
        # SmolLM2 often rewrites the task's text as paragraphs: only short one-sentence lines pass.
        plain = [line.strip() for line in lines if line.strip() and not line.strip().endswith(":")]
        read = [read_item(line) for line in plain]
        if not 2 <= len(plain) <= MAX_ITEMS or any(r is None or len(r.text) > 150 or _SENTENCE_BREAK.search(r.text) for r in read):
            return []
        bodies = plain
    found: list[ReadCriterion] = []
    seen: set[str] = set()
    for body in bodies:
        item = read_item(body)
        if item is None or _normal(item.text) in seen:
            continue
        seen.add(_normal(item.text))
        found.append(item)
        if len(found) == max_items:
            break
    return found


# "- <principle> | evidence: "<quote>"": the separator may be | ; — or a dash, the quote straight or curly.
_EVIDENCE = re.compile(r"^(?P<principle>.*?)\s*(?:[|;—–]|\s-|\(|,)?\s*\bevidence\s*[:=]\s*(?P<evidence>.*)$", re.IGNORECASE)
_QUOTES = {'"': '"', "“": "”", "'": "'", "‘": "’", "«": "»"}


def _unquote(text: str) -> str:
    """The quoted words; an unclosed quote (cut at max_tokens) keeps what is there."""
    text = text.strip().rstrip(")").strip()
    if text[:1] in _QUOTES:
        close = text.rfind(_QUOTES[text[0]])
        text = text[1:close] if close > 0 else text[1:]
    return text.strip().strip("…").removeprefix("...").removesuffix("...").strip()


def read_principles(text: str, max_items: int = MAX_ITEMS) -> list[tuple[str, str]]:
    """(principle, evidence) pairs from the RLBFF format; evidence "" when a list item quotes none.
    A principle needs 2 words (RLBFF's are short: "No factual errors"). Exact repeats dropped."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in text.replace("\r\n", "\n").split("\n"):
        plain = _BOLD.sub("", line).strip()
        item = _ITEM.match(plain)
        body = item.group("rest") if item else plain
        match = _EVIDENCE.match(body)
        if match is None and item is None:
            continue  # a plain line without evidence: preamble or chatter
        principle = strip_markdown(match.group("principle") if match else body).strip(" \t\"'`|;,-–—")
        principle, _ = _read_tag(principle)
        evidence = _unquote(match.group("evidence")) if match else ""
        if not usable(principle, min_words=2) or _normal(principle) in seen:
            continue
        seen.add(_normal(principle))
        found.append((principle, evidence))
        if len(found) == max_items:
            break
    return found


def to_criteria(read: list[ReadCriterion], prefix: str = "c") -> list[Criterion]:
    """Rubric criteria: a hard rule is binary (Yes/No) with a verifier when one checks it exactly,
    a principle is scored 1-5. An item without a weight gets the mean of the weights given (1
    when none is), so "30%, 30%, (none)" does not leave the last one at a hundredth of the others."""
    given = [r.weight for r in read if r.weight is not None]
    fallback = sum(given) / len(given) if given else 1.0
    criteria = []
    for i, item in enumerate(read, start=1):
        weight = item.weight if item.weight is not None else fallback
        if item.kind == "hard_rule":
            criteria.append(Criterion(
                id=f"{prefix}{i}", text=item.text, kind="hard_rule", weight=weight, scale="binary",
                high="Yes", low="No", verifier=propose_verifier(item.text),
            ))
        else:
            criteria.append(Criterion(
                id=f"{prefix}{i}", text=item.text, kind="principle", weight=weight, scale=Scale(),
                high=f"fully meets: {_short(item.text)}", low="does not meet",
            ))
    return criteria


def _short(text: str, limit: int = 60) -> str:
    """The criterion's text cut at a word boundary, for the top of its scale."""
    text = text.rstrip(".")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "..."
