"""A real HTTP server on 127.0.0.1 that forwards to an upstream server and fails on purpose.

Each incoming request, on EVERY path (GET /v1/models and /tokenize included), is given a fate
by `plan(attempt, path, body)`, where `attempt` counts the requests seen on that path so far
(1 for the first): forwarded ("pass"), answered 500, answered 429 with Retry-After, dropped
(connection closed with no answer), or stalled (held past the client's timeout). It counts
what it saw, per path, and what it forwarded (POST bodies; a GET as its path), so tests can
check that every endpoint was hit by faults and that no request was sent twice without reason.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx

from support.loopback import LoopbackServer, read_request

Plan = Callable[[int, str, bytes], str]


class FaultProxy(LoopbackServer):
    kind = "fault proxy"

    def __init__(self, upstream: str, plan: Plan, stall_seconds: float = 5.0) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.stall_seconds = stall_seconds
        self.attempts = 0
        self.per_path: Counter[str] = Counter()
        self.fates: Counter[str] = Counter()
        self.fates_by_path: dict[str, Counter[str]] = {}
        self.forwarded: Counter[bytes] = Counter()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _on_start(self) -> None:
        self._client = httpx.AsyncClient(timeout=120)

    async def _on_stop(self) -> None:
        await self._client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                method, path, headers, body = await read_request(reader)
                self.attempts += 1
                self.per_path[path] += 1
                fate = self.plan(self.per_path[path], path, body)
                self.fates[fate] += 1
                self.fates_by_path.setdefault(path, Counter())[fate] += 1
                if fate == "drop":
                    writer.close()
                    return
                if fate == "stall":
                    await asyncio.sleep(self.stall_seconds)
                    writer.close()
                    return
                if fate == "500":
                    await _answer(writer, 500, b'{"error": "injected failure"}')
                elif fate == "429":
                    await _answer(writer, 429, b'{"error": "slow down"}', {"Retry-After": "1"})
                else:
                    self.forwarded[body if method == "POST" else f"{method} {path}".encode()] += 1
                    upstream = await self._client.request(
                        method, self.upstream + path, content=body,
                        headers={k: v for k, v in headers.items() if k in {"content-type", "authorization"}},
                    )
                    await _answer(writer, upstream.status_code, upstream.content)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


async def _answer(writer: asyncio.StreamWriter, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(extra or {})}
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode("latin-1") + body)
    await writer.drain()
