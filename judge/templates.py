"""Rendering prompt templates into chat messages, in a sandbox with strict variables.

A template is plain Jinja text. `{{ turn('user') }}` starts a new message; `{{ chat(messages) }}`
inserts a list of messages verbatim (custom roles and content parts untouched);
`{{ content(x) }}` inserts a content value, keeping non-text parts when it fills a message alone.
Markers carry a random nonce per render, so text inside an item can never forge a turn.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from judge.errors import TemplateError
from judge.models import Content, Message, content_text


def shipped_prompts_dir() -> Path:
    return Path(str(resources.files("judge.prompts")))


@lru_cache(maxsize=None)
def environment(*folders: Path) -> ImmutableSandboxedEnvironment:
    """A sandboxed environment that fails on undefined variables instead of rendering blanks."""
    return ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class _Builder:
    """Collects the verbatim pieces a render refers to, behind nonce markers."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(8)
        self.pieces: list[Any] = []
        self.pattern = re.compile(rf"\x00{self.nonce}:(turn|chat|content):(\d+)\x00")

    def _mark(self, kind: str, value: Any) -> str:
        self.pieces.append(value)
        return f"\x00{self.nonce}:{kind}:{len(self.pieces) - 1}\x00"

    def turn(self, role: str) -> str:
        return self._mark("turn", str(role))

    def chat(self, messages: Any) -> str:
        if isinstance(messages, str):
            messages = [Message(role="user", content=messages)]
        return self._mark("chat", [m if isinstance(m, Message) else Message(**m) for m in messages])

    def content(self, value: Content) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, jinja2.Undefined):
            value._fail_with_undefined_error()
        if not (isinstance(value, list) and all(isinstance(part, dict) for part in value)):
            raise TemplateError(f"content() takes text or a list of content parts, not {type(value).__name__}")
        return self._mark("content", value)

    def split(self, text: str) -> list[Message]:
        messages: list[Message] = []
        role: str | None = None
        parts: list[Any] = []

        def flush() -> None:
            nonlocal parts
            if role is None:
                if "".join(p for p in parts if isinstance(p, str)).strip():
                    raise TemplateError("text outside any message: start one with turn('role') first")
                parts = []
                return
            messages.append(Message(role=role, content=_join(parts)))
            parts = []

        position = 0
        for match in self.pattern.finditer(text):
            parts.append(text[position : match.start()])
            position = match.end()
            kind, index = match.group(1), int(match.group(2))
            value = self.pieces[index]
            if kind == "turn":
                flush()
                role = value
            elif kind == "chat":
                flush()
                messages.extend(value)
                role = None
            else:
                parts.append(value)
        parts.append(text[position:])
        flush()
        return messages


def _join(parts: list[Any]) -> Content:
    """Text stays text; a message that is only one content-part list keeps its parts intact."""
    meaningful = [p for p in parts if not (isinstance(p, str) and not p.strip())]
    if len(meaningful) == 1 and isinstance(meaningful[0], list):
        return meaningful[0]
    return "".join(p if isinstance(p, str) else content_text(p) for p in parts).strip()


def render_messages(folders: tuple[Path, ...], template: str, variables: dict[str, Any]) -> list[Message]:
    """Render one template into chat messages."""
    env = environment(*folders)
    builder = _Builder()
    try:
        text = env.get_template(template).render(
            **variables, turn=builder.turn, chat=builder.chat, content=builder.content
        )
        messages = builder.split(text)
    except TemplateError as exc:
        raise TemplateError(f"template '{template}': {exc}") from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template '{exc.name}' not found in {', '.join(map(str, folders))}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template '{template}': {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{exc.filename or template}:{exc.lineno}: {exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"template '{template}' tried something unsafe: {exc}") from None
    except Exception as exc:  # anything else a template does wrong is still the template's error
        raise TemplateError(f"template '{template}': {type(exc).__name__}: {exc}") from None
    if not messages:
        raise TemplateError(f"template '{template}' produced no messages; start with turn('user')")
    return messages
