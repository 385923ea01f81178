"""A generated hard rule's text -> a shipped verifier that checks it exactly, or None.

"Answer in under 50 words" needs no model: the `words` verifier decides it. A wrong proposal
would silently overrule the judge, so this maps only phrasings it is sure of: one constraint per
rule, no negation it does not understand (a rule with "not" is left to the model unless it is a
"do not use 'X'"), quotes required around texts, and a unit required after a number.
"""

from __future__ import annotations

import re
from typing import Any

from judge.verifiers import VerifierSpec

_NUMBER_WORDS = {
    word: i + 1 for i, word in enumerate(
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_N = r"(\d{1,3}(?:,\d{3})+|\d+|" + "|".join(_NUMBER_WORDS) + r")"
_UNIT = r"(words?|sentences?|paragraphs?|characters?|chars)\b"
_UNITS = {"word": "words", "sentence": "sentences", "paragraph": "paragraphs", "character": "characters", "char": "characters"}

# (pattern, how the number(s) become bounds). Each pattern's groups: the number(s), then the unit.
_LENGTHS: list[tuple[re.Pattern[str], Any]] = [  # longer phrases first: "no more than" before "more than"
    (re.compile(rf"\bbetween\s+{_N}\s+and\s+{_N}\s+{_UNIT}", re.I), lambda a, b: {"min": a, "max": b}),
    (re.compile(rf"\b(?:at least|no fewer than|no less than|not less than|a minimum of|minimum of|minimum)\s+{_N}\s+{_UNIT}", re.I),
     lambda n: {"min": n}),
    (re.compile(rf"\b(?:at most|no more than|not more than|no longer than|a maximum of|maximum of|maximum|max\.?|up to|within"
                rf"|limited to|(?:(?:does|must|should|do|will)\s+)?not exceed)\s+{_N}\s+{_UNIT}", re.I), lambda n: {"max": n}),
    (re.compile(rf"\b(?:under|fewer than|less than|below)\s+{_N}\s+{_UNIT}", re.I), lambda n: {"max": n - 1}),
    (re.compile(rf"\bmore than\s+{_N}\s+{_UNIT}", re.I), lambda n: {"min": n + 1}),
    (re.compile(rf"\bexactly\s+{_N}\s+{_UNIT}", re.I), lambda n: {"min": n, "max": n}),
    (re.compile(rf"\b{_N}\s+{_UNIT}\s+or\s+(?:fewer|less)\b", re.I), lambda n: {"max": n}),
    (re.compile(rf"\b{_N}\s+{_UNIT}\s+or\s+more\b", re.I), lambda n: {"min": n}),
]

_Q = r"(?:\"([^\"]{1,200})\"|“([^”]{1,200})”|(?<!\w)'([^']{1,200})'(?!\w)|‘([^’]{1,200})’|`([^`]{1,200})`)"
_QUOTED = re.compile(_Q)
_QUOTE_LIST = rf"{_Q}(?:\s*(?:,\s*(?:and|or)?|and|or|&)\s*{_Q})*"
_WHAT = r"(?:the\s+)?(?:(?:exact\s+)?(?:words?|phrases?|keywords?|terms?|strings?|text|name)\s+)?"
_FORBIDS = re.compile(
    rf"\b(?:(?:do|does|must|should|will|may)\s+not|don't|doesn't|mustn't|shouldn't|never|avoids?|avoiding|without|no)\s+"
    rf"(?:use|using|uses|mention|mentioning|include|including|contain|containing|say|saying|write|writing)?\s*{_WHAT}(?P<q>{_QUOTE_LIST})",
    re.I,
)
_CONTAINS = re.compile(
    rf"\b(?:includes?|including|mentions?|mentioning|contains?|containing|uses?|using)\s+{_WHAT}(?P<q>{_QUOTE_LIST})", re.I
)
_AFFIX = re.compile(
    rf"\b(?P<verb>starts?|starting|begins?|beginning|opens?|ends?|ending|finish(?:es)?|concludes?)\s+"
    rf"(?P<between>(?:\w+\s+){{0,3}}?)with\s+(?:the\s+(?:exact\s+)?(?:words?|phrase|text|sentence|line|greeting)\s+)?{_Q}",
    re.I,
)
_NOT_WHOLE = re.compile(r"\b(?:each|every|all|paragraphs?|sentences?|lines?|bullets?|items?|sections?|words?)\b", re.I)
_JSON = re.compile(
    r"\bvalid\s+json\b|\bjson[\s-]format(?:ted)?\b|\bformatted\s+(?:as|in)\s+json\b"
    r"|\b(?:in|as)\s+(?:an?\s+)?(?:valid\s+)?json(?:\s+(?:format|object|array|document))?"
    r"(?=\s*(?:[.,;:!)]|$|\s+(?:only|and|with|that|which|without)\b))",
    re.I,
)
_CODE_LANGS = "python|javascript|typescript|java|bash|shell|sql|html|css|rust|go|ruby|yaml"
_CODE = re.compile(rf"\b(?:(?P<lang>{_CODE_LANGS})\s+)?(?:fenced\s+|markdown\s+)?code\s+(?:block|fence)s?\b|\bfenced\s+code\b", re.I)
LANGUAGES = {
    "english": "en", "french": "fr", "spanish": "es", "german": "de", "chinese": "zh-cn", "mandarin": "zh-cn",
    "italian": "it", "portuguese": "pt", "japanese": "ja", "korean": "ko", "russian": "ru", "arabic": "ar",
    "hindi": "hi", "dutch": "nl", "swedish": "sv", "polish": "pl", "turkish": "tr", "vietnamese": "vi",
    "greek": "el", "hebrew": "he", "indonesian": "id", "czech": "cs", "danish": "da", "finnish": "fi",
    "norwegian": "no", "ukrainian": "uk", "thai": "th", "persian": "fa", "bengali": "bn",
}
_LANG = "(" + "|".join(LANGUAGES) + r")\b"
_LANG_END = r"(?=\s*(?:[.,;:!)]|$|\s+(?:only|and|to|with|throughout|please|as|even|when|while|for|so|because)\b))"
_LANGUAGE = re.compile(
    rf"\b(?:answers?|answered|answering|respond(?:s|ed|ing)?|repl(?:y|ies|ied|ying)|writes?|written|writing)\b"
    rf"(?:\s+[\w']+){{0,4}}?\s+(?:entirely\s+|only\s+|fully\s+|completely\s+|solely\s+)?in\s+(?:the\s+)?{_LANG}{_LANG_END}"
    rf"|\b(?:response|answer|reply|output|text)\s+(?:is|must be|should be)\s+(?:written\s+)?(?:entirely\s+|only\s+)?in\s+{_LANG}{_LANG_END}",
    re.I,
)
_NEGATION = re.compile(r"\b(?:not|never|no|none|nor|cannot|without)\b|n't\b", re.I)


def _number(text: str) -> int:
    return _NUMBER_WORDS.get(text.lower()) or int(text.replace(",", ""))


def _quotes(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None).strip() for m in _QUOTED.finditer(text)]


def _lengths(rule: str) -> list[tuple[str, dict[str, int], tuple[int, int]]]:
    found: list[tuple[str, dict[str, int], tuple[int, int]]] = []
    for pattern, bounds in _LENGTHS:
        for match in pattern.finditer(rule):
            if any(start < match.end() and match.start() < end for _, _, (start, end) in found):
                continue  # the "more than 50 words" inside "no more than 50 words"
            *numbers, unit = match.groups()
            name = _UNITS[unit.lower().rstrip("s")] if unit.lower() != "chars" else "characters"
            found.append((name, bounds(*(_number(n) for n in numbers)), match.span()))
    return found


def _candidates(rule: str) -> list[tuple[VerifierSpec, tuple[int, int]]]:
    """Every constraint the rule states, with where it is stated."""
    found: list[tuple[VerifierSpec, tuple[int, int]]] = []
    for name, bounds, span in _lengths(rule):
        found.append((VerifierSpec(name=name, args=bounds), span))
    forbids = list(_FORBIDS.finditer(rule))
    for match in forbids:
        found.append((VerifierSpec(name="forbids", args={"phrases": _quotes(match.group("q"))}), match.span()))
    for match in _CONTAINS.finditer(rule):
        if any(f.start() <= match.start() < f.end() for f in forbids):
            continue  # the "use 'X'" of "do not use 'X'"
        phrases = _quotes(match.group("q"))
        args: dict[str, Any] = {"phrases": phrases}
        if re.search(r"\bor\b", match.group("q"), re.I):
            args["all"] = False
        found.append((VerifierSpec(name="contains", args=args), match.span()))
    for match in _AFFIX.finditer(rule):
        if _NOT_WHOLE.search(match.group("between")):
            continue  # "start each paragraph with 'X'" is not about the whole response
        text = next(g for g in match.groups()[-5:] if g is not None).strip()
        verb = match.group("verb").lower()
        name = "starts_with" if verb.startswith(("start", "begin", "open")) else "ends_with"
        found.append((VerifierSpec(name=name, args={"text": text}), match.span()))
    for match in _JSON.finditer(rule):
        found.append((VerifierSpec(name="json"), match.span()))
    for match in _CODE.finditer(rule):
        lang = match.group("lang")
        found.append((VerifierSpec(name="code_block", args={"language": lang.lower()} if lang else {}), match.span()))
    for match in _LANGUAGE.finditer(rule):
        language = next(g for g in match.groups() if g)
        found.append((VerifierSpec(name="language", args={"language": LANGUAGES[language.lower()]}), match.span()))
    return found


def _merge(specs: list[VerifierSpec]) -> VerifierSpec | None:
    """One spec from several of the same verifier: bounds combined ("at least 50 and at most 100 words")."""
    names = {spec.name for spec in specs}
    if len(names) != 1:
        return None
    if len(specs) == 1 or all(spec == specs[0] for spec in specs):
        return specs[0]
    if specs[0].name not in _UNITS.values():
        return None
    merged: dict[str, int] = {}
    for spec in specs:
        for key, value in spec.args.items():
            if merged.get(key, value) != value:
                return None
            merged[key] = value
    if "min" in merged and "max" in merged and merged["min"] > merged["max"]:
        return None
    return VerifierSpec(name=specs[0].name, args=merged)


def propose_verifier(rule: str) -> VerifierSpec | None:
    """The verifier that checks this rule exactly, or None when unsure (then the model judges it)."""
    rule = " ".join(rule.split())
    found = _candidates(rule)
    if not found:
        return None
    spec = _merge([spec for spec, _ in found])
    if spec is None:
        return None
    # Negation words are checked outside the phrases that own theirs ("no more than", "do not use
    # 'X'") and outside quoted texts; anywhere else they may reverse what the pattern read.
    rest = _QUOTED.sub(" ", rule)
    own = [span for spec, span in found if spec.name in _UNITS.values() or spec.name == "forbids"]
    for start, end in sorted(own, reverse=True):
        rest = rest[:start] + " " * (end - start) + rest[end:]
    if _NEGATION.search(_QUOTED.sub(" ", rest)):
        return None  # "should not be under 50 words", "do not answer in French"
    if spec.name in _UNITS.values() and spec.args.get("max", 1) <= 0 and "min" not in spec.args:
        return None  # "under 1 word", "under 0 words"
    if any(not str(p).strip() for p in spec.args.get("phrases", [])) or spec.args.get("text", "x").strip() == "":
        return None
    return spec
