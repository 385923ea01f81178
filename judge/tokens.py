"""Helpers every local backend needs around a tokenizer, kept in one place so they agree.

Prompt ids: rendering the chat template to text and tokenizing that text whole would parse a
`<|im_start|>` written inside an item as a real turn start, so an item could forge turns
(a fake system message, a fake judge answer). `chat_prompt_ids` keeps every message's text
plain: no string in an item can become a special token, while the template's own special tokens
stay what they are. For text without special-token strings the ids are exactly those of
`tokenizer.apply_chat_template(..., tokenize=True)`, so ordinary scores do not move.

Whole-candidate scoring (`whole_candidate_ids`) reads the same template a second way: the chat
answered with each candidate, rendered as a finished conversation, whose ids after the prompt's
are the candidate's tokens and the end of its turn.

The tokenizer is duck-typed (a Hugging Face tokenizer, or vLLM's wrapper of one): the core
imports neither transformers nor vLLM.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from judge.backend import Completion, Request
from judge.models import content_text
from judge.toolcalls import template_fields

_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"  # private-use characters: no template touches them
# A Hugging Face fast tokenizer switches special-token parsing with a flag on its shared Rust
# tokenizer, set at every call: without this lock a plain-text call in one thread could run with
# the flag another thread just set back, and parse an item's `<|im_start|>` after all.
_encoding = threading.Lock()


def encode(tokenizer: Any, text: str, *, plain: bool = False) -> list[int]:
    """`text`'s ids, no special tokens added; `plain`: special-token strings in it are text."""
    with _encoding:
        if plain:
            return list(tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True))
        return list(tokenizer.encode(text, add_special_tokens=False))


def text_chat(request: Request) -> tuple[list[dict[str, Any]], bool]:
    """Messages for a text-only chat template, and whether the last one is an assistant turn to
    continue (a prefilled answer) rather than a new turn to open. Tool calls and tool results
    keep their fields, as Hugging Face templates read them (judge.toolcalls.template_fields)."""
    messages = [{"role": m.role, "content": content_text(m.content), **template_fields(m)} for m in request.messages]
    return messages, bool(messages) and messages[-1]["role"] == "assistant"


@dataclass(frozen=True)
class Specials:
    """A tokenizer's special tokens as strings: what item text must never turn into."""

    ids: dict[str, int]
    pattern: re.Pattern[str] | None  # leftmost-longest, as tokenizers match added tokens
    prefixes: frozenset[str]  # proper prefixes: text ending in one may straddle into a token
    suffixes: frozenset[str]  # proper suffixes: text starting with one may straddle
    lstrip: frozenset[int]  # ids whose token swallows the whitespace before it
    rstrip: frozenset[int]  # ... and after it
    longest: int

    def touches(self, text: str) -> bool:
        """Whether `text`, placed anywhere, could be or be part of a special token."""
        if self.pattern is None or not text:
            return False
        if self.pattern.search(text):
            return True
        for edge in {text, text.strip()}:
            for k in range(1, min(len(edge), self.longest - 1) + 1):
                if edge[-k:] in self.prefixes or edge[:k] in self.suffixes:
                    return True
        return False


_specials_cache: weakref.WeakKeyDictionary[Any, Specials] = weakref.WeakKeyDictionary()


def special_tokens(tokenizer: Any) -> Specials:
    """The tokenizer's special tokens (added tokens marked special, and the named ones), cached."""
    try:
        return _specials_cache[tokenizer]
    except (KeyError, TypeError):
        pass
    ids: dict[str, int] = {}
    lstrip: set[int] = set()
    rstrip: set[int] = set()
    for token_id, token in dict(getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        content = str(getattr(token, "content", token))
        if content and getattr(token, "special", True):
            ids[content] = int(token_id)
            if getattr(token, "lstrip", False):
                lstrip.add(int(token_id))
            if getattr(token, "rstrip", False):
                rstrip.add(int(token_id))
    for content in getattr(tokenizer, "all_special_tokens", None) or []:
        if content and content not in ids:
            ids[content] = int(tokenizer.convert_tokens_to_ids(content))
    ordered = sorted(ids, key=len, reverse=True)
    specials = Specials(
        ids=ids,
        pattern=re.compile("|".join(map(re.escape, ordered))) if ordered else None,
        prefixes=frozenset(s[:k] for s in ordered for k in range(1, len(s))),
        suffixes=frozenset(s[k:] for s in ordered for k in range(1, len(s))),
        lstrip=frozenset(lstrip),
        rstrip=frozenset(rstrip),
        longest=max(map(len, ordered), default=0),
    )
    try:
        _specials_cache[tokenizer] = specials
    except TypeError:  # not weak-referenceable: computed again next time, still correct
        pass
    return specials


def render_chat(
    tokenizer: Any, messages: list[dict[str, Any]], continuing: bool, *, closed: bool = False, tools: Sequence[Any] = ()
) -> str:
    """The model's own chat template as text: a new assistant turn opened, or the last continued.

    `closed`: the chat as a finished conversation (its last message complete, with whatever the
    template puts after it, no new turn opened): what whole-candidate scoring reads.
    `tools`: OpenAI-style function declarations for the template to show (`Request.tools`); the
    template is called without the argument when there are none, exactly as before.
    """
    extra: dict[str, Any] = {"tools": list(tools)} if tools else {}
    if closed:
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False, **extra))
    if continuing:
        return str(tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True, **extra))
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra))


@dataclass(frozen=True)
class _Rendered:
    """One request's chat rendered by the model's template, before tokenization."""

    text: str
    messages: list[dict[str, Any]]
    continuing: bool
    whole: bool  # no message text can touch a special token: `text` may be tokenized whole
    closed: bool = False  # rendered as a finished conversation (render_chat's `closed`)
    tools: tuple[dict[str, Any], ...] = ()  # the declarations the template showed (render_chat's `tools`)


def _render(tokenizer: Any, request: Request, specials: Specials) -> _Rendered | str:
    """The request's chat through the template, or the reason its prompt cannot be built."""
    return _render_messages(tokenizer, *text_chat(request), specials, tools=request.tools)


def _render_messages(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    continuing: bool,
    specials: Specials,
    closed: bool = False,
    tools: tuple[dict[str, Any], ...] = (),
) -> _Rendered | str:
    for message in messages:
        if specials.touches(message["role"]):
            return f"message role {message['role']!r} contains a special token of the model's tokenizer"
    # Declarations and the calls a model wrote are template text, never set aside as plain text
    # below: one holding a special-token string could forge a turn, so it is refused instead.
    tool_text = [json.dumps(tools, ensure_ascii=False)] if tools else []
    tool_text += [json.dumps(m["tool_calls"], ensure_ascii=False) for m in messages if m.get("tool_calls")]
    tool_text += [str(m[key]) for m in messages for key in ("tool_call_id", "name") if key in m]
    if any(specials.pattern and specials.pattern.search(text) for text in tool_text):
        return "a tool declaration or tool call contains a special token of the model's tokenizer"
    try:
        text = render_chat(tokenizer, messages, continuing, closed=closed, tools=tools)
    except Exception as exc:  # a template's own raise_exception(), a bad role order: this item only
        return f"the model's chat template refused this chat: {_one_line(exc)}"
    whole = not any(specials.touches(m["content"]) for m in messages)
    return _Rendered(text, messages, continuing, whole, closed, tools)


def _finish(tokenizer: Any, rendered: _Rendered | str, specials: Specials) -> tuple[list[int], str | None]:
    """Ids for a request whose text may hold special-token strings (or its reason, if it failed)."""
    if isinstance(rendered, str):
        return [], rendered
    return plain_content_ids(
        tokenizer, rendered.messages, rendered.continuing, rendered.text, specials, closed=rendered.closed,
        tools=rendered.tools,
    )


def chat_prompt_ids(tokenizer: Any, request: Request) -> tuple[list[int], str | None]:
    """The request's chat as prompt ids in which no item text is a special token.

    Returns (ids, None), or ([], reason) when the prompt cannot be built safely (a role holding
    a special-token string, or a template that rewrites message text holding one).
    """
    specials = special_tokens(tokenizer)
    rendered = _render(tokenizer, request, specials)
    if isinstance(rendered, _Rendered) and rendered.whole:
        # Nothing in the items can match a special token: the template's text tokenized whole
        # is exactly what apply_chat_template(tokenize=True) gives.
        return encode(tokenizer, rendered.text), None
    return _finish(tokenizer, rendered, specials)


def chat_prompt_ids_batch(tokenizer: Any, requests: Sequence[Request]) -> list[tuple[list[int], str | None]]:
    """`chat_prompt_ids` of each request (the same ids), tokenizing in one call every prompt
    whose text cannot touch a special token.

    One `encode` per request is serial and was the largest cost of a backend's batch (189 ms of
    a 128-request batch on an H100 host, against 20 ms for one call: a fast tokenizer spreads a
    batch over the cores). Requests whose text could touch a special token still take the safe
    path, one at a time.
    """
    specials = special_tokens(tokenizer)
    rendered = [_render(tokenizer, request, specials) for request in requests]
    texts = {i: one.text for i, one in enumerate(rendered) if isinstance(one, _Rendered) and one.whole}
    ids_of = dict(zip(texts, encode_batch(tokenizer, list(texts.values()))))
    return [(ids_of[i], None) if i in ids_of else _finish(tokenizer, one, specials) for i, one in enumerate(rendered)]


def end_ids(tokenizer: Any, *more: Any) -> frozenset[int]:
    """The ids that end an assistant turn: the tokenizer's eos and the generation config's
    (`more`: an int, a list of them, or None), so a model with several stop tokens has them all."""
    found: set[int] = set()
    for value in (getattr(tokenizer, "eos_token_id", None), *more):
        for one in value if isinstance(value, (list, tuple, set, frozenset)) else [value]:
            if isinstance(one, int) and not isinstance(one, bool):
                found.add(one)
    return frozenset(found)


def answered_chat(request: Request, answer: str) -> list[dict[str, Any]]:
    """The request's chat with `answer` as the assistant's whole reply: appended to the partial
    assistant message of a continued chat, else as a new assistant message."""
    messages, continuing = text_chat(request)
    if continuing:
        return [*messages[:-1], dict(messages[-1], content=messages[-1]["content"] + answer)]
    return [*messages, {"role": "assistant", "content": answer}]


def whole_candidate_ids(
    tokenizer: Any, requests: Sequence[Request], prompts: Sequence[list[int]], ends: frozenset[int]
) -> list[tuple[list[list[int]], str | None]]:
    """For each request (with its prompt ids), the ids each candidate adds as a whole answer:
    the candidate's tokens and the end-of-turn token after it, or the reason they cannot be read.

    The sequence comes from the chat template itself: the chat answered with the candidate and
    rendered as a finished conversation must begin with the prompt's ids; the scored ids are
    those after the prompt, up to and including the first id in `ends`. Item and candidate text
    stays plain, as in `chat_prompt_ids`. One tokenizer call for every ordinary sequence.
    """
    specials = special_tokens(tokenizer)
    rendered = [
        [_render_messages(tokenizer, answered_chat(r, c), False, specials, closed=True) for c in r.candidates]
        for r in requests
    ]
    flat = [one for row in rendered for one in row]
    texts = {i: one.text for i, one in enumerate(flat) if isinstance(one, _Rendered) and one.whole}
    ids_of = dict(zip(texts, encode_batch(tokenizer, list(texts.values()))))
    fulls = iter([(ids_of[i], None) if i in ids_of else _finish(tokenizer, one, specials) for i, one in enumerate(flat)])
    answers: list[tuple[list[list[int]], str | None]] = []
    for request, prompt in zip(requests, prompts):
        scored: list[list[int]] = []
        problems: list[str] = []
        for candidate, (full, problem) in zip(request.candidates, [next(fulls) for _ in request.candidates]):
            if problem is None:
                full, problem = _scored_tail(full, prompt, ends)
            scored.append(full)
            if problem and not problems:
                problems.append(f"candidate {candidate!r} cannot be scored as a whole answer: {problem}")
        answers.append(([], problems[0]) if problems else (scored, None))
    return answers


def _scored_tail(full: list[int], prompt: list[int], ends: frozenset[int]) -> tuple[list[int], str | None]:
    """The ids after the prompt up to and including the first end-of-turn id, or why there are none."""
    if full[: len(prompt)] != prompt:
        return [], (
            "the chat template's rendering of the answered chat does not begin with the prompt's tokens "
            "(the template rewrites earlier text, or the answer's first token merges with the prompt's last)"
        )
    tail = full[len(prompt) :]
    cut = next((i for i, token in enumerate(tail) if token in ends), None)
    if cut is None:
        return [], f"the chat template puts no end-of-turn token (ids {sorted(ends)}) after the answer"
    return tail[: cut + 1], None


def encode_batch(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Each text's ids in one tokenizer call, no special tokens added (`encode` of each, at once)."""
    if not texts:
        return []
    with _encoding:
        return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def plain_content_ids(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    continuing: bool,
    text: str,
    specials: Specials,
    *,
    closed: bool = False,
    tools: Sequence[Any] = (),
) -> tuple[list[int], str | None]:
    """Ids with the template's own special tokens kept and all message text tokenized as text.

    The template is rendered once more with a unique mark in place of each message's text, which
    shows where the template's own text is. The prompt is then the template's special tokens,
    and between them runs of text (template text and message text together, so tokens merge
    across the seam exactly as before) tokenized with special-token parsing off.
    """
    nonce = secrets.token_hex(6)
    marks = [f"{_MARK_OPEN}{nonce}:{i}{_MARK_CLOSE}" for i in range(len(messages))]
    try:
        # An empty text needs no mark (nothing to keep plain), and templates that test it
        # (`if message.content`, as beside a tool call) must see it empty.
        marked = [dict(m, content=mark) if m["content"] else m for m, mark in zip(messages, marks)]
        skeleton = render_chat(tokenizer, marked, continuing, closed=closed, tools=tools)
    except Exception as exc:  # a template that inspects the text it is given
        return [], f"the model's chat template refused this chat with its text set aside: {_one_line(exc)}"
    parts = re.split(f"{_MARK_OPEN}{nonce}:(\\d+){_MARK_CLOSE}", skeleton)
    pieces, order = parts[0::2], [int(i) for i in parts[1::2]]
    for rewrite in (_as_is, str.strip):  # str.strip: templates that `| trim` the content
        contents = [rewrite(messages[i]["content"]) for i in order]
        if _interleave(pieces, contents) == text:
            break
    else:
        return [], (
            "an item's text contains a special token of the model's tokenizer, and the chat template "
            "rewrites message text, so the prompt cannot be built with that text kept plain"
        )
    ids: list[int] = []
    runs = _runs(pieces, contents, specials)
    for index, run in enumerate(runs):
        if isinstance(run, int):
            ids.append(run)
            continue
        if index > 0 and runs[index - 1] in specials.rstrip:
            run = run.lstrip()
        if index + 1 < len(runs) and runs[index + 1] in specials.lstrip:
            run = run.rstrip()
        if run:
            ids += encode(tokenizer, run, plain=True)
    return ids, None


def _one_line(exc: Exception) -> str:
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__


def _as_is(text: str) -> str:
    return text


def _interleave(pieces: list[str], contents: list[str]) -> str:
    out = [pieces[0]]
    for content, piece in zip(contents, pieces[1:]):
        out += [content, piece]
    return "".join(out)


def _runs(pieces: list[str], contents: list[str], specials: Specials) -> list[str | int]:
    """Alternating text runs and special-token ids; specials are looked for in template text only."""
    runs: list[str | int] = []
    pending: list[str] = []
    for index, piece in enumerate(pieces):
        position = 0
        for match in specials.pattern.finditer(piece) if specials.pattern else ():
            pending.append(piece[position : match.start()])
            runs += ["".join(pending), specials.ids[match.group()]]
            pending, position = [], match.end()
        pending.append(piece[position:])
        if index < len(contents):
            pending.append(contents[index])
    runs.append("".join(pending))
    return runs


def token_count(tokenizer: Any, text: str) -> int:
    """How many tokens `text` is, with no special tokens added (the candidates' rule)."""
    return len(encode(tokenizer, text))


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
