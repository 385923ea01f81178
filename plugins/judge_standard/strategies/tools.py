"""`tools` (Themis): the judge may call tools before it writes its rationale and verdict.

The loop is bounded (`--tool-calls`, default 4). With any model it runs Themis's text protocol
(Li et al., "Tool-Augmented Reward Modeling", ICLR 2024): the judge writes Thought / Action /
Action Input and is stopped before it can write its own "Observation:"; the tool's result comes
back as the next user turn, "Observation: ...". Where the backend calls tools natively
(`Capabilities.tool_calling`), the tools' declarations go with the request and the calls come
back as `tool_calls` instead. Either way an unknown tool, bad arguments, a refusal, an error or
a time-out is an observation the judge reads; the loop never crashes the item. The verdict is
read after the pack's marker: from the text, or, where the backend gives exact probabilities,
from the candidates' probabilities right after the judge's rationale (as `reason` reads them;
the judge is then stopped at the marker too, and a turn that calls no tool is its rationale).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from judge.errors import JudgeError
from judge.formats import FormatPack
from judge.models import Message, Status
from judge.parsing import Parsed
from judge.strategy import StrategyContext, StrategySetup
from judge.tools import ToolBox
from judge_standard.strategies.reason import verdict_after, verdict_in_text

OBSERVATION = "Observation:"
_ACTION = re.compile(r"^[ \t]*Action[ \t]*:[ \t]*(?P<name>[^\n]*)$", re.MULTILINE | re.IGNORECASE)
_INPUT = re.compile(r"^[ \t]*Action[ \t]*Input[ \t]*:[ \t]*", re.MULTILINE | re.IGNORECASE)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```\s*$")


@dataclass(frozen=True)
class Step:
    """What one turn of the judge's text asks for: a tool call, a verdict, or neither."""

    written: str  # the text up to the end of the action (what the transcript keeps)
    action: str | None = None
    arguments: str = ""
    verdict: bool = False


def read_step(text: str, marker: str) -> Step:
    """An Action (with its Action Input) that comes before any verdict wins; then the verdict."""
    action = _ACTION.search(text)
    at_marker = text.find(marker)
    if action is not None and (at_marker < 0 or action.start() < at_marker):
        name = action.group("name").strip().strip("`'\"*").strip()
        given = _INPUT.search(text, action.end())
        if given is None:
            return Step(written=text[: action.end()].rstrip(), action=name, arguments="")
        arguments, end = _arguments_at(text, given.end())
        return Step(written=text[:end].rstrip(), action=name, arguments=arguments)
    return Step(written=text.rstrip(), verdict=at_marker >= 0)


def _arguments_at(text: str, start: int) -> tuple[str, int]:
    """The JSON object the Action Input starts with (fences allowed), else its first line."""
    rest = text[start:]
    brace = rest.find("{")
    line_end = rest.find("\n")
    first_line = rest if line_end < 0 else rest[:line_end]
    if brace >= 0 and not _FENCE.sub("", rest[:brace]).strip():
        try:
            _, length = json.JSONDecoder().raw_decode(rest[brace:])
        except json.JSONDecodeError:
            return first_line.strip(), start + len(first_line)
        end = brace + length
        closing = rest[end:].lstrip()
        if closing.startswith("```"):
            end = len(rest) - len(closing) + 3
        return rest[brace : brace + length], start + end
    return first_line.strip(), start + len(first_line)


def resolve(name: str, box: ToolBox) -> str:
    """The tool the judge meant: exact, else case-insensitive, else Themis's `Tool.method` form."""
    if name in box.tools:
        return name
    lowered = {known.lower(): known for known in box.tools}
    for candidate in (name.lower(), name.split(".")[0].lower()):
        if candidate in lowered:
            return lowered[candidate]
    return name


def arguments_for(raw: str, box: ToolBox, tool: str) -> str:
    """The Action Input as JSON. A bare value for a tool whose schema has exactly one required
    string argument is taken as that argument (`Action Input: 1/3 + 1/6`), as small models write it."""
    try:
        if isinstance(json.loads(raw), dict):
            return raw
    except json.JSONDecodeError:
        pass
    if tool in box.tools and raw:
        schema = box.schema(tool)
        required = schema.get("required", [])
        properties = schema.get("properties", {})
        if len(required) == 1 and properties.get(required[0], {}).get("type") == "string":
            return json.dumps({required[0]: _FENCE.sub("", raw).strip().strip("`")})
    return raw


class Tools:
    name = "tools"
    description = ("tool-augmented judging (Themis): the judge may call tools (calculator, search, code, a plugin's) "
                   "before its rationale and verdict; text protocol for any model, native tool calls where the backend has them")
    modes = ("pointwise", "pairwise", "principle")
    uses_tools = True

    def candidate_prefix(self, pack: FormatPack) -> str:
        return pack.answer_prefix

    def check(self, setup: StrategySetup) -> None:
        setup.require_template(self.name, "tools")
        setup.require_template(self.name, "observation", parsed=False)
        box = setup.toolbox
        if box is not None and not box.tools:
            why = "; ".join(f"{name}: {reason}" for name, reason in box.left_out.items()) or "no tool is installed"
            raise JudgeError(f"strategy 'tools' has no tool it can call ({why})")
        if setup.options.tool_protocol == "native":
            setup.require_capability(self.name, "tool_calling", "was asked for native tool calls (--tool-protocol native)")
        if setup.use_probabilities:
            setup.require_capability(
                self.name, "continuation",
                "reads the verdict's probabilities by continuing the judge's own rationale after the verdict marker",
            )

    async def decide(self, ctx: StrategyContext) -> Parsed:
        box, limit = ctx.tools, ctx.options.tool_calls
        caps = ctx.program.capabilities
        native = ctx.options.tool_protocol == "native" or (
            ctx.options.tool_protocol == "auto" and caps is not None and caps.tool_calling is True)
        messages = ctx.render("tools", extra={"tools": box.describe(), "max_calls": limit, "native": native})
        loop = _Loop(ctx, box, limit, native, messages)
        return await loop.run()


class _Loop:
    """One question's tool loop: each turn is a tool call, a verdict, or a nudge."""

    def __init__(self, ctx: StrategyContext, box: ToolBox, limit: int, native: bool, messages: list[Message]) -> None:
        self.ctx, self.box, self.limit, self.native, self.messages = ctx, box, limit, native, messages
        self.calls = 0
        self.nudged = False

    async def run(self) -> Parsed:
        ctx = self.ctx
        marker = ctx.pack.verdict_marker
        by_probability = ctx.spec.use_probabilities
        # Reading probabilities, the judge is also stopped at the verdict marker: whatever it wrote
        # that is not a tool call is its rationale, and the verdict is read right after it.
        stop = () if self.native else (OBSERVATION, marker) if by_probability else (OBSERVATION,)
        for _ in range(self.limit + 3):  # every call, one refused extra call, one nudge, the verdict
            completion = await ctx.ask(
                self.messages, part="tools", max_tokens=ctx.max_tokens("tools"), stop=stop,
                tools=tuple(self.box.specs()) if self.native else (),
            )
            text = completion.texts[0] if completion.texts else ""
            calls = completion.tool_calls[0] if self.native and completion.tool_calls else []
            if calls:
                await self._native_calls(text, calls)
                continue
            step = read_step(text, marker)
            if step.action is not None:
                await self._text_call(step)
                continue
            if by_probability:
                rationale = text[: text.rfind(marker)] if step.verdict else text
                return await verdict_after(ctx, self.messages, rationale.rstrip())
            if step.verdict:
                return verdict_in_text(ctx, text, "tools")
            if self.nudged:
                break
            self.nudged = True
            self._say(text, None, nudge=True)
        return Parsed(status=Status.unparsed, reason=f"no verdict after {self.calls} tool call(s) and {self.limit + 3} turns at most")

    async def _text_call(self, step: Step) -> None:
        if self.calls >= self.limit:
            self._say(step.written, f"[refused] no tool calls left (at most {self.limit})")
            return
        self.calls += 1
        tool = resolve(step.action or "", self.box)
        result = await self.ctx.use_tool(tool, arguments_for(step.arguments, self.box, tool))
        self._say(step.written, result.observation())

    async def _native_calls(self, text: str, calls: list[Any]) -> None:
        self.messages = [*self.messages, Message(role="assistant", content=text, tool_calls=[
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}} for call in calls
        ])]
        for call in calls:
            if self.calls >= self.limit:
                observation = f"[refused] no tool calls left (at most {self.limit})"
            else:
                self.calls += 1
                observation = (await self.ctx.use_tool(resolve(call.name, self.box), call.arguments)).observation()
            self.messages.append(Message(role="tool", content=observation, tool_call_id=call.id))
        if self.calls >= self.limit:
            self.messages.extend(self.ctx.render_turn("observation", observation=None, calls_left=0, nudge=False))

    def _say(self, written: str, observation: str | None, nudge: bool = False) -> None:
        """The judge's turn as kept, then the observation (and any nudge) as the next user turn."""
        reply = self.ctx.render_turn("observation", observation=observation, calls_left=self.limit - self.calls, nudge=nudge)
        self.messages = [*self.messages, Message(role="assistant", content=written), *reply]
