"""The published format packs render their authors' prompts exactly.

Each expected prompt is in tests/fixtures/golden/<pack>/, built from the published text filled with
the example below (the SOURCE.md beside it names the repository, file and commit, or model card).
deepseek-grm's expected prompt is the paper's figure with its layout reconstructed (its SOURCE.md
says what); every other one is the published string itself. The renderer trims each message's edges,
so the comparison strips the published messages' leading and trailing whitespace, nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from judge.errors import TemplateError
from judge.formats import FormatPack
from judge.models import Message
from judge.plugins import Registry
from judge.rubric import Criterion, Rubric
from judge.templates import render_messages

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden"

# Awkward on purpose: braces (not format fields once inserted), quotes, a backslash, a tab,
# blank lines inside, non-ASCII, control characters for the JSON format.
QUESTION = 'Write a function f(x) that returns {x} doubled.\n\nSay "why" \u2014 briefly, in \u00fcn\u00efcode.'
A = "def f(x):\n    return 2 * x  # {x} \\ done"
B = 'Ça marche : `{}`\n\n"quoted"\ttab'
C = "def f(x):\n    return x + x"
REFERENCE = "def f(x): return x * 2"
DOCS = ["Doc one: doubling means times two.", "Doc two: {braces} stay."]
MULTI = [Message(role="user", content="Hi"), Message(role="assistant", content="Hello! How can I help?"),
         Message(role="user", content=QUESTION)]
CRITERION = Criterion(id="code", text="Is the code correct?", high="correct and runs", low="wrong or does not run")
PRINCIPLE = Criterion(id="p1", text="correctness", scale="binary", high="Yes", low="No")
SHORT = Criterion(id="short", text="Is it short?", high="short", low="long")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(allowed={"standard", "published"}).load()


def variables(pack: FormatPack, criterion: Criterion = CRITERION, prompt: list[Message] | None = None,
              criteria: list[Criterion] | None = None, **extra: Any) -> dict[str, Any]:
    """What the engine passes a template (common.md's list), for one fixed example."""
    messages = prompt or [Message(role="user", content=QUESTION)]
    system = [m.content for m in messages if m.role == "system"]
    base: dict[str, Any] = {
        "item": None, "prompt": QUESTION, "prompt_messages": messages,
        "conversation": [m for m in messages if m.role != "system"], "system_prompt": "\n\n".join(system) or None,  # type: ignore[arg-type]
        "reference": None, "context": [], "rubric": Rubric(name="t", criteria=criteria or [criterion]),
        "yes": pack.yes, "no": pack.no, "labels": pack.labels, "scale": pack.scale,
    }
    if "response" in extra:
        binary = criterion.binary or extra.pop("principle", False)
        points = [] if binary else [str(p) for p in range(criterion.scale.min, criterion.scale.max + 1)]  # type: ignore[union-attr]
        base |= {"criterion": criterion, "binary": binary, "points": points}
    if "responses" in extra and len(extra["responses"]) == 2:
        base |= {"response_a": extra["responses"][0], "response_b": extra["responses"][1]}
    return base | extra


CASES = [
    # (fixture, pack, step, variables' extras)
    ("prometheus/absolute", "prometheus", "pointwise", {"response": A}),
    ("prometheus/absolute", "prometheus", "pointwise:reason", {"response": A}),
    ("prometheus/absolute_reference", "prometheus", "pointwise", {"response": A, "reference": REFERENCE}),
    ("prometheus/absolute_context", "prometheus", "pointwise", {"response": A, "context": DOCS}),
    ("prometheus/relative", "prometheus", "pairwise", {"responses": [A, B]}),
    ("prometheus/relative", "prometheus", "pairwise:reason", {"responses": [A, B]}),
    ("prometheus/relative_reference", "prometheus", "pairwise", {"responses": [A, B], "reference": REFERENCE}),
    ("prometheus/relative_context", "prometheus", "pairwise", {"responses": [A, B], "context": DOCS}),
    ("deepseek-grm/pairwise", "deepseek-grm", "pairwise", {"responses": [A, B]}),
    ("deepseek-grm/pairwise_three", "deepseek-grm", "pairwise", {"responses": [A, B, C]}),
    ("deepseek-grm/pointwise", "deepseek-grm", "pointwise", {"response": A}),
    ("deepseek-grm/pairwise_multiturn", "deepseek-grm", "pairwise", {"responses": [A, B], "prompt": MULTI}),
    ("brrm/turn1", "brrm", "pairwise:turn1", {"responses": [A, B]}),
    ("brrm/turn1_multiturn", "brrm", "pairwise:turn1", {"responses": [A, B], "prompt": MULTI}),
    ("brrm/turn2", "brrm", "pairwise:turn2", {"responses": [A, B]}),
    ("rlbff/scalar", "rlbff", "principle", {"response": A, "criterion": PRINCIPLE, "principle": True}),
    ("rlbff/scalar_multiturn", "rlbff", "principle", {"response": A, "criterion": PRINCIPLE, "principle": True, "prompt": MULTI}),
    ("rlbff/genrm", "rlbff-genrm", "principle", {"response": A, "criterion": PRINCIPLE, "principle": True}),
    ("rlbff/genrm", "rlbff-genrm", "principle:reason", {"response": A, "criterion": PRINCIPLE, "principle": True}),
    ("rewardanything/listwise", "rewardanything", "listwise", {"responses": [A, B, C + "\x01\x1f"]}),
    ("rewardanything/listwise_two_criteria", "rewardanything", "listwise", {"responses": [A, B], "criteria": [CRITERION, SHORT]}),
    ("rm-r1/instruct", "rm-r1", "pairwise", {"responses": [A, B]}),
    ("rm-r1/reasoning", "rm-r1-reasoning", "pairwise", {"responses": [A, B]}),
]


def golden(name: str) -> list[tuple[str, str]]:
    return [(m["role"], m["content"].strip()) for m in json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))]


def render(registry: Registry, pack_name: str, step: str, extras: dict[str, Any]) -> list[tuple[str, Any]]:
    pack = registry.get("format_packs", pack_name)
    extras = dict(extras)
    special = {key: extras.pop(key) for key in ("criterion", "prompt", "criteria") if key in extras}
    messages = render_messages(pack.template_dirs, pack.templates[step], variables(pack, **special, **extras))
    return [(m.role, m.content) for m in messages]


@pytest.mark.parametrize(("fixture", "pack", "step", "extras"), CASES, ids=[f"{c[1]}:{c[2]}:{c[0].split('/')[1]}" for c in CASES])
def test_template_renders_the_published_prompt(registry, fixture, pack, step, extras):
    """Sources: see tests/fixtures/golden/<pack>/SOURCE.md (repository, file and commit, or model card)."""
    assert render(registry, pack, step, extras) == golden(fixture)


def test_every_template_of_every_pack_has_a_golden_case(registry):
    covered = {(pack, step) for _, pack, step, _ in CASES}
    for name in ("prometheus", "deepseek-grm", "brrm", "rlbff", "rlbff-genrm", "rewardanything", "rm-r1", "rm-r1-reasoning"):
        pack = registry.get("format_packs", name)
        assert pack.source, name
        assert {(name, step) for step in pack.templates} <= covered, name
        assert (GOLDEN / name.replace("-genrm", "").replace("-reasoning", "") / "SOURCE.md").exists()


def test_the_rewardanything_input_is_python_json(registry):
    """The hand-written JSON escaping is json.dumps(..., ensure_ascii=False) for every control character."""
    every = "".join(chr(i) for i in range(32)) + '"\\/\x7f\u2028é'
    [_, (_, user)] = render(registry, "rewardanything", "listwise", {"responses": [every, "plain"]})
    assert user == json.dumps({"principle": CRITERION.text, "prompt": QUESTION, "responses": {"model-1": every, "model-2": "plain"}},
                              ensure_ascii=False)


@pytest.mark.parametrize(("pack", "step", "extras", "why"), [
    ("prometheus", "pointwise", {"response": A, "criterion": Criterion(id="c", text="t", high="h", low="l", scale={"min": 1, "max": 10})}, "1 to 5"),
    ("prometheus", "pointwise", {"response": A, "criterion": PRINCIPLE}, "Yes/No"),
    ("prometheus", "pointwise", {"response": A, "reference": REFERENCE, "context": DOCS}, "not one with both"),
    ("prometheus", "pairwise", {"responses": [A, B, C]}, "compares 2 responses"),
    ("prometheus", "pairwise", {"responses": [A, B], "prompt": MULTI}, "one instruction"),
    ("deepseek-grm", "pairwise", {"responses": [A, B], "reference": REFERENCE}, "reference"),
    ("brrm", "pairwise:turn1", {"responses": [A, B, C]}, "compares 2 responses"),
    ("brrm", "pairwise:turn1", {"responses": [A, B], "prompt": [Message(role="system", content="Be terse."), *MULTI]}, "system prompt"),
    ("rlbff", "principle", {"response": A, "criterion": PRINCIPLE, "principle": True, "context": DOCS}, "context"),
    ("rlbff-genrm", "principle", {"response": A, "criterion": PRINCIPLE, "principle": True,
                                  "prompt": [Message(role="system", content="Be terse."), *MULTI]}, "system"),
    ("rewardanything", "listwise", {"responses": [A, [{"type": "text", "text": "x"}]]}, "non-text"),
    ("rewardanything", "listwise", {"responses": [A, B], "prompt": MULTI}, "one prompt string"),
    ("rm-r1", "pairwise", {"responses": [A, B], "prompt": MULTI}, "one client question"),
    ("rm-r1-reasoning", "pairwise", {"responses": [A, B], "context": DOCS}, "reference answer or context"),
])
def test_items_the_published_prompt_cannot_show_are_refused(registry, pack, step, extras, why):
    with pytest.raises(TemplateError, match=f"format pack '{pack}' refuses this item: .*{why}"):
        render(registry, pack, step, extras)
