"""What an OpenAI-compatible server answers, checked at the edge before anything reads it.

A 200 without `choices`, with `choices: []`, with fewer samples than asked, or of the wrong
shape is a Completion with an `error` that says so (so `--resume` runs it again), never an
`unparsed` verdict and never a traceback. The tool calls of an answer are read (and checked)
only for a request that offered tools.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from judge.backend import Completion, ToolCall
from judge.models import Usage


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _TopLogprob(_Loose):
    token: str
    logprob: float


class _TokenLogprob(_Loose):
    token: str
    logprob: float
    top_logprobs: list[_TopLogprob] = Field(default_factory=list)


class _ChatLogprobs(_Loose):
    content: list[_TokenLogprob] | None = None


class _ChatMessage(_Loose):
    content: str | None = None
    tool_calls: Any = None  # read as _ToolCalls only when the request offered tools


class _Function(_Loose):
    name: str = Field(min_length=1)
    arguments: str | dict[str, Any] | None = None  # JSON text, as OpenAI sends it; some servers send an object


class _ToolCall(_Loose):
    id: str | None = None
    function: _Function


_ToolCalls = TypeAdapter(list[_ToolCall] | None)


class _ChatChoice(_Loose):
    index: int = 0
    message: _ChatMessage
    finish_reason: str | None = None
    logprobs: _ChatLogprobs | None = None


class _TextLogprobs(_Loose):
    top_logprobs: list[dict[str, float] | None] | None = None


class _TextChoice(_Loose):
    index: int = 0
    text: str
    finish_reason: str | None = None
    logprobs: _TextLogprobs | None = None


class _Usage(_Loose):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatAnswer(_Loose):
    choices: list[_ChatChoice] = Field(min_length=1)
    usage: _Usage | None = None


class TextAnswer(_Loose):
    choices: list[_TextChoice] = Field(min_length=1)
    usage: _Usage | None = None


def completion_from(
    payload: Any, candidates: dict[str, int], endpoint: str, samples: int, url: str, tools: bool = False
) -> Completion:
    """The Completion for a 200's JSON, or one with an `error` naming what is wrong with it;
    with `tools`, each choice's tool calls too (`Completion.tool_calls`)."""
    if isinstance(payload, dict) and payload.get("error") and not payload.get("choices"):
        return Completion(error=f"{url} answered 200 with an error: {str(payload['error'])[:200]}")
    try:
        answer = (ChatAnswer if endpoint == "chat" else TextAnswer).model_validate(payload)
    except ValidationError as exc:
        return Completion(error=f"malformed answer from {url}: {_first_problem(exc)}")
    choices = sorted(answer.choices, key=lambda c: c.index)
    if len(choices) < samples:
        return Completion(error=f"malformed answer from {url}: asked for {samples} samples (n), got {len(choices)} choices")
    texts = [c.message.content or "" if isinstance(c, _ChatChoice) else c.text for c in choices]
    logprobs = _candidate_logprobs(choices[0], candidates) if candidates else None
    usage = answer.usage or _Usage()
    calls: list[list[ToolCall]] | None = None
    if tools:
        try:
            calls = [_tool_calls(c.message.tool_calls) for c in choices if isinstance(c, _ChatChoice)]
        except ValidationError as exc:
            return Completion(error=f"malformed answer from {url}: tool_calls.{_first_problem(exc)}")
    return Completion(
        texts=texts,
        finish_reasons=[c.finish_reason for c in choices],
        candidate_logprobs=logprobs,
        tool_calls=calls,
        usage=Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, requests=1),
    )


def _tool_calls(raw: Any) -> list[ToolCall]:
    """A choice's calls; arguments as JSON text (an object some servers send is written as JSON)."""
    calls = []
    for index, call in enumerate(_ToolCalls.validate_python(raw) or []):
        arguments = call.function.arguments
        text = arguments if isinstance(arguments, str) else "" if arguments is None else json.dumps(arguments)
        calls.append(ToolCall(id=call.id or f"call_{index}", name=call.function.name, arguments=text))
    return calls


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "the body"
    if where == "choices" and first["type"] in {"missing", "too_short"}:
        return "no choices in it (HTTP 200 without an answer)"
    return f"{where}: {first['msg']}"


def _candidate_logprobs(choice: _ChatChoice | _TextChoice, candidates: dict[str, int]) -> dict[str, float]:
    """Logprobs of the asked token ids at the first generated position (tokens come as 'token_id:N').

    A candidate the server did not return is left out; the parser reports it (never a zero).
    """
    by_id: dict[int | None, float] = {}
    if isinstance(choice, _ChatChoice):
        first = (choice.logprobs.content or []) if choice.logprobs else []
        if first:
            by_id = {_token_id(e.token): e.logprob for e in first[0].top_logprobs}
    elif choice.logprobs and choice.logprobs.top_logprobs:
        by_id = {_token_id(token): value for token, value in (choice.logprobs.top_logprobs[0] or {}).items()}
    return {c: float(by_id[i]) for c, i in candidates.items() if i in by_id}


def _token_id(token: str) -> int | None:
    head, sep, tail = token.partition(":")
    return int(tail) if head == "token_id" and sep and tail.lstrip("-").isdigit() else None
