"""Continuing a partial assistant message over HTTP: vLLM's server does it (its extra request
fields), any other server declares it cannot, and a continuing request then fails by name
instead of being answered in a new turn. Whole candidates are not offered over HTTP."""

from __future__ import annotations

import asyncio
import json

import pytest

from judge import Request, SamplingParams
from judge.models import Message
from judge_openai.backend import OpenAIBackend
from judge_vllm.server import SERVED_NAME
from support.fault_proxy import FaultProxy
from support.hostile_server import MODEL, Answer, HostileServer
from test_openai_backend import complete

pytestmark = pytest.mark.slow
FAST = {"backoff_base": 0.01, "backoff_cap": 0.05}
LOGPROB_TOLERANCE = 2e-3  # as in test_openai_backend: the server runs the same engine as vLLM offline
CONTINUED = Request(
    messages=(Message(role="user", content="Is 2+2=4 correct? End with Verdict: Yes or No."),
              Message(role="assistant", content="Let me check. Verdict:")),
    candidates=(" Yes", " No"),
    sampling=SamplingParams(max_tokens=4),
)




def sent_bodies(forwarded) -> list[dict]:
    return [json.loads(body) for body in forwarded if body.startswith(b"{") and b'"max_tokens"' in body]


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_vllm_server_continues_the_partial_answer_as_vllm_offline_does(vllm_server, vllm_offline, endpoint):
    root = vllm_server.url[: -len("/v1")]
    with FaultProxy(root, lambda *_: "pass") as proxy:
        backend = OpenAIBackend(SERVED_NAME, base_url=f"{proxy.url}/v1", endpoint=endpoint)
        [over_http] = asyncio.run(complete(backend, [CONTINUED]))
    assert backend.capabilities.continuation and not backend.capabilities.whole_candidates
    assert over_http.error is None, over_http.error
    [offline] = asyncio.run(vllm_offline.complete([CONTINUED]))
    assert over_http.texts == offline.texts and over_http.usage.prompt_tokens == offline.usage.prompt_tokens
    for candidate in CONTINUED.candidates:
        assert over_http.candidate_logprobs[candidate] == pytest.approx(offline.candidate_logprobs[candidate], abs=LOGPROB_TOLERANCE)
    [body] = sent_bodies(proxy.forwarded)
    if endpoint == "chat":
        assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
        assert body["messages"][-1] == {"role": "assistant", "content": "Let me check. Verdict:"}
    else:
        assert "continue_final_message" not in body and isinstance(body["prompt"], list)


def test_an_ordinary_request_to_vllm_server_carries_no_continuation_fields(vllm_server):
    root = vllm_server.url[: -len("/v1")]
    ordinary = Request(messages=CONTINUED.messages[:1], sampling=SamplingParams(max_tokens=1))
    with FaultProxy(root, lambda *_: "pass") as proxy:
        [answer] = asyncio.run(complete(OpenAIBackend(SERVED_NAME, base_url=f"{proxy.url}/v1"), [ordinary]))
    assert answer.error is None
    [body] = sent_bodies(proxy.forwarded)
    assert "continue_final_message" not in body and "add_generation_prompt" not in body


def test_whole_candidates_over_http_are_a_named_error_and_nothing_is_sent(vllm_server):
    root = vllm_server.url[: -len("/v1")]
    whole = CONTINUED.model_copy(update={"whole_candidates": True, "candidates": ("1", "10")})
    with FaultProxy(root, lambda *_: "pass") as proxy:
        [answer] = asyncio.run(complete(OpenAIBackend(SERVED_NAME, base_url=f"{proxy.url}/v1"), [whole]))
    assert answer.error and "whole-candidate" in answer.error
    assert sent_bodies(proxy.forwarded) == []


def recording(bodies: list[dict], tokenize: bool):
    """A plain OpenAI-like server (HostileServer's default answers): no /tokenize unless asked."""

    def route(method, path, body):
        if path == "/tokenize" and not tokenize:
            return Answer(404, {"error": "not found"})
        if path.endswith("/chat/completions"):
            bodies.append(json.loads(body))
        return None

    return route


def test_a_server_that_is_not_vllm_declares_no_continuation_and_never_opens_a_new_turn():
    bodies: list[dict] = []
    ordinary = Request(messages=CONTINUED.messages[:1], sampling=SamplingParams(max_tokens=1))
    continued = CONTINUED.model_copy(update={"candidates": ()})
    with HostileServer(recording(bodies, tokenize=False)) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, **FAST)
        refused, answered = asyncio.run(complete(backend, [continued, ordinary]))
    assert backend.capabilities.continuation is False and backend.capabilities.exact_candidates is False
    assert refused.error and "cannot continue" in refused.error and not refused.texts
    assert answered.error is None and answered.texts == ["Yes"]
    assert len(bodies) == 1 and bodies[0]["messages"][-1]["role"] == "user"  # the continuation was never sent


@pytest.mark.parametrize(("options", "expected"), [
    ({}, True),  # vLLM's /tokenize answers: the same probe as exact_candidates
    ({"exact_candidates": True}, True),  # declared vLLM-ness, no probe
    ({"exact_candidates": False}, False),
    ({"continuation": False}, False),
    ({"exact_candidates": False, "continuation": True}, True),
])
def test_continuation_follows_the_probe_or_what_is_declared(options, expected):
    bodies: list[dict] = []
    with HostileServer(recording(bodies, tokenize=True)) as server:
        backend = OpenAIBackend(MODEL, base_url=server.url, **FAST, **options)
        [answer] = asyncio.run(complete(backend, [CONTINUED.model_copy(update={"candidates": ()})]))
    assert backend.capabilities.continuation is expected
    if expected:
        assert answer.error is None
        assert bodies[0]["continue_final_message"] is True and bodies[0]["add_generation_prompt"] is False
    else:
        assert answer.error and bodies == []
