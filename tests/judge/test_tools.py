"""The tool contract (judge/tools.py): every way a call can go wrong comes back as a ToolResult
with its status, never as an exception; limits, caps, settings, readiness and the cache."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from pydantic import BaseModel, Field

from judge.cache import CallCache
from judge.errors import JudgeError
from judge.tools import Tool, ToolBox, ToolRefused, ToolStatus, ToolTimeout, build_toolbox, cap_output, tool_options


class Args(BaseModel):
    n: int = Field(ge=0)


class Settings(BaseModel):
    scale: int = 1


CALLS: list[int] = []


def double(args: Args) -> str:
    CALLS.append(args.n)
    return str(2 * args.n)


def call(tool: Tool, arguments: object, settings: object = None, cache: object = None):
    box = ToolBox(tools={tool.name: (tool, settings)}, cache=cache)
    return asyncio.run(box.call(tool.name, arguments))  # type: ignore[arg-type]


def tool(function, **fields) -> Tool:
    return Tool(**({"name": "t", "description": "a test tool", "function": function, "arguments": Args} | fields))


def test_a_result_with_its_time():
    result = call(tool(double), '{"n": 21}')
    assert result.ok and result.output == "42" and isinstance(result.seconds, float) and result.observation() == "42"


@pytest.mark.parametrize(("arguments", "status", "output"), [
    ("{n: 1}", ToolStatus.bad_arguments, "the arguments are not JSON (Expecting property name enclosed in double quotes at character 1)"),
    ("[1]", ToolStatus.bad_arguments, "the arguments must be a JSON object, not list"),
    ('{"n": -1}', ToolStatus.bad_arguments, "argument 'n': Input should be greater than or equal to 0"),
    ('{"m": 1}', ToolStatus.bad_arguments, "argument 'n': Field required"),
])
def test_arguments_that_are_not_what_the_schema_asks_for(arguments, status, output):
    result = call(tool(double), arguments)
    assert result.status is status and result.output == output
    assert result.observation() == f"[bad_arguments] {output}"


def test_a_json_schema_is_checked_too():
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    echo = tool(lambda args: args["q"], arguments=schema)
    assert call(echo, {"q": "x"}).output == "x"
    bad = call(echo, '{"q": 3}')
    assert bad.status is ToolStatus.bad_arguments and bad.output == "argument 'q': 3 is not of type 'string'"
    assert echo.function_spec()["function"]["parameters"] == schema


def test_an_unknown_tool_names_the_tools_there_are():
    box = ToolBox(tools={"t": (tool(double), None)})
    result = asyncio.run(box.call("nope", "{}"))
    assert result.status is ToolStatus.unknown and result.output == "no tool named 'nope' (tools: t)"


def test_refusal_error_and_a_limit_the_tool_enforced_itself():
    def refuse(args: Args) -> str:
        raise ToolRefused("too big,\n  try smaller")

    def crash(args: Args) -> str:
        raise KeyError("k")

    def stopped(args: Args) -> str:
        raise ToolTimeout("killed after 1 s")

    assert (call(tool(refuse), '{"n": 1}').status, call(tool(refuse), '{"n": 1}').output) == (ToolStatus.refused, "too big, try smaller")
    assert call(tool(crash), '{"n": 1}').output == "KeyError: 'k'" and call(tool(crash), '{"n": 1}').status is ToolStatus.error
    assert call(tool(stopped), '{"n": 1}').status is ToolStatus.timeout


def test_the_time_limit_answers_for_a_sync_or_async_tool_that_does_not_return():
    release = threading.Event()

    def stuck(args: Args) -> str:
        release.wait(30)
        return "late"

    async def slow(args: Args) -> str:
        await asyncio.sleep(30)
        return "late"

    for function in (stuck, slow):
        started = time.perf_counter()
        result = call(tool(function, time_limit=0.2), '{"n": 1}')
        assert result.status is ToolStatus.timeout and result.output == "no result within 0.2 s"
        assert time.perf_counter() - started < 10  # containment, not speed: the call did not wait for the tool
    stuck_threads = [t for t in threading.enumerate() if t.name == "judge-tool-stuck"]
    assert stuck_threads and all(t.daemon for t in stuck_threads)  # it cannot hold the process at exit
    release.set()


def test_output_is_capped_saying_how_much_was_left_out():
    result = call(tool(lambda args: "x" * 50, output_cap=10), '{"n": 1}')
    assert result.truncated and result.output == "x" * 10 + "\n[output truncated: 50 characters in all, 10 shown]"
    assert cap_output("short", 10) == ("short", False)
    assert call(tool(lambda args: {"a": [1, 2]}), '{"n": 1}').output == '{"a": [1, 2]}'  # not a str: JSON


def test_settings_reach_the_function_and_a_deterministic_result_is_cached(tmp_path):
    def scaled(args: Args, settings: Settings) -> str:
        CALLS.append(args.n)
        return str(args.n * settings.scale)

    cached = tool(scaled, settings=Settings, deterministic=True)
    cache = CallCache(tmp_path / "cache.db")
    CALLS.clear()
    first = call(cached, '{"n": 2}', Settings(scale=5), cache)
    again = call(cached, {"n": 2}, Settings(scale=5), cache)
    other = call(cached, '{"n": 2}', Settings(scale=7), cache)  # other settings: another key
    assert (first.output, again.output, other.output) == ("10", "10", "14")
    assert not first.cached and again.cached and CALLS == [2, 2]


def test_a_failure_is_not_cached(tmp_path):
    attempts = []

    def flaky(args: Args) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("reset")
        return "fine"

    flaky_tool = tool(flaky, deterministic=True)
    cache = CallCache(tmp_path / "cache.db")
    assert call(flaky_tool, '{"n": 1}', cache=cache).status is ToolStatus.error
    assert call(flaky_tool, '{"n": 1}', cache=cache).output == "fine"


def test_tool_options_from_the_command_line():
    assert tool_options(["search.index=docs.db", "code.wall_seconds=5", "search.k=3"]) == {
        "search": {"index": "docs.db", "k": 3}, "code": {"wall_seconds": 5}}
    with pytest.raises(JudgeError, match="is not TOOL.KEY=VALUE"):
        tool_options(["index=docs.db"])


class _Registry:
    """A stand-in for the plugin registry: just the tools, by name."""

    def __init__(self, *tools: Tool) -> None:
        self.tools = {t.name: t for t in tools}

    def names(self, kind: str) -> list[str]:
        return sorted(self.tools)

    def get(self, kind: str, name: str) -> Tool:
        if name not in self.tools:
            raise JudgeError(f"no tool named '{name}'")
        return self.tools[name]


def test_the_default_set_leaves_out_a_tool_that_cannot_run_and_a_named_one_is_refused():
    ready = tool(double)
    unready = Tool(name="u", description="", function=double, arguments=Args, settings=Settings,
                   check=lambda s: None if s.scale > 1 else "needs scale > 1")
    registry = _Registry(ready, unready)
    box = build_toolbox(registry, None)
    assert box.names == ["t"] and box.left_out == {"u": "needs scale > 1"}
    assert build_toolbox(registry, None, {"u": {"scale": 2}}).names == ["t", "u"]
    with pytest.raises(JudgeError, match="tool 'u' cannot run: needs scale > 1"):
        build_toolbox(registry, ["u"])
    with pytest.raises(JudgeError, match="tool 't' takes no options"):
        build_toolbox(registry, ["t"], {"t": {"x": 1}})
    with pytest.raises(JudgeError, match="tool 'u': option 'scale': Input should be a valid integer"):
        build_toolbox(registry, ["u"], {"u": {"scale": "big"}})
    with pytest.raises(JudgeError, match="--tool-option for tool 'x', which is not installed"):
        build_toolbox(registry, None, {"x": {"a": 1}})
