"""The seam between the engine and any model: prepared requests in, completions out.

A backend knows nothing of rubrics or templates; the engine knows nothing of torch, vLLM or
HTTP. Like an httpx transport, a backend is one small async method plus a declaration of what
it can do, so the engine can batch, choose a strategy, or fail early with a clear message.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from judge.models import Message, Usage


class SamplingParams(BaseModel):
    """How to sample; greedy by default so judgments are reproducible."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(default=16, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1)
    seed: int | None = None
    stop: tuple[str, ...] = ()


class Request(BaseModel):
    """A prepared, backend-neutral model call.

    `candidates` asks for the exact log-probability of each given token at the first generated
    position (Yes/No, A/B, score digits), read from the full distribution, never from a top-k list.
    With `whole_candidates`, a candidate may be several tokens and its log-probability is that of
    the model's whole answer being exactly that text and then ending its turn (teacher-forced:
    every token of the candidate plus the end-of-turn token), so "1" and "10" are told apart.

    A chat whose last message has role `assistant` is continued, not answered: the model writes
    on from the end of that message (backends with `Capabilities.continuation`).

    `tools` are OpenAI-style function declarations (`{"type": "function", "function": {name,
    description, parameters}}`) the model may call natively (`Capabilities.tool_calling`); its
    calls come back in `Completion.tool_calls`. A chat may then carry an assistant message with
    `tool_calls` and `tool` messages with `tool_call_id`, in OpenAI's shape.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    messages: tuple[Message, ...]
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    candidates: tuple[str, ...] = ()
    whole_candidates: bool = False
    tools: tuple[dict[str, Any], ...] = ()

    @property
    def continues(self) -> bool:
        """Whether the last message is a partial assistant answer for the model to continue."""
        return bool(self.messages) and self.messages[-1].role == "assistant"

    def key(self) -> str:
        """A digest of everything that determines the answer, for deduplication within a run.

        pydantic's own JSON (every field, in declaration order, extras included) is four times
        cheaper than `json.dumps(model_dump())`; content-part dicts keep their key order, so the
        same parts written in another order are only a missed deduplication, never a false one.
        """
        return hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()


class ToolCall(BaseModel):
    """A tool call the model made natively: the arguments exactly as it wrote them (JSON text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    arguments: str


class Completion(BaseModel):
    """What a backend returns for one request: n texts, candidate logprobs, usage, or an error."""

    # A candidate the model rules out has logprob -inf; JSON keeps it as -Infinity (the default,
    # null, would not read back), so a remembered or cached completion is the same completion.
    model_config = ConfigDict(ser_json_inf_nan="constants")

    texts: list[str] = Field(default_factory=list)
    finish_reasons: list[str | None] = Field(default_factory=list)
    candidate_logprobs: dict[str, float] | None = None
    tool_calls: list[list[ToolCall]] | None = None  # per text: the calls made natively (Request.tools)
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None


class Capabilities(BaseModel):
    """What a backend can do; the scheduler sizes batches and concurrency from it."""

    max_batch_size: int = Field(default=8, ge=1, description="requests per complete() call")
    max_concurrency: int = Field(default=1, ge=1, description="complete() calls in flight at once")
    exact_candidates: bool | None = Field(
        default=False, description="exact next-token candidate logprobs; None: unknown until start()"
    )
    native_n: bool = False
    context_length: int | None = None
    continuation: bool = Field(
        default=False, description="continues a final partial assistant message instead of opening a new turn"
    )
    whole_candidates: bool = Field(
        default=False, description="scores multi-token candidates exactly, as whole answers (Request.whole_candidates)"
    )
    tool_calling: bool | None = Field(
        default=False, description="calls tools natively (Request.tools -> Completion.tool_calls); None: unknown until start()"
    )


@runtime_checkable
class Backend(Protocol):
    """Any model the engine can call. Implementations live in plugins, never in the core."""

    name: str
    model: str
    capabilities: Capabilities

    async def complete(self, requests: list[Request]) -> list[Completion]:
        """Answer each request, in order; a per-request failure is a Completion with `error`."""
        ...

    async def aclose(self) -> None:
        """Release what the backend holds (connections, engines)."""
        ...


# A backend may also define `async def start(self) -> None`, awaited once before the first
# request of a run: the place to load weights or open connections outside any item's latency.


def backend_options(pairs: list[str]) -> dict[str, Any]:
    """Parse `key=value` options from the command line; values are JSON when they parse as JSON."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            from judge.errors import BackendError

            raise BackendError(f"backend option '{pair}' is not key=value")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options
