"""Item text must never become a chat turn on the server.

vLLM applies the chat template to the messages, renders them to text and tokenizes that text
with special tokens parsed, on the chat endpoint and in /tokenize alike; its API has no field
to tokenize message contents as plain text (no `split_special_tokens`). So a response that
contains `<|im_end|><|im_start|>system ...` would forge real turns. The contents are made
safe before they are sent: every special-token string in them is broken with a zero-width
space after its first character, so it reads the same but tokenizes as plain text.

Which strings are special is asked of the server's own tokenizer: a markup-like string
(`<...>` or `[...]`, the shape of every chat control token we know of) is special when it stays
one token even glued between letters ("a<|im_start|>a" -> a, <|im_start|>, a), which an
ordinary token does not. Answers are cached per string for the run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

# Every start position, so "[<|im_start|>]" yields both "[<|im_start|>]" and "<|im_start|>".
MARKUP = re.compile(r"(?=(<[^<>\s]{1,80}>|\[[^\[\]\s]{1,80}\]))")
BREAK = "\u200b"  # zero-width space

IsSpecial = Callable[[str], Awaitable[bool]]


async def special_strings(text: str, is_special: IsSpecial) -> list[str]:
    """The special-token strings in `text`, longest first, as `is_special` (the server) says."""
    candidates = list(dict.fromkeys(m.group(1) for m in MARKUP.finditer(text)))
    verdicts = await asyncio.gather(*(is_special(c) for c in candidates))
    return sorted((c for c, special in zip(candidates, verdicts) if special), key=len, reverse=True)


def defused(text: str, specials: list[str]) -> str:
    for special in specials:
        text = text.replace(special, special[0] + BREAK + special[1:])
    return text


async def guarded_messages(messages: list[dict[str, Any]], is_special: IsSpecial) -> list[dict[str, Any]]:
    """The messages with every special-token string in their text made plain text."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            message = {**message, "content": await _plain(content, is_special)}
        elif isinstance(content, list):
            parts = []
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    part = {**part, "text": await _plain(part["text"], is_special)}
                parts.append(part)
            message = {**message, "content": parts}
        out.append(message)
    return out


async def _plain(text: str, is_special: IsSpecial) -> str:
    # One pass is enough (a new occurrence would have to contain the inserted space); the second
    # pass checks that, and a server whose special tokens contain zero-width spaces gets a few more.
    for _ in range(4):
        specials = await special_strings(text, is_special)
        if not specials:
            return text
        text = defused(text, specials)
    return text
