"""The strategy seam: how the judge thinks, apart from what it compares.

A mode (pointwise, pairwise, principle, listwise) turns an item into questions: one verdict
each. A strategy answers one question: it renders templates of the format pack, asks the model,
parses answers, may ask a second judge (the meta reward model), and returns one `Parsed`. It
does all of that through a `StrategyContext` the core hands it, so it never touches a backend,
the scheduler or the cache: batching, deduplication and caching stay the core's job.

    class Direct:
        name = "direct"
        modes = ("pointwise", "pairwise", "principle", "listwise")

        def check(self, setup: StrategySetup) -> None: ...   # refuse at compile time
        async def decide(self, ctx: StrategyContext) -> Parsed:
            completion = await ctx.ask(ctx.render(), candidates=ctx.spec.use_probabilities)
            return ctx.parse(completion)
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from judge.backend import Capabilities, Completion, Request
from judge.errors import JudgeError
from judge.formats import FormatPack
from judge.models import Item, Judgment, Message, RawOutput, Status, Usage, content_text
from judge.parsing import ParseSpec, Parsed
from judge.rubric import Criterion
from judge.templates import render_messages
from judge.tools import ToolBox, ToolResult

if TYPE_CHECKING:
    from judge.compiler import Program

Call = Callable[[Request], Awaitable[Completion]]
Rate = Callable[[Item], Awaitable[Judgment]]


class StrategyOptions(BaseModel):
    """How hard the judge thinks: samples, meta RM selection, retries, tracing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(default=1, ge=1, description="vote: k samples per question")
    meta_top: int | None = Field(default=None, ge=1, description="vote with a meta RM: only the top k_meta samples vote")
    temperature: float | None = Field(default=None, ge=0.0, description="vote: sampling temperature (default 0.7)")
    reason: bool = Field(default=False, description="vote: each sample reasons before its verdict")
    shuffle: bool = Field(default=True, description="vote: shuffle the response order per sample")
    reason_tokens: int | None = Field(default=None, ge=1, description="tokens for reasoning parts (default: the pack's)")
    retries: int = Field(default=1, ge=0, description="extra attempts for an unparsed answer")
    retry_temperature: float = Field(default=0.3, gt=0.0, description="a greedy step's temperature when retried")
    seed: int = Field(default=0, description="seeds sampling, retries and shuffles of this run")
    trace: bool = Field(default=False, description="keep every step's messages, texts and values in the judgment")
    tools: tuple[str, ...] | None = Field(default=None, description="tools: the tools the judge may call (default: every ready one)")
    tool_calls: int = Field(default=4, ge=1, description="tools: at most this many tool calls per verdict")
    tool_options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="tools: settings per tool")
    tool_protocol: Literal["auto", "text", "native"] = Field(
        default="auto", description="tools: Themis's text protocol, the backend's native tool calls, or native where it can"
    )

    def __hash__(self) -> int:  # tool_options holds dicts, which pydantic's frozen hash cannot take
        return hash(self.model_dump_json())

    def recorded(self) -> dict[str, Any]:
        """The options that change verdicts, as written into a judgment's setup.

        Options added after setups were first written are left out while they hold their
        default, so earlier judgment files still --resume and --compare as the same setup.
        """
        recorded = self.model_dump(mode="json", exclude={"trace"})
        for name in _LATER_OPTIONS:
            if recorded[name] == _DEFAULTS[name]:
                del recorded[name]
        return recorded


_LATER_OPTIONS = ("tools", "tool_calls", "tool_options", "tool_protocol")
_DEFAULTS = StrategyOptions().model_dump(mode="json")


@dataclass(frozen=True)
class StrategySetup:
    """What a strategy may check when a program is compiled."""

    mode: str
    pack: FormatPack
    capabilities: Capabilities | None  # None: not known until the backend starts (a server)
    options: StrategyOptions
    use_probabilities: bool
    has_meta: bool
    toolbox: ToolBox | None = None  # the tools a judge may call, for a strategy with `uses_tools`

    def require_template(self, strategy: str, part: str | None, parsed: bool = True) -> None:
        """The pack must have the step's template (and, when its answer is parsed, a parser)."""
        step = self.pack.step(self.mode, part)
        what = f"mode '{self.mode}'" if part is None else f"'{step}'"
        if not self.pack.has(self.mode, part):
            raise JudgeError(
                f"format pack '{self.pack.name}' has no template for {what}, which strategy '{strategy}' needs "
                f"(the pack has: {', '.join(sorted(self.pack.templates))})"
            )
        if parsed and self.pack.parser_name(self.mode, part) is None:
            raise JudgeError(f"format pack '{self.pack.name}' names no parser for {what}, which strategy '{strategy}' reads")

    def require_capability(self, strategy: str, capability: str, why: str) -> None:
        if self.capabilities is not None and not getattr(self.capabilities, capability):
            raise JudgeError(f"strategy '{strategy}' {why}, and this backend cannot ({capability}: no)")


@runtime_checkable
class Strategy(Protocol):
    """A plugin-registered way of reaching a verdict (`register_strategies`)."""

    name: str
    description: str
    modes: tuple[str, ...]

    def check(self, setup: StrategySetup) -> None:
        """Raise JudgeError when this strategy cannot run this setup (template, capability)."""
        ...

    async def decide(self, ctx: StrategyContext) -> Parsed:
        """Answer `ctx.question`; an unreadable answer is `Parsed(status=unparsed)`, never a guess."""
        ...


# A strategy that reads candidates after text of its own (reason: " Yes" after "Verdict:") may
# define `candidate_prefix(pack) -> str`, so the engine checks those exact tokens at start.
# A strategy that calls tools sets `uses_tools = True`: the core then builds its ToolBox from the
# registered tools and the --tools/--tool-option settings, refusing tools that cannot run.


@dataclass(frozen=True)
class Question:
    """One verdict a mode needs, and everything needed to ask it again in another order."""

    name: str  # the step's name in the judgment: "accuracy@1", "pairwise-swapped", "listwise"
    mode: str
    item: Item
    variables: dict[str, Any]  # template variables, responses not yet placed
    spec: ParseSpec
    order: tuple[int, ...] = ()  # pairwise/listwise: the item's index of the response at each position
    response: int = 0
    criterion: Criterion | None = None
    whole: bool = False  # the spec's candidates are several tokens: ask for them as whole answers


class StepFailed(Exception):
    """A model call came back with an error: the question fails, its raw outputs are kept."""


@dataclass
class Record:
    """What a question's attempts produced: raw texts, usage, trace, details for the verdict."""

    raw: list[RawOutput] = field(default_factory=list)
    usage: Usage = field(default_factory=lambda: Usage.model_construct(prompt_tokens=0, completion_tokens=0, requests=0, cached_requests=0))
    trace: list[dict[str, Any]] | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class StrategyContext:
    """What the core hands a strategy for one question: render, ask, parse, rate, record."""

    def __init__(self, program: Program, question: Question, call: Call, rate: Rate | None, record: Record, attempt: int) -> None:
        self.program = program
        self.question = question
        self.pack: FormatPack = program.pack
        self.options: StrategyOptions = program.strategy_options
        self.spec: ParseSpec = question.spec
        self.attempt = attempt
        self._call = call
        self._rate = rate
        self.record = record

    @property
    def mode(self) -> str:
        return self.question.mode

    @property
    def can_rate(self) -> bool:
        return self._rate is not None

    @property
    def native_n(self) -> bool:
        """Whether one request can carry n samples (they then share one prefill)."""
        caps = self.program.capabilities
        return bool(caps is not None and caps.native_n)

    # -- prompts ------------------------------------------------------------------------------

    def render(
        self, part: str | None = None, *, order: tuple[int, ...] | None = None, extra: dict[str, Any] | None = None,
    ) -> list[Message]:
        """The pack's template for this mode (or `MODE:PART`), the responses shown in `order`;
        `extra` adds template variables of the strategy's own (the tools it offers)."""
        return self.program.render(self.question, part, order if order is not None else self.question.order, extra)

    def render_turn(self, part: str, **variables: Any) -> list[Message]:
        """A follow-up turn from the pack's `MODE:PART` template, given only `variables` (no item):
        what a strategy says back to the judge between its steps (a tool's observation)."""
        return render_messages(self.pack.template_dirs, self.pack.templates[self.pack.step(self.mode, part)], variables)

    def max_tokens(self, part: str | None = None, default: int = 16) -> int:
        step = self.pack.step(self.mode, part)
        if part is not None and self.options.reason_tokens is not None:
            return self.options.reason_tokens
        return self.pack.max_tokens.get(step, self.pack.max_tokens.get(self.mode, default))

    # -- the model ----------------------------------------------------------------------------

    async def ask(
        self,
        messages: list[Message],
        *,
        part: str | None = None,
        candidates: bool | tuple[str, ...] = False,
        whole: bool = False,
        n: int = 1,
        max_tokens: int | None = None,
        stop: tuple[str, ...] = (),
        temperature: float | None = None,
        seed: int | None = None,
        tools: tuple[dict[str, Any], ...] = (),
    ) -> Completion:
        """Ask the model through the scheduler; a backend error raises StepFailed.

        `candidates=True` asks for the spec's candidates. A retry attempt (attempt > 0) samples a
        greedy step at `retry_temperature` with a seed of its own, so it can come out otherwise.
        """
        asked = self.spec.candidates if candidates is True else (candidates or ())
        sampling = self.program.sampling(self.pack.step(self.mode, part), max_tokens, stop, n, temperature, seed)
        if self.attempt and sampling.temperature == 0.0:
            sampling = sampling.model_copy(update={
                "temperature": self.options.retry_temperature, "seed": self.options.seed + 7919 * self.attempt,
            })
        request = Request.model_construct(messages=tuple(messages), sampling=sampling, candidates=tuple(asked),
                                          whole_candidates=whole and bool(asked), tools=tuple(tools))
        completion = await self._call(request)
        name = self.step_name(part)
        self.record.raw.append(RawOutput.model_construct(step=name, texts=completion.texts, finish_reasons=completion.finish_reasons))
        self.record.usage.add(completion.usage)
        if self.record.trace is not None:
            self.record.trace.append({
                "step": name, "attempt": self.attempt, "messages": [m.model_dump(exclude_none=True) for m in messages],
                "sampling": sampling.model_dump(exclude_defaults=True), "candidates": list(asked),
                "texts": completion.texts, "finish_reasons": completion.finish_reasons,
                **({"tool_calls": [[c.model_dump() for c in calls] for calls in completion.tool_calls]}
                   if completion.tool_calls else {}),
                "candidate_logprobs": _finite(completion.candidate_logprobs), "error": completion.error,
            })
        if completion.error is not None:
            raise StepFailed(f"{name}: {completion.error}")
        return completion

    def step_name(self, part: str | None = None) -> str:
        name = self.question.name if part is None else f"{self.question.name}:{part}"
        return f"{name}#retry{self.attempt}" if self.attempt else name

    def parse(self, completion: Completion, part: str | None = None, spec: ParseSpec | None = None) -> Parsed:
        """Read an answer with the pack's parser for this mode (or part)."""
        spec = spec or self.spec
        parsed = self.program.parser_for(self.mode, part, spec)(completion, spec)
        self.note_trace({"step": self.step_name(part), "parsed": parsed.model_dump(exclude_none=True)})
        return parsed

    async def rate(self, prompt: list[Message], answer: str) -> float | None:
        """The meta reward model's score for one of the judge's answers (P(Yes) it is sound)."""
        if self._rate is None:
            raise JudgeError("no meta reward model was configured (--meta-rm)")
        text = "\n\n".join(content_text(m.content) for m in prompt if m.role != "system")
        meta_item = Item(id=f"{self.question.item.id}/{self.question.name}/meta", prompt=text, responses=[answer])
        rated = await self._rate(meta_item)
        self.record.usage.add(rated.usage)
        score = rated.reward if rated.status is Status.ok else None
        self.note_trace({"step": f"{self.step_name()}:meta", "status": rated.status.value, "meta": score,
                         "raw": [r.model_dump() for r in rated.raw], "error": rated.error})
        return score

    # -- tools ----------------------------------------------------------------------------------

    @property
    def tools(self) -> ToolBox:
        """The tools this judge may call (a strategy with `uses_tools = True`)."""
        if self.program.toolbox is None:
            raise JudgeError(f"strategy '{self.program.strategy.name}' calls tools but does not declare uses_tools = True")
        return self.program.toolbox

    async def use_tool(self, name: str, arguments: str | dict[str, Any]) -> ToolResult:
        """Call a tool; every failure (unknown, bad arguments, refusal, error, time-out) is a result.

        The verdict's detail lists every call (tool, status, seconds); the trace adds the
        arguments and the output.
        """
        result = await self.tools.call(name, arguments)
        calls = self.record.detail.setdefault("tool_calls", [])
        calls.append({"tool": result.tool, "status": result.status.value, "seconds": round(result.seconds, 4),
                      **({"cached": True} if result.cached else {})})
        self.note_trace({"step": f"{self.step_name('tools')}:call{len(calls)}", **result.model_dump(mode="json")})
        return result

    def note_trace(self, entry: dict[str, Any]) -> None:
        if self.record.trace is not None:
            self.record.trace.append(entry)


def _finite(logprobs: dict[str, float] | None) -> dict[str, float | None] | None:
    """JSON has no -inf: a ruled-out candidate is kept as None in the trace."""
    if logprobs is None:
        return None
    return {k: (v if math.isfinite(v) else None) for k, v in logprobs.items()}
