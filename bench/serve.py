"""`judge serve` under many concurrent clients, and the TRL adapter, measured side by side in one run.

    .venv/bin/python bench/serve.py [--clients 100] [--requests 300] [--group 8] [--repeats 3] [--backend transformers]

(a) Throughput of `judge serve` (uvicorn on 127.0.0.1, `--clients` concurrent HTTP clients each
    sending single-sample OpenRLHF `/get_reward` requests, `--requests` in all) against:
    - the same items judged in one in-process batch (`Judge.score`): the target is >= 0.8;
    - a naive reward server that answers one request at a time (the same model and Judge behind
      an asyncio.Lock): what micro-batching buys.
    p50 and p99 latency per request for both servers. Principle mode, one token per verdict, the
    embedded model unless --backend says otherwise.
(b) The TRL adapter's time per GRPO group (`--group` completions of one prompt) against calling
    the engine directly on the same items, in alternating rounds (the median ratio shown).

Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import paired  # noqa: E402  (the other bench's helper)

PRINCIPLE = "The response answers the question."
CHATML = "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"


def bodies(count: int) -> list[dict[str, Any]]:
    """Distinct single-sample requests (nothing deduplicated away)."""
    out = []
    for k in range(count):
        prompt = CHATML.format(q=f"What is {k} plus {k + 1}?")
        out.append({"query": [prompt + f"It is {2 * k + 1}.<|im_end|>"], "prompts": [prompt], "labels": [""]})
    return out


def naive_app(judge: Any) -> Any:
    """A reward server that judges one request at a time: what a plain Flask-style server does."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from judge.integrations.openrlhf import split_query
    from judge.models import Item

    lock = asyncio.Lock()

    async def get_reward(request: Request) -> JSONResponse:
        body = await request.json()
        items = [Item(id=str(i), prompt=p, responses=[r])
                 for i, (p, r) in enumerate(split_query(q, pr) for q, pr in zip(body["query"], body["prompts"]))]
        async with lock:
            judgments = await judge.ascore(items)
        return JSONResponse({"rewards": [j.reward for j in judgments]})

    return Starlette(routes=[Route("/get_reward", get_reward, methods=["POST"])])


def serve_in_thread(app: Any, port: int) -> Any:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def load(url: str, requests: list[dict[str, Any]], clients: int) -> tuple[float, list[float]]:
    """(seconds, per-request latencies) for `requests` sent by `clients` concurrent clients."""
    import httpx

    async def run() -> tuple[float, list[float]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for body in requests:
            queue.put_nowait(body)
        latencies: list[float] = []

        async def client(http: httpx.AsyncClient) -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post(f"{url}/get_reward", json=body)
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

        async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=clients)) as http:
            started = time.perf_counter()
            await asyncio.gather(*(client(http) for _ in range(clients)))
            return time.perf_counter() - started, latencies

    return asyncio.run(run())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--group", type=int, default=8, help="(b): completions per GRPO group")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default=None, help="backend plugin (default: the embedded model)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--only", default="a,b")
    args = parser.parse_args(argv)

    from judge.engine import Judge
    from judge.integrations.openrlhf import split_query
    from judge.integrations.trl import trl_reward
    from judge.models import Item
    from judge.rewards import PrincipleReward
    from judge.rubric import Rubric
    from judge.serving.app import Limits, build_app

    rubric = Rubric.from_principles([PRINCIPLE])
    judge = Judge(rubric, mode="principle", backend=args.backend, model=args.model)
    asyncio.run(judge.prepare())  # load the model outside every measurement
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"backend {judge.backend.name} ({judge.backend.model})", flush=True)
    wanted = set(args.only.split(","))

    if "a" in wanted:
        requests = bodies(args.requests)
        items = [Item(id=str(k), prompt=p, responses=[r]) for k, (p, r) in
                 enumerate(split_query(b["query"][0], b["prompts"][0]) for b in requests)]
        judge.score(items[:8])  # warm
        started = time.perf_counter()
        judge.score(items)
        batch_s = time.perf_counter() - started
        served = serve_in_thread(build_app(Judge(rubric, mode="principle", backend=judge.backend), Limits()), port := free_port())
        serve_s, serve_lat = load(f"http://127.0.0.1:{port}", requests, args.clients)
        served.should_exit = True
        naive = serve_in_thread(naive_app(Judge(rubric, mode="principle", backend=judge.backend)), port := free_port())
        naive_s, naive_lat = load(f"http://127.0.0.1:{port}", requests, args.clients)
        naive.should_exit = True
        n = len(requests)
        print(f"(a) {n} single-sample requests from {args.clients} clients:")
        print(f"    in-process batch:   {n / batch_s:8.1f} items/s")
        print(f"    judge serve:        {n / serve_s:8.1f} items/s   ratio to the batch {batch_s / serve_s:.2f} (target >= 0.8); "
              f"p50 {percentile(serve_lat, 0.5) * 1e3:.0f} ms, p99 {percentile(serve_lat, 0.99) * 1e3:.0f} ms")
        print(f"    naive server:       {n / naive_s:8.1f} items/s   judge serve is {naive_s / serve_s:.1f}x faster; "
              f"p50 {percentile(naive_lat, 0.5) * 1e3:.0f} ms, p99 {percentile(naive_lat, 0.99) * 1e3:.0f} ms", flush=True)

    if "b" in wanted:
        reward = PrincipleReward(rubric, judge=judge)
        adapter = trl_reward(reward)
        rounds = iter(range(10**9))

        def group() -> tuple[list[str], list[str]]:
            k = next(rounds)  # a new group each call: nothing answered from the run's memory
            return [f"Group {k}: what is 2 + 2?"] * args.group, [f"It is {4 + i}. (group {k})" for i in range(args.group)]

        def via_adapter() -> None:
            prompts, completions = group()
            adapter(prompts=prompts, completions=completions, completion_ids=None, trainer_state=None)

        def direct() -> None:
            prompts, completions = group()
            judge.score([Item(id=str(i), prompt=p, responses=[c]) for i, (p, c) in enumerate(zip(prompts, completions))])

        adapter_s, direct_s = paired(via_adapter, direct, args.repeats)
        print(f"(b) TRL adapter per GRPO group of {args.group}: {adapter_s * 1e3:.0f} ms against the engine directly "
              f"{direct_s * 1e3:.0f} ms: ratio {adapter_s / direct_s:.2f}", flush=True)


if __name__ == "__main__":
    main()
