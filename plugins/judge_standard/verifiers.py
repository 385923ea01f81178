"""First-party verifiers: hard rules a program checks exactly, so no model guesses them.

Lengths (words, characters, sentences, paragraphs), required and forbidden phrases, regular
expressions, valid JSON (optionally against a JSON schema), a fenced code block that parses, how
a response starts or ends, and its language: the IFEval instruction checks that map onto these. Each returns a
Check with a reason that quotes the measured value, so a verdict says why.
"""

from __future__ import annotations

import ast
import json
import re
import threading
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from judge.models import Item
from judge.verifiers import Check, Verifier

_WORD = re.compile(r"\b\w+(?:[-'’]\w+)*\b")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_FENCE = re.compile(r"^```[ \t]*([\w+#.-]*)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Bounds(_Args):
    min: int | None = Field(default=None, ge=0, description="at least this many")
    max: int | None = Field(default=None, ge=0, description="at most this many")

    @model_validator(mode="after")
    def _some_bound(self) -> Bounds:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


def count_words(text: str) -> int:
    """Words as IFEval counts them, near enough: runs of letters or digits, hyphen- and apostrophe-joined."""
    return len(_WORD.findall(text))


def count_sentences(text: str) -> int:
    stripped = text.strip()
    if not stripped:
        return 0
    ends = len(_SENTENCE_END.findall(stripped))
    return ends + (0 if _SENTENCE_END.search(stripped[-1:] + " ") else 1)


def count_paragraphs(text: str) -> int:
    return len([p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()])


def _bounded(what: str, counter: Any) -> Any:
    def check(text: str, args: Bounds, item: Item) -> Check:
        n = counter(text)
        low_ok = args.min is None or n >= args.min
        high_ok = args.max is None or n <= args.max
        wanted = " and ".join(x for x in (f"at least {args.min}" if args.min is not None else "",
                                          f"at most {args.max}" if args.max is not None else "") if x)
        return Check(passed=low_ok and high_ok, reason=f"{n} {what} ({wanted} allowed)")

    return check


class Phrases(_Args):
    phrases: list[str] = Field(min_length=1, description="words or phrases")
    case_sensitive: bool = False
    all: bool = Field(default=True, description="contains: every phrase must appear (false: any one)")


def _find(text: str, phrase: str, case_sensitive: bool) -> bool:
    flags = 0 if case_sensitive else re.IGNORECASE
    edge_start = r"\b" if phrase[:1].isalnum() else ""
    edge_end = r"\b" if phrase[-1:].isalnum() else ""
    return re.search(f"{edge_start}{re.escape(phrase)}{edge_end}", text, flags) is not None


def contains(text: str, args: Phrases, item: Item) -> Check:
    missing = [p for p in args.phrases if not _find(text, p, args.case_sensitive)]
    found = len(args.phrases) - len(missing)
    passed = not missing if args.all else found > 0
    return Check(passed=passed, reason=f"missing: {', '.join(map(repr, missing))}" if missing else "every phrase appears")


def forbids(text: str, args: Phrases, item: Item) -> Check:
    present = [p for p in args.phrases if _find(text, p, args.case_sensitive)]
    return Check(passed=not present, reason=f"contains: {', '.join(map(repr, present))}" if present else "no forbidden phrase appears")


class Pattern(_Args):
    pattern: str = Field(min_length=1, description="a Python regular expression")
    must_match: bool = Field(default=True, description="false: the pattern must not occur")
    ignore_case: bool = False
    multiline: bool = False

    @model_validator(mode="after")
    def _compiles(self) -> Pattern:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"the pattern does not compile: {exc}") from None
        return self


def regex(text: str, args: Pattern, item: Item) -> Check:
    flags = (re.IGNORECASE if args.ignore_case else 0) | (re.MULTILINE if args.multiline else 0)
    found = re.search(args.pattern, text, flags)
    if args.must_match:
        return Check(passed=found is not None, reason=f"matches at {found.start()}: {found.group(0)[:60]!r}" if found else "no match")
    return Check(passed=found is None, reason=f"the pattern occurs: {found.group(0)[:60]!r}" if found else "the pattern does not occur")


class JsonArgs(_Args):
    schema_: dict[str, Any] | None = Field(default=None, alias="schema", description="a JSON schema the value must meet")
    allow_fence: bool = Field(default=True, description="accept the JSON inside one ```json fence")


def valid_json(text: str, args: JsonArgs, item: Item) -> Check:
    body = text.strip()
    fenced = _FENCE.fullmatch(body)
    if fenced and args.allow_fence:
        body = fenced.group(2).strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return Check(passed=False, reason=f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if args.schema_ is None:
        return Check(passed=True, reason="valid JSON")
    import jsonschema

    try:
        jsonschema.validate(value, args.schema_)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the value"
        return Check(passed=False, reason=f"valid JSON, but {where}: {exc.message}")
    return Check(passed=True, reason="valid JSON that meets the schema")


class CodeArgs(_Args):
    language: str | None = Field(default=None, description="the fence's language; python is also parsed")


def code_block(text: str, args: CodeArgs, item: Item) -> Check:
    blocks = _FENCE.findall(text)
    wanted = (args.language or "").lower()
    chosen = [(lang, body) for lang, body in blocks if not wanted or lang.lower() in (wanted, {"python": "py"}.get(wanted, wanted))]
    if not chosen:
        return Check(passed=False, reason=f"no fenced {args.language + ' ' if args.language else ''}code block")
    if wanted in ("python", "py"):
        for _, body in chosen:
            try:
                ast.parse(body)
            except SyntaxError as exc:
                return Check(passed=False, reason=f"a python block does not parse: {exc.msg} (line {exc.lineno})")
        return Check(passed=True, reason=f"{len(chosen)} python block(s), each parses")
    return Check(passed=True, reason=f"{len(chosen)} fenced code block(s)")


class Affix(_Args):
    text: str = Field(min_length=1)
    case_sensitive: bool = True
    strip: bool = Field(default=True, description="ignore surrounding whitespace")


def _affix(at_start: bool) -> Any:
    def check(text: str, args: Affix, item: Item) -> Check:
        body = text.strip() if args.strip else text
        target = args.text
        if not args.case_sensitive:
            body, target = body.lower(), target.lower()
        passed = body.startswith(target) if at_start else body.endswith(target)
        shown = body[: len(target) + 10] if at_start else body[-(len(target) + 10):]
        return Check(passed=passed, reason=f"{'starts' if at_start else 'ends'} with {shown!r}")

    return check


class LanguageArgs(_Args):
    language: str = Field(pattern=r"^[a-z]{2,3}(-[a-z]{2})?$", description="ISO 639-1 code, e.g. en, fr, zh-cn")
    min_letters: int = Field(default=12, ge=1, description="texts with fewer letters are left to the model")


_DETECT_LOCK = threading.Lock()


def language(text: str, args: LanguageArgs, item: Item) -> Check | None:
    """The response's language by langdetect (it ships its own profiles of 55 languages; seeded,
    so a text is always read the same way). Too short to tell: None, and the model judges."""
    if sum(ch.isalpha() for ch in text) < args.min_letters:
        return None
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    with _DETECT_LOCK:  # the factory's seed is global state
        DetectorFactory.seed = 0
        try:
            found = detect_langs(text)
        except LangDetectException:
            return None  # no letters to go by
    best = found[0]
    return Check(passed=best.lang == args.language,
                 reason=f"detected {best.lang} ({best.prob:.2f}); wanted {args.language}")


VERIFIERS = (
    Verifier("words", "counts words: min and/or max", Bounds, _bounded("words", count_words)),
    Verifier("characters", "counts characters: min and/or max", Bounds, _bounded("characters", len)),
    Verifier("sentences", "counts sentences (ended by . ! or ?): min and/or max", Bounds, _bounded("sentences", count_sentences)),
    Verifier("paragraphs", "counts paragraphs (split by blank lines): min and/or max", Bounds, _bounded("paragraphs", count_paragraphs)),
    Verifier("contains", "every (or any) of the phrases appears, as whole words", Phrases, contains),
    Verifier("forbids", "none of the phrases appears, as whole words", Phrases, forbids),
    Verifier("regex", "a regular expression occurs (or must not)", Pattern, regex),
    Verifier("json", "the response is valid JSON (alone or in one ```json fence), optionally meeting a JSON schema", JsonArgs, valid_json),
    Verifier("code_block", "a fenced code block (of a language) is present; python blocks must parse", CodeArgs, code_block),
    Verifier("starts_with", "the response starts with a text", Affix, _affix(True)),
    Verifier("ends_with", "the response ends with a text", Affix, _affix(False)),
    Verifier("language", "the response is written in a language (langdetect)", LanguageArgs, language),
)
