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
import threading
from collections import Counter
from collections.abc import Callable

import httpx

Plan = Callable[[int, str, bytes], str]


class FaultProxy:
    def __init__(self, upstream: str, plan: Plan, stall_seconds: float = 5.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.stall_seconds = stall_seconds
        self.attempts = 0
        self.per_path: Counter[str] = Counter()
        self.fates: Counter[str] = Counter()
        self.fates_by_path: dict[str, Counter[str]] = {}
        self.forwarded: Counter[bytes] = Counter()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self) -> None:
        """Cancel connections still held open (stalls), so nothing is left pending."""
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._client = httpx.AsyncClient(timeout=120)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
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
