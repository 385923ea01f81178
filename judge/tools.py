"""The tool contract: what a tool is, how a judge calls one, and what a call gives back.

A tool is a plugin (`register_tools`): a name, a description and an argument schema that the
judge is shown, and a function, sync or async, with a time limit and an output cap. Every way a
call can go wrong (an unknown tool, arguments that are not JSON or break the schema, a refusal,
an exception, a time-out) comes back as a `ToolResult` with its status, which a tool strategy
shows the judge as an observation: a tool never crashes the item that called it.

    from pydantic import BaseModel

    class Args(BaseModel):
        text: str

    def shout(args: Args) -> str:
        return args.text.upper()

    register(Tool(name="shout", description="upper-cases a text", arguments=Args, function=shout))

The time limit stops the *caller* waiting; a sync function keeps its thread (a daemon thread of
its own, so it blocks neither the model backends' workers nor the process's exit) until it
returns, so a tool that can run away (a calculator, a code runner) enforces its own limit on the
work (a process it kills) and uses this one as the backstop.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from judge.backend import backend_options
from judge.errors import JudgeError, first_error

DEFAULT_TIME_LIMIT = 10.0  # seconds
DEFAULT_OUTPUT_CAP = 4000  # characters the judge is shown of one result


class ToolRefused(Exception):
    """Raised by a tool that will not do what it was asked: the message is the one-line reason."""


class ToolTimeout(Exception):
    """Raised by a tool that enforced its own time limit (and killed the work): status `timeout`."""


class ToolStatus(str, Enum):
    ok = "ok"
    refused = "refused"  # the tool said no, with a reason (too large, not configured, not installed)
    error = "error"  # the tool raised
    timeout = "timeout"  # no result within the time limit
    unknown = "unknown"  # no tool of that name is available to this judge
    bad_arguments = "bad_arguments"  # not JSON, or not what the tool's schema asks for


class ToolResult(BaseModel):
    """One tool call as the trace keeps it: what was asked, what came back, how long it took."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    arguments: Any
    status: ToolStatus
    output: str  # the result, or the one-line reason it failed
    seconds: float = 0.0
    truncated: bool = False
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.status is ToolStatus.ok

    def observation(self) -> str:
        """What the judge reads back: the result itself, or the failure named as such."""
        if self.ok:
            return self.output
        return f"[{self.status.value}] {self.output}"


@dataclass(frozen=True)
class Tool:
    """A registered tool. `function(arguments)` (plus `settings=` when the tool has settings).

    `arguments` is a pydantic model (the function gets an instance) or a JSON schema (the
    function gets the checked dict). `settings` is a pydantic model of what a user configures
    (`--tool-option search.index=PATH`); `check(settings)` says why the tool cannot run as
    configured (a missing package, no index), or None. A `deterministic` tool's results are kept
    in the call cache, keyed by its name, `version`, settings and arguments.
    """

    name: str
    description: str
    function: Callable[..., Any]
    arguments: type[BaseModel] | Mapping[str, Any]
    settings: type[BaseModel] | None = None
    check: Callable[[Any], str | None] | None = None
    time_limit: float = DEFAULT_TIME_LIMIT
    output_cap: int = DEFAULT_OUTPUT_CAP
    deterministic: bool = False
    version: str = "1"

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as the judge is shown it."""
        if isinstance(self.arguments, type) and issubclass(self.arguments, BaseModel):
            schema = self.arguments.model_json_schema()
            schema.pop("title", None)
            return schema
        return dict(self.arguments)

    def function_spec(self, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """The OpenAI-style function declaration, for backends that call tools natively
        (`parameters`: the schema, when the caller already has it)."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.schema() if parameters is None else parameters}}


def read_arguments(tool: Tool, arguments: str | Mapping[str, Any]) -> Any:
    """The arguments as the tool's function takes them; ValueError with a short reason if not."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"the arguments are not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(arguments, Mapping):
        raise ValueError(f"the arguments must be a JSON object, not {type(arguments).__name__}")
    if isinstance(tool.arguments, type) and issubclass(tool.arguments, BaseModel):
        try:
            return tool.arguments.model_validate(dict(arguments))
        except ValidationError as exc:
            raise ValueError(first_error(exc, "argument")) from None
    import jsonschema  # only tools that declare a JSON schema need it

    try:
        jsonschema.validate(dict(arguments), dict(tool.arguments))
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        raise ValueError(f"argument '{where}': {exc.message}" if where else exc.message) from None
    return dict(arguments)


def cap_output(text: str, cap: int) -> tuple[str, bool]:
    """At most `cap` characters, saying how much was left out."""
    if len(text) <= cap:
        return text, False
    return f"{text[:cap]}\n[output truncated: {len(text)} characters in all, {cap} shown]", True


@dataclass
class ToolBox:
    """The tools one judge may call, each with its settings; calls them and never raises.

    `cache` (a `judge.cache.CallCache` or None) keeps deterministic tools' results.
    """

    tools: dict[str, tuple[Tool, Any]] = field(default_factory=dict)  # name -> (tool, settings instance)
    cache: Any = None
    left_out: dict[str, str] = field(default_factory=dict)  # default set only: tools not ready, and why
    _schemas: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)  # built once per tool

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    def schema(self, name: str) -> dict[str, Any]:
        """A tool's argument schema, built once: pydantic builds it anew each time it is asked
        (hundreds of microseconds), and every question of a run shows the same one."""
        known = self._schemas.get(name)
        if known is None:
            known = self._schemas[name] = self.tools[name][0].schema()
        return known

    def specs(self) -> list[dict[str, Any]]:
        """The OpenAI-style declarations, for backends that call tools natively."""
        return [tool.function_spec(self.schema(name)) for name, (tool, _) in self.tools.items()]

    def describe(self) -> list[dict[str, Any]]:
        """Name, description and argument schema of each tool, for the judge's prompt."""
        return [{"name": tool.name, "description": tool.description, "schema": self.schema(name),
                 "arguments": json.dumps(self.schema(name).get("properties", {}), ensure_ascii=False)}
                for name, (tool, _) in self.tools.items()]

    async def call(self, name: str, arguments: str | Mapping[str, Any]) -> ToolResult:
        """Run one call; every failure is a ToolResult with its status, never an exception."""
        started = time.perf_counter()
        shown: Any = arguments if isinstance(arguments, str) else dict(arguments)
        entry = self.tools.get(name)
        if entry is None:
            known = ", ".join(self.tools) or "none"
            return ToolResult(tool=name, arguments=shown, status=ToolStatus.unknown,
                              output=f"no tool named '{name}' (tools: {known})")
        tool, settings = entry
        try:
            checked = read_arguments(tool, arguments)
        except ValueError as exc:
            return ToolResult(tool=name, arguments=shown, status=ToolStatus.bad_arguments, output=str(exc),
                              seconds=time.perf_counter() - started)
        key = self._key(tool, settings, checked) if tool.deterministic and self.cache is not None else None
        if key is not None:
            kept = self._look_up(key, tool, shown)
            if kept is not None:
                return kept
        status, output = await _run(tool, checked, settings)
        output, truncated = cap_output(output, tool.output_cap)
        result = ToolResult(tool=name, arguments=shown, status=status, output=output,
                            seconds=time.perf_counter() - started, truncated=truncated)
        if key is not None and status in (ToolStatus.ok, ToolStatus.refused):  # a time-out or crash may pass
            self._keep(key, result)
        return result

    def _key(self, tool: Tool, settings: Any, checked: Any) -> str:
        given = checked.model_dump(mode="json") if isinstance(checked, BaseModel) else checked
        kept = settings.model_dump(mode="json") if isinstance(settings, BaseModel) else None
        text = json.dumps({"tool": tool.name, "version": tool.version, "settings": kept, "arguments": given},
                          sort_keys=True, ensure_ascii=False)
        return "tool:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _look_up(self, key: str, tool: Tool, shown: Any) -> ToolResult | None:
        found = self.cache.get_many([key]).get(key)
        if found is None or not found.texts:
            return None
        try:
            kept = ToolResult.model_validate_json(found.texts[0])
        except ValidationError:
            return None
        return kept.model_copy(update={"arguments": shown, "cached": True, "seconds": 0.0})

    def _keep(self, key: str, result: ToolResult) -> None:
        from judge.backend import Completion

        self.cache.put_many({key: Completion(texts=[result.model_dump_json()])})


async def _run(tool: Tool, checked: Any, settings: Any) -> tuple[ToolStatus, str]:
    kwargs = {"settings": settings} if tool.settings is not None else {}
    try:
        if inspect.iscoroutinefunction(tool.function) or inspect.iscoroutinefunction(getattr(tool.function, "__call__", None)):
            value = await asyncio.wait_for(tool.function(checked, **kwargs), tool.time_limit)
        else:
            value = await asyncio.wait_for(_in_daemon_thread(tool.function, checked, **kwargs), tool.time_limit)
    except asyncio.TimeoutError:
        return ToolStatus.timeout, f"no result within {tool.time_limit:g} s"
    except ToolTimeout as exc:
        return ToolStatus.timeout, _one_line(str(exc)) or f"no result within {tool.time_limit:g} s"
    except ToolRefused as exc:
        return ToolStatus.refused, _one_line(str(exc)) or "refused"
    except Exception as exc:  # a tool's bug is an observation for the judge, not a crashed item
        return ToolStatus.error, _one_line(f"{type(exc).__name__}: {exc}")
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return ToolStatus.ok, value


def _in_daemon_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
    """Run a sync tool in a daemon thread of its own, not the loop's default executor: a tool that
    never returns then holds neither a worker the model backends need nor the process at exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():  # the caller stopped waiting (its time limit)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def work() -> None:
        try:
            value = function(*args, **kwargs)
        except BaseException as exc:  # handed to the caller, which turns it into a status
            outcome: tuple[Any, BaseException | None] = (None, exc)
        else:
            outcome = (value, None)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the run is over and its loop closed: nobody waits for this answer
            pass

    threading.Thread(target=work, name=f"judge-tool-{getattr(function, '__name__', 'tool')}", daemon=True).start()
    return future


def _one_line(text: str) -> str:
    return " ".join(text.split())


def tool_options(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """`NAME.KEY=VALUE` pairs (`--tool-option search.index=idx.db`) by tool; JSON values are parsed."""
    options: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        tool, dot, key = target.partition(".")
        if not sep or not dot or not tool or not key:
            raise JudgeError(f"tool option '{pair}' is not TOOL.KEY=VALUE (e.g. search.index=docs.idx)")
        options.setdefault(tool, {}).update(backend_options([f"{key}={value}"]))  # the same JSON-or-text rule as -O
    return options


def configure(tool: Tool, options: Mapping[str, Any] | None) -> Any:
    """The tool's settings from `options` (JudgeError naming the option when one is wrong)."""
    options = dict(options or {})
    if tool.settings is None:
        if options:
            raise JudgeError(f"tool '{tool.name}' takes no options (given: {', '.join(options)})")
        return None
    try:
        return tool.settings.model_validate(options)
    except ValidationError as exc:
        raise JudgeError(f"tool '{tool.name}': {first_error(exc, 'option')}") from None


def not_ready(tool: Tool, settings: Any) -> str | None:
    """Why the tool cannot run as configured, or None."""
    if tool.check is None:
        return None
    try:
        return tool.check(settings)
    except Exception as exc:  # a broken check is a reason too, not a crash of the command
        return f"its check failed: {type(exc).__name__}: {exc}"


def build_toolbox(
    registry: Any, names: list[str] | tuple[str, ...] | None, options: Mapping[str, Mapping[str, Any]] | None = None,
    cache: Any = None,
) -> ToolBox:
    """The tools a judge may call: those named (each must be ready, or JudgeError says why), or
    with no names every registered tool that is ready as configured (the others are kept in
    `left_out` with the reason)."""
    options = dict(options or {})
    for name in options:
        if names is None and name not in registry.names("tools"):
            raise JudgeError(f"--tool-option for tool '{name}', which is not installed (tools: {', '.join(registry.names('tools'))})")
        if names is not None and name not in names:
            raise JudgeError(f"--tool-option for tool '{name}', which this judge does not use (tools: {', '.join(names)})")
    chosen = list(names) if names is not None else registry.names("tools")
    box = ToolBox(cache=cache)
    for name in chosen:
        tool: Tool = registry.get("tools", name)
        if not isinstance(tool, Tool):
            raise JudgeError(f"tool '{name}' is registered as a {type(tool).__name__}, not a judge.tools.Tool")
        settings = configure(tool, options.get(name))
        reason = not_ready(tool, settings)
        if reason is not None:
            if names is not None:
                raise JudgeError(f"tool '{name}' cannot run: {reason}")
            box.left_out[name] = reason
            continue
        box.tools[name] = (tool, settings)
    return box
