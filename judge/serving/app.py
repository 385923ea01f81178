"""`judge serve`: one loaded judge behind HTTP, shared by every client (Starlette on uvicorn).

Every request's items go through one open `Judge.session`, so concurrent clients' model calls are
micro-batched into the same backend batches (gathered for a few milliseconds when a batch is not
full). Endpoints:

- `POST /get_reward`: OpenRLHF's remote reward protocol: `{"query": [...], "prompts": [...],
  "labels": [...]}` in, `{"rewards", "scores", "extra_logs": {"judge_missing"}}` out.
- `POST /v1/judge`: the engine's own: `{"items": [rows as judge score reads them]}` in,
  `{"judgments": [...]}` out.
- `GET /health` (alive), `GET /ready` (the judge is loaded), `GET /metrics` (JSON counters).

Bad input is a 4xx with a one-line reason and the server stays up; a request over its time budget
is a 504; with a token, every endpoint but /health wants `Authorization: Bearer TOKEN`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from judge.engine import Judge, Session
from judge.errors import InputError
from judge.inputs import row_to_item
from judge.integrations.openrlhf import openrlhf_inputs, openrlhf_result
from judge.models import Item, Judgment, Status
from judge.rewards import Reward


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 8 * 1024 * 1024
    max_items: int = 4096
    request_timeout: float = 600.0
    window: float = 0.005
    token: str | None = None
    missing_score: float = 0.0


class Refused(Exception):
    """A request the server will not run: its HTTP status and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Metrics:
    """Counters for /metrics; latencies of the last 10,000 requests for the percentiles."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.refused: Counter[int] = Counter()
        self.items = 0
        self.in_flight = 0
        self.latencies: deque[float] = deque(maxlen=10_000)

    def snapshot(self, session: Session | None) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def percentile(q: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4) if ordered else None

        dispatcher = session.dispatcher if session is not None else None
        batches = dispatcher.batches_sent if dispatcher else 0
        sent = dispatcher.requests_sent if dispatcher else 0
        return {
            "requests": dict(self.requests), "refused": {str(k): v for k, v in self.refused.items()}, "items": self.items,
            "in_flight": self.in_flight, "backend_batches": batches, "backend_requests": sent,
            "mean_batch_size": round(sent / batches, 3) if batches else None,
            "deduplicated": dispatcher.deduplicated if dispatcher else 0,
            "latency_p50_s": percentile(0.5), "latency_p99_s": percentile(0.99),
        }


def build_app(judge: Judge, limits: Limits = Limits()) -> Starlette:
    """The ASGI app; the judge is prepared (model loaded) at start-up, before /ready says yes."""
    state: dict[str, Session | None] = {"session": None}
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with judge.session(window=limits.window) as session:
            state["session"] = session
            try:
                yield
            finally:
                state["session"] = None

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> JSONResponse:
        refused = _auth(request, limits)
        if refused is not None:
            return refused
        if state["session"] is None:
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True, "model": judge.backend.model, "setup": judge.setup})

    async def metrics_endpoint(request: Request) -> JSONResponse:
        return _auth(request, limits) or JSONResponse(metrics.snapshot(state["session"]))

    def endpoint(name: str, handler: Any) -> Any:
        async def run(request: Request) -> JSONResponse:
            metrics.requests[name] += 1
            started = time.perf_counter()
            metrics.in_flight += 1
            try:
                refused = _auth(request, limits)
                if refused is not None:
                    metrics.refused[refused.status_code] += 1
                    return refused
                session = state["session"]
                if session is None:
                    raise Refused(503, "the judge is not loaded yet; wait for GET /ready")
                body = await _json_body(request, limits)
                answer = await asyncio.wait_for(handler(session, body), timeout=limits.request_timeout)
                metrics.latencies.append(time.perf_counter() - started)
                return JSONResponse(answer)
            except Refused as exc:
                metrics.refused[exc.status] += 1
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except asyncio.TimeoutError:
                metrics.refused[504] += 1
                return JSONResponse({"error": f"not judged within the request budget of {limits.request_timeout:g} s"}, status_code=504)
            finally:
                metrics.in_flight -= 1

        return run

    async def get_reward(session: Session, body: Any) -> dict[str, Any]:
        queries, prompts, labels = _openrlhf_fields(body, limits)
        requests, responses, references = openrlhf_inputs(queries, prompts, labels)
        items = [_item(f"q{i}", *row) for i, row in enumerate(zip(requests, responses, references))]
        metrics.items += len(items)
        judgments = await session.judge(items)
        return openrlhf_result([_reward(j) for j in judgments], limits.missing_score, as_tensors=False)

    async def judge_items(session: Session, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise Refused(422, 'the body is {"items": [rows]}, each row as `judge score` reads it')
        rows = body["items"]
        _check_count(len(rows), limits)
        items = []
        for index, row in enumerate(rows):
            try:
                items.append(row_to_item(row, index, "items"))
            except InputError as exc:
                raise Refused(422, f"items[{index}]: {exc.problem}") from None
        metrics.items += len(items)
        judgments = await session.judge(items)
        return {"judgments": [j.model_dump(mode="json") for j in judgments]}

    routes = [
        Route("/health", health), Route("/ready", ready), Route("/metrics", metrics_endpoint),
        Route("/get_reward", endpoint("get_reward", get_reward), methods=["POST"]),
        Route("/v1/judge", endpoint("judge", judge_items), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _auth(request: Request, limits: Limits) -> JSONResponse | None:
    if limits.token is None or request.headers.get("authorization") == f"Bearer {limits.token}":
        return None
    return JSONResponse({"error": "missing or wrong bearer token (Authorization: Bearer TOKEN)"}, status_code=401)


async def _json_body(request: Request, limits: Limits) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_request_bytes:
        raise Refused(413, f"the body is {declared} bytes; the limit is {limits.max_request_bytes} (--max-request-bytes)")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limits.max_request_bytes:
            raise Refused(413, f"the body is over the limit of {limits.max_request_bytes} bytes (--max-request-bytes)")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Refused(400, f"the body is not JSON: {exc}") from None


def _check_count(count: int, limits: Limits) -> None:
    if count == 0:
        raise Refused(422, "nothing to judge: the request has no items")
    if count > limits.max_items:
        raise Refused(413, f"{count} items in one request; the limit is {limits.max_items} (--max-items)")


def _openrlhf_fields(body: Any, limits: Limits) -> tuple[list[str], list[str], list[Any]]:
    if not isinstance(body, dict):
        raise Refused(422, 'the body is {"query": [...], "prompts": [...], "labels": [...]}')
    queries, prompts = body.get("query"), body.get("prompts")
    labels = body.get("labels") or [None] * (len(queries) if isinstance(queries, list) else 0)
    for name, value in (("query", queries), ("prompts", prompts), ("labels", labels)):
        if not isinstance(value, list) or (name != "labels" and not all(isinstance(v, str) for v in value)):
            raise Refused(422, f"field '{name}' must be a list of strings")
    if not len(queries) == len(prompts) == len(labels):  # type: ignore[arg-type]
        raise Refused(422, f"query, prompts and labels differ in length ({len(queries)}, {len(prompts)}, {len(labels)})")  # type: ignore[arg-type]
    _check_count(len(queries), limits)  # type: ignore[arg-type]
    return queries, prompts, labels  # type: ignore[return-value]


def _item(item_id: str, prompt: str, response: str, reference: str | None) -> Item:
    return Item(id=item_id, prompt=prompt, responses=[response], reference=reference)  # an empty one is an error judgment


def _reward(judgment: Judgment) -> Reward:
    """Principle mode's reward, or a pointwise judge's score; None where there is none."""
    value = judgment.reward if judgment.reward is not None else (judgment.scores[0] if judgment.scores else None)
    if judgment.status is Status.ok and value is not None:
        return Reward(value=value, status=Status.ok, principles={}, id=judgment.id)
    status = Status.unparsed if judgment.status is Status.ok else judgment.status
    return Reward(value=None, status=status, principles={}, error=judgment.error, id=judgment.id)
