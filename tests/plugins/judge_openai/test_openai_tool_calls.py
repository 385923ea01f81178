"""Native tool calls over HTTP: `tools` and `tool_choice: "auto"` sent, `message.tool_calls` read
back, tool chats passed through as they are, and whether the server takes tools declared or
learnt from a definite answer (never from a 5xx or a dropped connection).

A real HTTP server on 127.0.0.1 (`support.hostile_server`) plays the OpenAI-compatible server;
the last tests ask the real vLLM server, started without --enable-auto-tool-choice.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from judge import Request, SamplingParams
from judge.errors import BackendError
from judge.models import Message
from judge_openai.backend import OpenAIBackend
from judge_vllm.server import SERVED_NAME
from support.hostile_server import MODEL, Answer, HostileServer
from support.tool_declarations import ASK, CALCULATOR, calculator_call
from test_openai_hardening import complete

FAST = {"backoff_base": 0.01, "backoff_cap": 0.05}
CALL = calculator_call("call_abc")
VLLM_REFUSAL = {"error": {"message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
                          "type": "BadRequestError", "code": 400}}


def with_tools(*messages: Message) -> Request:
    return Request(messages=messages or (ASK,), tools=(CALCULATOR,), sampling=SamplingParams(max_tokens=32))


PLAIN = Request(messages=(ASK,), sampling=SamplingParams(max_tokens=4))


def calling(bodies: list[dict], refuse: Answer | None = None):
    """A server that answers every request offering tools with one call (or with `refuse`)."""

    def route(method, path, body):
        if not path.endswith("/chat/completions"):
            return None
        request = json.loads(body)
        bodies.append(request)
        if "tools" not in request:
            return None
        if refuse is not None:
            return refuse
        calls = [{"id": "call_xyz", "type": "function", "function": {"name": "calculator", "arguments": '{"expression":"2+2"}'}}]
        choice = {"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": calls}, "finish_reason": "tool_calls"}
        return Answer(payload={"choices": [choice], "usage": {"prompt_tokens": 40, "completion_tokens": 12}})

    return route


def test_tools_are_offered_and_the_calls_come_back():
    bodies: list[dict] = []
    with HostileServer(calling(bodies)) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, **FAST)
        [answer] = complete(backend, [with_tools()])
    assert answer.error is None, answer.error
    assert answer.texts == [""] and answer.finish_reasons == ["tool_calls"]
    [[call]] = answer.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_xyz", "calculator", '{"expression":"2+2"}')
    [body] = bodies
    assert body["tools"] == [CALCULATOR] and body["tool_choice"] == "auto"
    assert backend.capabilities.tool_calling is True  # learnt from the 2xx


def test_a_chat_going_on_after_a_call_is_sent_in_openais_shape_unchanged():
    bodies: list[dict] = []
    chat = with_tools(ASK, Message(role="assistant", content="", tool_calls=[CALL]),
                      Message(role="tool", content="4", tool_call_id="call_abc"))
    with HostileServer(calling(bodies)) as server:
        [answer] = complete(OpenAIBackend(MODEL, base_url=server.url, tool_calling=True, **FAST), [chat])
    assert answer.error is None
    assert bodies[0]["messages"][1:] == [
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "content": "4", "tool_call_id": "call_abc"},
    ]


def test_an_ordinary_request_carries_no_tool_fields_and_start_sends_no_probe():
    bodies: list[dict] = []
    with HostileServer(calling(bodies)) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, **FAST)
        [answer] = complete(backend, [PLAIN])
    assert answer.error is None and answer.tool_calls is None
    [body] = bodies  # the request itself: nothing was sent at start
    assert "tools" not in body and "tool_choice" not in body
    assert backend.capabilities.tool_calling is None  # unknown: nothing has told yet


def test_a_server_that_refuses_tools_is_learnt_as_not_able_and_is_not_asked_again():
    bodies: list[dict] = []
    with HostileServer(calling(bodies, refuse=Answer(400, VLLM_REFUSAL))) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, **FAST)

        async def go():
            await backend.start()
            first = (await backend.complete([with_tools()]))[0]
            rest = await backend.complete([PLAIN, with_tools()])
            await backend.aclose()
            return first, *rest

        first, ordinary, second = asyncio.run(go())
    assert backend.capabilities.tool_calling is False
    for refused in (first, second):
        assert refused.error and "does not accept tools" in refused.error and "--enable-auto-tool-choice" in refused.error
    assert "HTTP 400" in first.error  # the server's own answer is quoted
    assert ordinary.error is None and ordinary.texts == ["Yes"]
    assert sum("tools" in b for b in bodies) == 1  # the second request with tools was never sent


@pytest.mark.parametrize("status", [400, 422])
def test_the_probe_concludes_not_able_from_a_refusal(status):
    refusal = Answer(status, {"detail": [{"loc": ["body", "tools"], "msg": "Extra inputs are not permitted"}]})
    with HostileServer(calling([], refuse=refusal)) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, **FAST)

        async def go():
            await backend.start()
            return await backend.probe_tool_calling()

        assert asyncio.run(go()) is False
    assert backend.capabilities.tool_calling is False


def test_the_probe_retries_a_5xx_and_concludes_from_the_answer_after_it():
    seen: list[dict] = []
    failed = {"once": False}

    def route(method, path, body):
        if path.endswith("/chat/completions") and not failed["once"]:
            failed["once"] = True
            seen.append(json.loads(body))
            return Answer(500, {"error": "injected"})
        return calling(seen)(method, path, body)

    with HostileServer(route) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, **FAST)

        async def go():
            await backend.start()
            return await backend.probe_tool_calling()

        assert asyncio.run(go()) is True
        assert server.requests["POST /v1/chat/completions"] == 2
    assert seen[0] == seen[1] and seen[0]["max_tokens"] == 1 and len(seen[0]["tools"]) == 1  # one tiny request, sent again


def test_a_probe_that_gets_no_definite_answer_concludes_nothing_and_is_tried_again():
    down = {"on": True}

    def route(method, path, body):
        if path.endswith("/chat/completions") and down["on"]:
            return Answer(503, {"error": "starting"})
        return calling([])(method, path, body)

    with HostileServer(route) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, start_budget=0.5, **FAST)

        async def go():
            await backend.start()
            first = await backend.probe_tool_calling()
            down["on"] = False
            return first, await backend.probe_tool_calling()

        assert asyncio.run(go()) == (None, True)


def test_a_400_about_something_else_concludes_nothing():
    too_long = Answer(400, {"error": {"message": "This model's maximum context length is 2048 tokens"}})
    with HostileServer(calling([], refuse=too_long)) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, **FAST)
        [answer] = complete(backend, [with_tools()])
    assert answer.error and answer.error.startswith("HTTP 400") and "maximum context length" in answer.error
    assert backend.capabilities.tool_calling is None


@pytest.mark.parametrize(("declared", "sent"), [(False, 0), (True, 1)])
def test_a_declared_capability_is_taken_without_a_probe(declared, sent):
    bodies: list[dict] = []
    with HostileServer(calling(bodies)) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, tool_calling=declared, **FAST)
        [answer] = complete(backend, [with_tools()])
        assert asyncio.run(backend.probe_tool_calling()) is declared
    assert backend.capabilities.tool_calling is declared and len(bodies) == sent
    assert (answer.error is None) is declared
    if not declared:
        assert "does not accept tools" in answer.error and "tool_calling=false" in answer.error


def test_tools_on_the_completions_endpoint_are_a_named_error():
    with pytest.raises(BackendError, match="needs the chat endpoint"):
        OpenAIBackend(MODEL, base_url="http://127.0.0.1:9/v1", endpoint="completions", tool_calling=True)
    with HostileServer() as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, endpoint="completions", **FAST)
        [answer] = complete(backend, [with_tools()])
    assert backend.capabilities.tool_calling is False
    assert answer.error and "chat endpoint" in answer.error


def test_malformed_tool_calls_in_a_200_are_an_error_with_a_reason():
    broken = {"choices": [{"index": 0, "message": {"content": None, "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}}]}
    with HostileServer(calling([], refuse=Answer(payload=broken))) as server:
        [answer] = complete(OpenAIBackend(MODEL, base_url=server.url, **FAST), [with_tools()])
    assert answer.error and "malformed answer" in answer.error and "tool_calls.0.function.name" in answer.error


def test_arguments_sent_as_an_object_and_a_missing_id_are_read():
    calls = [{"function": {"name": "calculator", "arguments": {"expression": "2+2"}}}]
    payload = {"choices": [{"index": 0, "message": {"content": "Checking.", "tool_calls": calls}}]}
    with HostileServer(calling([], refuse=Answer(payload=payload))) as server:
        [answer] = complete(OpenAIBackend(MODEL, base_url=server.url, **FAST), [with_tools()])
    assert answer.texts == ["Checking."]
    [[call]] = answer.tool_calls
    assert call.id == "call_0" and json.loads(call.arguments) == {"expression": "2+2"}


@pytest.mark.slow
def test_the_real_vllm_server_without_auto_tool_choice_is_not_able(vllm_server):
    backend = OpenAIBackend(SERVED_NAME, base_url=vllm_server.url)

    async def go():
        await backend.start()
        probed = await backend.probe_tool_calling()
        [answer] = await backend.complete([with_tools()])
        await backend.aclose()
        return probed, answer

    probed, answer = asyncio.run(go())
    assert probed is False and backend.capabilities.tool_calling is False
    assert answer.error and "does not accept tools" in answer.error


@pytest.mark.slow
def test_the_real_vllm_server_refusal_is_learnt_from_the_first_request_with_tools(vllm_server):
    backend = OpenAIBackend(SERVED_NAME, base_url=vllm_server.url)
    [answer] = complete(backend, [with_tools()])
    assert backend.capabilities.tool_calling is False
    assert "HTTP 400" in answer.error and "--tool-call-parser to be set" in answer.error, answer.error  # vLLM's own words
