"""Native tool calling for local models: what their chat templates take, and the calls read back.

An OpenAI-compatible server takes tool declarations and returns calls as fields of its answer.
A local model (transformers, vLLM offline) is shown the declarations by its own chat template
(`apply_chat_template(tools=...)`) and writes its calls in its answer. The templates of Hermes,
Qwen2.5 and SmolLM3 have it write

    <tool_call>
    {"name": "calculator", "arguments": {"expression": "2+2"}}
    </tool_call>

which `parse_tool_calls` reads back as ToolCall objects (ids call_0, call_1, ...), the rest of
the text being the content. A block that is not a JSON object with a name stays in the content
as written: a malformed call is never guessed at.

A model is able when its template mentions `tools` (a template that never reads them would drop
the declarations silently). Chats that go on after a call carry OpenAI's shape (an assistant
message with `tool_calls`, whose arguments are JSON text, and `tool` messages with
`tool_call_id`); Hugging Face templates want each call's arguments as a dict (they write them
with `tojson`), so `template_fields` hands them over parsed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from judge.backend import Completion, ToolCall
from judge.models import Message

OPEN, CLOSE = "<tool_call>", "</tool_call>"
# A closed block, or an unclosed one running to the end (the model stopped right after it).
_BLOCK = re.compile(re.escape(OPEN) + r"((?:(?!" + re.escape(OPEN) + r").)*?)(?:" + re.escape(CLOSE) + r"|\Z)", re.DOTALL)
_MENTIONS_TOOLS = re.compile(r"\btools\b")


def takes_tools(template: Any) -> bool:
    """Whether a chat template (its Jinja source, or named sources as a dict or a list of
    {name, template}) reads `tools`: the declarations reach the model only then."""
    if isinstance(template, str):
        return bool(_MENTIONS_TOOLS.search(template))
    if isinstance(template, dict):
        return any(takes_tools(source) for source in template.values())
    if isinstance(template, list):
        return any(takes_tools(entry.get("template") if isinstance(entry, dict) else entry) for entry in template)
    return False


def folder_takes_tools(folder: str | Path) -> bool | None:
    """`takes_tools` for a Hugging Face model folder's template, read from its files alone (no
    tokenizer loaded, nothing converted); None when the folder holds no template to read."""
    root = Path(folder)
    sources: list[Any] = []
    try:
        if (root / "chat_template.jinja").is_file():
            sources.append((root / "chat_template.jinja").read_text(encoding="utf-8"))
        extra = root / "additional_chat_templates"
        if extra.is_dir():
            sources += [path.read_text(encoding="utf-8") for path in sorted(extra.glob("*.jinja"))]
        for name, key in (("chat_template.json", "chat_template"), ("tokenizer_config.json", "chat_template")):
            if (root / name).is_file():
                value = json.loads((root / name).read_text(encoding="utf-8")).get(key)
                if value is not None:
                    sources.append(value)
    except (OSError, ValueError, AttributeError):
        return None
    return takes_tools(sources) if sources else None


def template_fields(message: Message) -> dict[str, Any]:
    """The tool fields of a chat message as Hugging Face templates read them ({} for any other
    message, so an ordinary chat renders exactly as before): `tool_calls` with each call's
    arguments parsed into a dict where they are a JSON object, `tool_call_id` and a tool's `name`."""
    extra = message.model_extra or {}
    fields: dict[str, Any] = {}
    if extra.get("tool_calls"):
        fields["tool_calls"] = [_template_call(call) for call in extra["tool_calls"]]
    if extra.get("tool_call_id") is not None:
        fields["tool_call_id"] = extra["tool_call_id"]
    if message.role == "tool" and isinstance(extra.get("name"), str):
        fields["name"] = extra["name"]
    return fields


def _template_call(call: Any) -> Any:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    function = dict(call["function"])
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            function["arguments"] = parsed
    return {**call, "type": call.get("type", "function"), "function": function}


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """(the text without its well-formed `<tool_call>` blocks, the calls in them, in order).

    Each block must hold one JSON object with a string `name` and `arguments` that are an object
    (or JSON text, or absent: no arguments); its arguments are given back as JSON text. Any
    other block is left in the content as written. Without a call, the text is returned as is.
    """
    calls: list[ToolCall] = []
    kept: list[str] = []
    position = 0
    for match in _BLOCK.finditer(text):
        call = _read_call(match.group(1), len(calls))
        if call is None:
            continue
        kept.append(text[position : match.start()])
        position = match.end()
        calls.append(call)
    if not calls:
        return text, []
    kept.append(text[position:])
    return "".join(kept).strip(), calls


def _read_call(body: str, index: int) -> ToolCall | None:
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return None
    arguments = value.get("arguments", {})
    if isinstance(arguments, dict):
        arguments = json.dumps(arguments, ensure_ascii=False)
    elif not isinstance(arguments, str):
        return None
    return ToolCall(id=f"call_{index}", name=value["name"], arguments=arguments)


def with_tool_calls(completion: Completion) -> Completion:
    """A local model's completion with the calls in each text read out (`Completion.tool_calls`)."""
    if completion.error is not None:
        return completion
    parsed = [parse_tool_calls(text) for text in completion.texts]
    return completion.model_copy(update={"texts": [content for content, _ in parsed], "tool_calls": [c for _, c in parsed]})


def tools_refused(model: str, whole: bool = False) -> str:
    """The error of a request with tools that a local model cannot answer natively: its template
    does not show them, or the request also scores whole candidates (a verdict is asked alone)."""
    if whole:
        return "a request with tools cannot also score whole candidates; ask for the verdict in a request without tools"
    return (
        f"{model}'s chat template does not render tools (it never reads `tools`), so the model cannot call "
        "them natively; use a model whose template does (Qwen2.5, Hermes, SmolLM3) or a strategy that "
        "describes the tools in the prompt"
    )


def markers_special(specials: dict[str, int]) -> bool:
    """Whether a tokenizer makes the call markers special tokens (some Hermes-style models):
    decoding that skips special tokens would then erase them, and the calls with them."""
    return OPEN in specials or CLOSE in specials


def drop_specials(text: str, specials: dict[str, int]) -> str:
    """Text decoded with special tokens kept, without those other than the call markers: what
    skipping special tokens gives, the calls still readable."""
    others = sorted((s for s in specials if s not in (OPEN, CLOSE)), key=len, reverse=True)
    return re.sub("|".join(map(re.escape, others)), "", text) if others else text
