"""`judge serve` on a real uvicorn server on 127.0.0.1, hit by real HTTP clients.

The in-process tests serve a Judge on the in-process fake backend (named as such) whose P(Yes)
encodes each request's own number, so every client can check that the reward it got is its own;
the last test runs the `judge serve` command on the embedded model and calls it the way
OpenRLHF's remote reward client does.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import threading
import time

import httpx
import pytest
import uvicorn

from judge.backend import Completion, Request
from judge.engine import Judge
from judge.rubric import Rubric
from judge.serving.app import Limits, build_app
from judge_fake.backend import FakeBackend
from support.yes_no import p_yes

CHATML = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def numbered(request: Request) -> Completion:
    """P(Yes) = N / 1000 for a response 'answer N'."""
    return p_yes(int(re.search(r"answer (\d+)", str(request.messages)).group(1)) / 1000)


class Served:
    """A uvicorn server in a thread of its own, stopped (drained) at the end."""

    def __init__(self, judge: Judge, limits: Limits) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(build_app(judge, limits), host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        wait_ready(self.url, {"Authorization": "Bearer s3cret"})
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def wait_ready(url: str, headers: dict[str, str] | None = None, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", headers=headers, timeout=5).status_code == 200:
                return
        except httpx.TransportError:  # not listening yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


@pytest.fixture
def served():
    backend = FakeBackend(numbered, delay=0.2, batch_size=64)
    judge = Judge(Rubric.from_principles(["The answer is right."]), mode="principle", backend=backend)
    with Served(judge, Limits(token="s3cret", max_request_bytes=64 * 1024, max_items=8)) as server:
        server.backend = backend
        yield server


AUTH = {"Authorization": "Bearer s3cret"}


def test_100_concurrent_clients_each_get_their_own_reward_while_bad_and_vanishing_ones_do_not_disturb(served):
    async def client(http: httpx.AsyncClient, n: int):
        prompt = CHATML.format(q=f"Question {n}?")
        body = {"query": [prompt + f"answer {n}<|im_end|>"], "prompts": [prompt], "labels": [""]}
        response = await http.post(f"{served.url}/get_reward", json=body, headers=AUTH)
        return n, response.status_code, response.json()

    async def malformed(http: httpx.AsyncClient, k: int):
        bodies = [b"{not json", json.dumps({"query": ["a"], "prompts": []}).encode(), json.dumps({"query": "x"}).encode()]
        response = await http.post(f"{served.url}/get_reward", content=bodies[k % 3], headers=AUTH)
        return response.status_code

    async def vanishing(k: int):
        async with httpx.AsyncClient(timeout=0.05) as quick:
            prompt = CHATML.format(q="Gone?")
            with pytest.raises(httpx.TimeoutException):
                await quick.post(f"{served.url}/get_reward", json={"query": [prompt + "answer 500"], "prompts": [prompt]}, headers=AUTH)

    async def everyone():
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as http:
            results = await asyncio.gather(*(client(http, n) for n in range(1, 101)),
                                           *(malformed(http, k) for k in range(6)), *(vanishing(k) for k in range(5)))
            after = await client(http, 777)  # the server is still up after clients vanished
            return results, after

    results, after = asyncio.run(everyone())
    answered = results[:100]
    for n, status, payload in answered:
        assert status == 200 and payload["rewards"] == [pytest.approx(n / 1000)], (n, payload)
        assert payload["extra_logs"]["judge_missing"] == [0.0]
    assert sorted(results[100:106]) == [400, 400, 422, 422, 422, 422]
    assert after[1] == 200 and after[2]["rewards"] == [pytest.approx(0.777)]
    metrics = httpx.get(f"{served.url}/metrics", headers=AUTH).json()
    assert metrics["requests"]["get_reward"] == 100 + 6 + 5 + 1 and metrics["refused"] == {"400": 2, "422": 4}
    assert metrics["mean_batch_size"] > 1.5  # single-sample requests were micro-batched together
    assert metrics["latency_p50_s"] is not None and metrics["in_flight"] == 0


def test_the_engines_own_api_and_the_limits(served):
    rows = [{"id": "a", "prompt": "Q?", "response": "answer 250"}, {"id": "b", "prompt": "Q?", "response": "answer 900"}]
    ok = httpx.post(f"{served.url}/v1/judge", json={"items": rows}, headers=AUTH, timeout=30)
    assert ok.status_code == 200
    assert [(j["id"], round(j["reward"], 3)) for j in ok.json()["judgments"]] == [("a", 0.25), ("b", 0.9)]
    bad = httpx.post(f"{served.url}/v1/judge", json={"items": [rows[0], {"id": "c", "response": "x"}]}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"] == "items[1]: field 'prompt' is required"
    assert httpx.post(f"{served.url}/v1/judge", json={"items": rows * 5}, headers=AUTH).status_code == 413  # 10 > max 8
    assert httpx.post(f"{served.url}/v1/judge", content=b"x" * 70_000, headers=AUTH).status_code == 413
    assert httpx.post(f"{served.url}/v1/judge", json={"items": rows}).status_code == 401  # no token
    assert httpx.get(f"{served.url}/ready").status_code == 401
    assert httpx.get(f"{served.url}/health").json() == {"status": "ok"}


def test_judge_serve_on_the_embedded_model_answers_openrlhfs_remote_reward_client(judge_cli, cli_env, converted_model):
    from transformers import AutoTokenizer

    port = free_port()
    server = subprocess.Popen([*judge_cli, "serve", "-p", "The response contains a number.", "--port", str(port)],
                              env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        tokenizer = AutoTokenizer.from_pretrained(str(converted_model))
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": "How many legs does a spider have?"}],
                                               tokenize=False, add_generation_prompt=True)
        queries = [prompt + "A spider has 8 legs.<|im_end|>", prompt + "Spiders have many legs.<|im_end|>"]
        # OpenRLHF's remote reward client (openrlhf/utils/remote_rm_utils.py, request_api_wrapper): POST the
        # batch as JSON, retry on failure, read the "rewards" key of the answer.
        data = {"query": queries, "prompts": [prompt, prompt], "labels": ["", ""]}
        rewards = None
        for _ in range(5):
            try:
                response = httpx.post(f"{url}/get_reward", json=data, headers={"Content-Type": "application/json"}, timeout=180)
                response.raise_for_status()
                rewards = response.json()["rewards"]
                break
            except httpx.HTTPError:
                time.sleep(1)
        assert rewards is not None and len(rewards) == 2 and rewards[0] > rewards[1]  # the pinned "number" case
    finally:
        server.terminate()  # a stop drains in-flight requests, then exits
        out, err = server.communicate(timeout=60)
    # uvicorn drains, then re-raises the signal it caught, so the exit is SIGTERM's own status
    assert server.returncode in (0, -15) and "Traceback" not in err, err
    assert "serving principles (principle) on http://127.0.0.1" in err
