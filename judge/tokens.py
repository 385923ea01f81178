"""Helpers every local backend needs around a tokenizer, kept in one place so they agree."""

from __future__ import annotations

from collections.abc import Callable

from typing import Any

from judge.backend import Completion, Request
from judge.models import content_text


def text_chat(request: Request) -> tuple[list[dict[str, Any]], bool]:
    """Messages for a text-only chat template, and whether the last one is an assistant turn to
    continue (a prefilled answer) rather than a new turn to open."""
    messages = [{"role": m.role, "content": content_text(m.content)} for m in request.messages]
    return messages, bool(messages) and messages[-1]["role"] == "assistant"


def candidate_token_ids(encode: Callable[[str], list[int]], candidates: tuple[str, ...]) -> tuple[dict[str, int], str | None]:
    """Each candidate's single token id, or the reason one is not a single token (then no ids)."""
    ids: dict[str, int] = {}
    for candidate in candidates:
        tokens = encode(candidate)
        if len(tokens) != 1:
            return {}, f"candidate '{candidate}' is {len(tokens)} tokens for this tokenizer; candidates must be one token"
        ids[candidate] = tokens[0]
    return ids, None


def too_long(prompt_tokens: int, max_tokens: int, context: int | None) -> Completion:
    """The named status for an item that does not fit: never silently truncated."""
    return Completion(
        error=f"too_long: {prompt_tokens} prompt tokens + {max_tokens} to generate exceed the context of {context}"
    )
