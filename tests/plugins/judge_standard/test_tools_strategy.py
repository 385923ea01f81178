"""The `tools` strategy on a scripted fake backend (named as such): the loop pinned exactly, call
by call: a call and its observation, a bad call, a time-out, the step limit, the final verdict,
native tool calls, and what is refused at compile time."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable

import pytest
from pydantic import BaseModel

from judge import Completion, Item, Judge, Request, Rubric, Status, Usage
from judge.backend import ToolCall
from judge.errors import JudgeError
from judge.hookspecs import hookimpl
from judge.plugins import Registry
from judge.rubric import Criterion
from judge.strategy import StrategyOptions
from judge.tools import Tool, ToolBox, ToolRefused
from judge_fake.backend import FakeBackend
from judge_standard.strategies.tools import arguments_for, read_step

BINARY = Rubric(name="t", criteria=[Criterion(id="right", text="Is the arithmetic right?", scale="binary", high="h", low="l")])
PAIR = Item(id="p", prompt="What is 1/3 + 1/6?", responses=["1/2", "2/9"])
ONE = Item(id="o", prompt="What is 6 * 7?", responses=["42"])


class AddArgs(BaseModel):
    a: int
    b: int


class EchoArgs(BaseModel):
    text: str


RAN: list[str] = []


def add(args: AddArgs) -> str:
    RAN.append("add")
    return str(args.a + args.b)


async def slow(args: EchoArgs) -> str:
    await asyncio.sleep(5)
    return args.text


def refuse(args: EchoArgs) -> str:
    raise ToolRefused(f"will not echo {args.text!r}")


class _TestTools:
    """An in-process tool plugin: the tools these tests script calls to."""

    @hookimpl
    def register_tools(self, register: Callable[..., None]) -> None:
        register(Tool(name="add", description="adds two integers.", arguments=AddArgs, function=add, deterministic=True))
        register(Tool(name="slow", description="echoes, slowly.", arguments=EchoArgs, function=slow, time_limit=0.2))
        register(Tool(name="refuse", description="refuses.", arguments=EchoArgs, function=refuse))


@pytest.fixture(scope="module")
def registry() -> Registry:
    registry = Registry(allowed={"standard", "fake"})
    registry.register_module(_TestTools(), name="test-tools")
    return registry


def scripted(*turns: str | Completion) -> tuple[FakeBackend, list[Request]]:
    """A fake backend answering the tool loop's turns in order; every request is kept."""
    script = iter(turns)
    fake = FakeBackend(lambda request: next(script), exact_candidates=False)
    return fake, fake.requests


def judge(registry: Registry, fake: FakeBackend, mode: str = "pairwise", **options: object) -> Judge:
    return Judge(BINARY, mode=mode, backend=fake, registry=registry, strategy="tools",
                 strategy_options=StrategyOptions(trace=True, **options))


def last_user(request: Request) -> str:
    return str(request.messages[-1].content)


def test_a_call_its_observation_and_the_verdict(registry):
    fake, requests = scripted(
        'Thought: check the sum\nAction: add\nAction Input: {"a": 2, "b": 3}',
        "Rationale: the tool says 5, so A is right.\nVerdict: A",
    )
    [judgment] = judge(registry, fake).score([PAIR])
    first, second = requests
    assert first.sampling.stop == ("Observation:",) and first.sampling.max_tokens == 256 and not first.tools
    assert "- add: adds two integers. Arguments:" in last_user(first) and "Action Input:" in last_user(first)
    # the judge's turn is kept up to its Action Input, the observation is the next user turn
    assert second.messages[:-2] == first.messages
    assert second.messages[-2].role == "assistant"
    assert second.messages[-2].content == 'Thought: check the sum\nAction: add\nAction Input: {"a": 2, "b": 3}'
    assert second.messages[-1].role == "user" and second.messages[-1].content.startswith("Observation: 5")
    assert judgment.status is Status.ok and judgment.preferred == 0
    assert judgment.verdicts[0].reason == "Rationale: the tool says 5, so A is right."
    assert judgment.verdicts[0].detail["tool_calls"] == [{"tool": "add", "status": "ok", "seconds": pytest.approx(0, abs=1)}]
    [call] = [t for t in judgment.trace if "tool" in t]
    assert call["arguments"] == '{"a": 2, "b": 3}' and call["output"] == "5" and call["status"] == "ok" and "seconds" in call


def test_a_bad_call_an_unknown_tool_a_refusal_and_a_timeout_are_observations(registry):
    fake, requests = scripted(
        'Action: add\nAction Input: {"a": "two", "b": 3}',
        'Action: multiply\nAction Input: {"a": 2}',
        'Action: refuse\nAction Input: {"text": "x"}',
        'Action: slow\nAction Input: {"text": "x"}',
        "Rationale: tools did not help.\nVerdict: B",
    )
    [judgment] = judge(registry, fake).score([PAIR])
    observations = [last_user(r) for r in requests[1:]]
    assert observations[0].startswith("Observation: [bad_arguments] argument 'a': ")
    assert observations[1].startswith("Observation: [unknown] no tool named 'multiply' (tools: add, refuse, slow)")
    assert observations[2].startswith("Observation: [refused] will not echo 'x'")
    assert observations[3].startswith("Observation: [timeout] no result within 0.2 s")
    assert "You have used all your tool calls" in observations[3]  # the 4th call was the last allowed
    assert judgment.status is Status.ok and judgment.preferred == 1
    assert [c["status"] for c in judgment.verdicts[0].detail["tool_calls"]] == ["bad_arguments", "unknown", "refused", "timeout"]


def test_the_step_limit_refuses_further_calls_then_gives_up_unparsed(registry):
    call = 'Action: add\nAction Input: {"a": 1, "b": 1}'
    fake, requests = scripted(call, call, call, call, call, call, call)
    [judgment] = judge(registry, fake, tool_calls=2, retries=0).score([PAIR])
    assert len(requests) == 2 + 3  # two calls, then one refused extra call, a nudge turn, a last turn
    assert [c["status"] for c in judgment.verdicts[0].detail["tool_calls"]] == ["ok", "ok"]
    assert "[refused] no tool calls left (at most 2)" in last_user(requests[3])
    assert judgment.status is Status.unparsed and "no verdict after 2 tool call(s)" in judgment.verdicts[0].reason
    assert [r.step for r in judgment.raw] == ["pairwise:tools"] * 5  # every turn's text is kept


def test_a_turn_with_neither_call_nor_verdict_is_nudged_once(registry):
    fake, requests = scripted("I think A.", "Rationale: A.\nVerdict: A")
    [judgment] = judge(registry, fake).score([PAIR])
    assert "Write either a tool call" in last_user(requests[1]) and judgment.preferred == 0


def test_a_bare_action_input_is_the_single_string_argument_and_tool_names_are_forgiven():
    box = ToolBox(tools={"echo": (Tool(name="echo", description="", arguments=EchoArgs, function=lambda a: a.text), None)})
    assert arguments_for("hello there", box, "echo") == '{"text": "hello there"}'
    assert arguments_for('{"text": "x"}', box, "echo") == '{"text": "x"}'
    step = read_step('Thought: t\nAction: `Calculator.calculate`\nAction Input: ```json\n{"expression": "2^10"}\n```\nmore', "Verdict:")
    assert step.action == "Calculator.calculate" and step.arguments == '{"expression": "2^10"}'
    assert step.written.endswith("```")
    assert read_step("Verdict: A\nAction: add", "Verdict:").verdict  # the verdict came first


def test_results_of_deterministic_tools_go_through_the_call_cache(registry, tmp_path):
    turns = ['Action: add\nAction Input: {"a": 20, "b": 22}', "Rationale: r\nVerdict: A"]
    RAN.clear()
    for _ in range(2):
        fake, _ = scripted(*turns)
        [judgment] = Judge(BINARY, mode="pairwise", backend=fake, registry=registry, strategy="tools",
                           cache=tmp_path / "cache.db").score([PAIR])
    assert RAN == ["add"]  # the second run read the result from the cache file
    assert judgment.verdicts[0].detail["tool_calls"] == [{"tool": "add", "status": "ok", "seconds": 0.0, "cached": True}]


def test_in_principle_mode_p_yes_is_read_after_the_rationale(registry):
    def respond(request: Request) -> Completion | str:
        if request.continues:
            return Completion(texts=["x"], candidate_logprobs={" Yes": math.log(0.8), " No": math.log(0.2)}, usage=Usage(requests=1))
        if len(request.messages) < 4:
            return 'Action: add\nAction Input: {"a": 6, "b": 36}'
        return "Rationale: 6*7 is 42.\nVerdict: Yes"

    fake = FakeBackend(respond)
    [judgment] = judge(registry, fake, mode="principle").score([ONE])
    verdict = fake.requests[-1]
    assert verdict.messages[-1].content == "Rationale: 6*7 is 42.\nVerdict:" and verdict.candidates == (" Yes", " No")
    assert judgment.reward == pytest.approx(0.8)


def test_with_probabilities_a_turn_without_a_call_is_the_rationale_and_the_verdict_is_read_after_it(registry):
    def respond(request: Request) -> Completion | str:
        if request.continues:
            return Completion(texts=["B"], candidate_logprobs={" A": math.log(0.3), " B": math.log(0.7)}, usage=Usage(requests=1))
        return "B computes it right"  # a real backend stopped it at "Verdict:"

    fake = FakeBackend(respond)
    [judgment] = judge(registry, fake).score([PAIR])
    turn, verdict = fake.requests
    assert turn.sampling.stop == ("Observation:", "Verdict:")
    assert verdict.messages[:-1] == turn.messages and verdict.messages[-1].content == "B computes it right\nVerdict:"
    assert verdict.candidates == (" A", " B") and judgment.preferred == 1 and judgment.scores == pytest.approx([0.3, 0.7])


def test_native_tool_calls_where_the_backend_has_them(registry):
    def respond(request: Request) -> Completion | str:
        if request.messages[-1].role != "tool":
            return Completion(texts=[""], tool_calls=[[ToolCall(id="c1", name="add", arguments='{"a": 1, "b": 2}')]],
                              usage=Usage(requests=1))
        return "Rationale: 3.\nVerdict: B"

    fake = FakeBackend(respond, exact_candidates=False, tool_calling=True)
    [judgment] = judge(registry, fake).score([PAIR])
    first, second = fake.requests
    assert [t["function"]["name"] for t in first.tools] == ["add", "refuse", "slow"] and first.sampling.stop == ()
    assert "Action Input:" not in last_user(first)  # no text protocol when the calls are native
    assert second.messages[-2].tool_calls[0]["function"] == {"name": "add", "arguments": '{"a": 1, "b": 2}'}
    assert second.messages[-1].role == "tool" and second.messages[-1].content == "3" and second.messages[-1].tool_call_id == "c1"
    assert judgment.preferred == 1


def test_refused_at_compile_time(registry):
    fake = FakeBackend(exact_candidates=False)
    with pytest.raises(JudgeError, match="strategy 'tools' does not run in listwise mode"):
        Judge(BINARY, mode="listwise", backend=fake, registry=registry, strategy="tools")
    with pytest.raises(JudgeError, match="was asked for native tool calls.*tool_calling: no"):
        judge(registry, fake, tool_protocol="native")
    with pytest.raises(JudgeError, match="no tool named 'nope'"):
        judge(registry, fake, tools=("nope",))
    with pytest.raises(JudgeError, match="tool 'add' takes no options"):
        judge(registry, fake, tools=("add",), tool_options={"add": {"x": 1}})
    with pytest.raises(JudgeError, match="--tools and --tool-option are for a strategy that calls tools"):
        Judge(BINARY, mode="pairwise", backend=fake, registry=registry, strategy_options=StrategyOptions(tools=("add",)))


def test_setup_records_tool_options_only_when_set(registry):
    fake = FakeBackend(exact_candidates=False)
    assert "tools" not in judge(registry, fake).setup["strategy_options"]
    assert judge(registry, fake).setup["tools"] == ["add", "refuse", "slow"]  # the default set, as it was here
    assert judge(registry, fake, tools=("add",), tool_calls=2).setup["strategy_options"]["tools"] == ["add"]
    assert json.dumps(Judge(BINARY, mode="pairwise", backend=fake, registry=registry).setup)  # direct: unchanged
