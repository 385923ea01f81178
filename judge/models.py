"""The data model at the edges: what goes in (items) and what comes out (judgments)."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Chat content is passed through untouched: a string, or OpenAI-style content parts
# (text, image_url, ...) so that multimodal items need no change to the core.
Content = str | list[dict[str, Any]]


class Message(BaseModel):
    """One chat message; roles are free-form so custom roles such as `principle` pass through."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: Content


class Item(BaseModel):
    """One thing to judge: a prompt and one response (pointwise, principle) or several (pairwise)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    prompt: str | list[Message]
    responses: list[Content] = Field(min_length=1)
    reference: Content | None = None
    context: list[Content] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):  # a bool is an int to Python; "True" as an id is a mistake
            raise ValueError("an id is a string or an integer, not true/false")
        return str(value) if isinstance(value, int) else value

    @property
    def prompt_text(self) -> str:
        """The prompt as plain text, for templates that quote it (the last user turn of a chat)."""
        if isinstance(self.prompt, str):
            return self.prompt
        users = [m for m in self.prompt if m.role == "user"]
        return content_text(users[-1].content) if users else ""


def content_text(content: Content) -> str:
    """The text of a content value; non-text parts (images) are left to templates that want them."""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


class Status(str, Enum):
    """Every judgment has exactly one; `unparsed` and `error` never carry a made-up score."""

    ok = "ok"
    unparsed = "unparsed"
    error = "error"


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cached_requests: int = 0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.requests += other.requests
        self.cached_requests += other.cached_requests


class Verdict(BaseModel):
    """What the judge decided on one criterion (or principle) for one response."""

    criterion: str
    response: int = 0
    status: Status = Status.ok
    score: float | None = None
    passed: bool | None = None
    probabilities: dict[str, float] | None = None
    decided_by: str = "model"
    step: str
    reason: str | None = None
    detail: dict[str, Any] | None = None  # what the strategy saw: votes, meta scores, attempts


class RawOutput(BaseModel):
    """The model's text for one step of a program, kept so nothing is lost and metrics can be redone."""

    step: str
    texts: list[str]
    finish_reasons: list[str | None] = Field(default_factory=list)


class Judgment(BaseModel):
    """One line of output: everything needed to compute metrics later without re-running."""

    id: str
    status: Status
    mode: str
    rubric: str | None = None
    scores: list[float | None] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)
    preferred: int | None = None
    ranking: list[int] | None = None  # listwise: the item's response indices, best first
    reward: float | None = None
    retries: int = 0  # extra attempts spent on unparsed answers
    raw: list[RawOutput] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    error: str | None = None
    model: str | None = None
    setup: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    trace: list[dict[str, Any]] | None = None  # with --trace: every step's messages, texts and values


Mode = Literal["pointwise", "pairwise", "principle", "listwise"]
