"""The `tools` strategy through the openai backend, natively: the engine asks the server at start
whether it takes tools, offers the tools' declarations, runs the real calculator on the call that
comes back and answers it as a `tool` message. A real HTTP server on 127.0.0.1 plays the server."""

from __future__ import annotations

import json

from judge import Item, Judge, Rubric
from judge.rubric import Criterion
from judge.strategy import StrategyOptions
from judge_openai.backend import OpenAIBackend
from support.hostile_server import MODEL, Answer, HostileServer

RUBRIC = Rubric(name="t", criteria=[Criterion(id="right", text="Is the arithmetic right?", scale="binary", high="h", low="l")])
PAIR = Item(id="p", prompt="What is 1/3 + 1/6?", responses=["1/2", "2/9"])


def reply(message: dict) -> Answer:
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return Answer(payload={"choices": [choice], "usage": {"prompt_tokens": 10, "completion_tokens": 5}})


def test_native_tool_calls_from_a_server_that_takes_tools():
    bodies: list[dict] = []

    def route(method, path, body):
        if not path.endswith("/chat/completions"):
            return None
        request = json.loads(body)
        bodies.append(request)
        last = request["messages"][-1]
        if last["role"] == "tool":
            return reply({"role": "assistant", "content": f"Rationale: the calculator says {last['content']}.\nVerdict: A"})
        call = {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "1/3 + 1/6"}'}}
        return reply({"role": "assistant", "content": None, "tool_calls": [call]})

    with HostileServer(route) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, backoff_base=0.01, backoff_cap=0.05)
        judge = Judge(RUBRIC, mode="pairwise", backend=backend, score_from="text", strategy="tools",
                      strategy_options=StrategyOptions(tools=("calculator",), trace=True))
        [judgment] = judge.score([PAIR])
    probe, first, second = bodies  # the capability was asked once, at start
    assert probe["max_tokens"] == 1 and probe["tools"]
    assert [t["function"]["name"] for t in first["tools"]] == ["calculator"] and first["tool_choice"] == "auto"
    assert "Action Input:" not in first["messages"][-1]["content"]  # no text protocol when calls are native
    assert second["messages"][-2]["tool_calls"][0]["function"]["arguments"] == '{"expression": "1/3 + 1/6"}'
    assert second["messages"][-1] == {"role": "tool", "content": "1/2", "tool_call_id": "call_1"}  # the real calculator
    assert judgment.preferred == 0 and judgment.verdicts[0].detail["tool_calls"][0]["status"] == "ok"


def test_a_server_that_refuses_tools_gets_the_text_protocol():
    bodies: list[dict] = []
    refusal = Answer(status=400, payload={"error": {"message": '"auto" tool choice requires --enable-auto-tool-choice and '
                                                               "--tool-call-parser to be set", "code": 400}})

    def route(method, path, body):
        if not path.endswith("/chat/completions"):
            return None
        request = json.loads(body)
        bodies.append(request)
        if "tools" in request:
            return refusal
        return reply({"role": "assistant", "content": "Rationale: A is right.\nVerdict: A"})

    with HostileServer(route) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, backoff_base=0.01, backoff_cap=0.05)
        [judgment] = Judge(RUBRIC, mode="pairwise", backend=backend, score_from="text", strategy="tools",
                           strategy_options=StrategyOptions(tools=("calculator",))).score([PAIR])
    probe, turn = bodies
    assert "tools" in probe and "tools" not in turn and "Action Input:" in turn["messages"][-1]["content"]
    assert turn["stop"] == ["Observation:"] and judgment.preferred == 0
