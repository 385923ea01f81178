"""Rendering prompt templates into chat messages, in a sandbox with strict variables.

A template is plain Jinja text. `{{ turn('user') }}` starts a new message; `{{ chat(messages) }}`
inserts a list of messages verbatim (custom roles and content parts untouched);
`{{ content(x) }}` inserts a content value, keeping non-text parts when it fills a message alone.
Markers carry a random nonce per render, so text inside an item can never forge a turn.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.runtime import new_context
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
        auto_reload=False,  # templates are read once per process: no stat() of the file at every render
    )


_KINDS = frozenset({"turn", "chat", "content"})


class _Builder:
    """Collects the verbatim pieces a render refers to, behind nonce markers.

    A marker is `NUL nonce:kind:index NUL`. The nonce is new for every render, so no text known
    before the render (an item's) can contain one. Markers are found with `str.split` on the
    render's own prefix rather than a regular expression built per nonce: compiling one per
    render was half the engine's CPU time.
    """

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(8)
        self.prefix = f"\x00{self.nonce}:"
        self.pieces: list[Any] = []

    def _mark(self, kind: str, value: Any) -> str:
        self.pieces.append(value)
        return f"{self.prefix}{kind}:{len(self.pieces) - 1}\x00"

    def _markers(self, text: str) -> Iterator[tuple[str, str | None, Any]]:
        """(text before, kind, piece) for each marker of this render, then (the rest, None, None)."""
        chunks = text.split(self.prefix)
        literal = chunks[0]
        for chunk in chunks[1:]:
            head, closed, rest = chunk.partition("\x00")
            kind, _, index = head.partition(":")
            if closed and kind in _KINDS and index.isascii() and index.isdigit() and int(index) < len(self.pieces):
                yield literal, kind, self.pieces[int(index)]
                literal = rest
            else:  # the prefix without a whole marker after it is just text
                literal += self.prefix + chunk
        yield literal, None, None

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
        for literal, kind, value in self._markers(text):
            parts.append(literal)
            if kind == "content":
                parts.append(value)
                continue
            # a turn, a chat or the end closes the message being written
            if role is not None:
                # role is the str given to turn(), content a str or a list of part dicts: valid by construction
                messages.append(Message.model_construct(role=role, content=_join(parts)))
            elif any(isinstance(p, str) and p.strip() for p in parts):
                raise TemplateError("text outside any message: start one with turn('role') first")
            parts = []
            if kind == "turn":
                role = value
            elif kind == "chat":
                messages.extend(value)
                role = None
        return messages


def _join(parts: list[Any]) -> Content:
    """Text stays text; a message that is only one content-part list keeps its parts intact."""
    if all(isinstance(p, str) for p in parts):
        return "".join(parts).strip()
    meaningful = [p for p in parts if not (isinstance(p, str) and not p.strip())]
    if len(meaningful) == 1 and isinstance(meaningful[0], list):
        return meaningful[0]
    return "".join(p if isinstance(p, str) else content_text(p) for p in parts).strip()


@lru_cache(maxsize=256)
def _globals(template: jinja2.Template) -> dict[str, Any]:
    """A template's globals (range, dict, namespace, ...) as a plain dict, made once."""
    return dict(template.globals)


def render_messages(folders: tuple[Path, ...], template: str, variables: dict[str, Any]) -> list[Message]:
    """Render one template into chat messages."""
    env = environment(*folders)
    builder = _Builder()
    try:
        compiled = env.get_template(template)
        # What Template.render does, less its copy of the environment's globals (a ChainMap, slow
        # to iterate) into every render: they are copied into a plain dict once per template.
        context = {**_globals(compiled), **variables, "turn": builder.turn, "chat": builder.chat, "content": builder.content}
        # (and its new_context would iterate that ChainMap once more for the globals' names)
        jinja_context = new_context(env, compiled.name, compiled.blocks, context, True, _globals(compiled), None)
        text = env.concat(compiled.root_render_func(jinja_context))  # type: ignore[attr-defined]
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
