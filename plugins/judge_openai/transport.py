"""HTTP calls with a deadline on every attempt, a wall-clock retry budget, and a bounded body.

httpx's timeouts are per phase (connect, each read), so a server that trickles one byte a
second never trips them, and a body is read whole into memory. Here every attempt runs under
one `asyncio.timeout` that covers connect, send and the full body; the body is streamed and
decoded by us (gzip and deflate only) so its DECODED size is capped and a gzip bomb stops at
the cap; and the retry loop runs under the budget's deadline, backoff sleeps included.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from judge_openai.retry import RETRY_STATUS, backoff, retry_after

ERROR_BODY_BYTES = 4096  # enough of an error page for a one-line reason
NO_TOKENIZER_STATUS = {401, 403, 404, 405, 501}


class CallFailed(Exception):
    """A call ended without a definite answer; the message is the one-line reason."""

    def __init__(self, reason: str, retryable: bool = True) -> None:
        super().__init__(reason)
        self.retryable = retryable


@dataclass
class Endpoint:
    """One server: `base_url` ends in /v1 (OpenAI routes); `root` is without it (vLLM's /tokenize)."""

    base_url: str
    in_flight: int = 0

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    @property
    def root(self) -> str:
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url


@dataclass
class Reply:
    """A complete answer: status, the (decoded, capped) body, and its JSON for a 2xx."""

    status: int
    body: bytes
    url: str
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def snippet(self) -> str:
        return self.body[:200].decode("utf-8", "replace")


@dataclass(frozen=True)
class Policy:
    """How long one attempt may take, how often and how long to keep trying, how big a body may be."""

    timeout: float = 120.0
    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_response_bytes: int = 32 * 1024**2


class Transport:
    """One httpx client per event loop, and `call`: the retry policy every request goes through."""

    def __init__(self, endpoints: list[Endpoint], headers: dict[str, str], max_connections: int, policy: Policy) -> None:
        self.endpoints = endpoints
        self.headers = {"Accept-Encoding": "gzip, deflate", **headers}
        self.max_connections = max_connections
        self.policy = policy
        self.attempts = 0  # every HTTP request sent, retries included: for tests and bench
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_new_loop: Callable[[], None] = lambda: None

    def client(self) -> httpx.AsyncClient:
        # A client belongs to the event loop it was made in; `Judge.score` runs a new loop per
        # call, so a client from an earlier loop is left behind (its loop closed its sockets).
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is not loop:
            self._client = None
            self.on_new_loop()
        if self._client is None:
            self._loop = loop
            limits = httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=64)
            self._client = httpx.AsyncClient(headers=self.headers, timeout=self.policy.timeout, limits=limits)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
            self._client = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        budget: float,
        root: bool = False,
        balanced: bool = False,
        to: Endpoint | None = None,
    ) -> Reply:
        """Send until a definite answer (2xx, or a status not worth retrying) or the budget is spent.

        `budget` is a wall-clock bound on the whole call, every attempt and backoff sleep included.
        The server is `to`, else the least busy one (`balanced`), else the first. Raises CallFailed
        when no definite answer came in time or the body was refused (too big, unknown encoding).
        """
        started = time.monotonic()
        deadline = started + budget
        last_error = "no attempt fitted in the retry budget"
        made = 0
        for attempt in range(1, self.policy.max_retries + 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            made = attempt
            endpoint = to or (min(self.endpoints, key=lambda e: e.in_flight) if balanced else self.endpoints[0])
            url = f"{endpoint.root if root else endpoint.base_url}{path}"
            limit = min(self.policy.timeout, remaining)
            wait: float | None = None
            endpoint.in_flight += 1
            try:
                async with asyncio.timeout(limit):
                    reply = await self._attempt(method, url, json_body)
                if reply.status < 300 or reply.status not in RETRY_STATUS:
                    return reply
                last_error = f"HTTP {reply.status} from {url}: {reply.snippet()}"
                wait = retry_after(reply.headers)
            except TimeoutError:
                cut = "the retry budget ran out during it" if limit < self.policy.timeout else f"timeout={self.policy.timeout:g}s"
                last_error = f"no complete answer from {url} within {limit:.1f}s ({cut})"
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last_error = f"{type(exc).__name__} from {url}: {exc or 'no detail'}"
            except CallFailed as exc:
                if not exc.retryable:
                    raise
                last_error = str(exc)
            finally:
                endpoint.in_flight -= 1
            delay = wait if wait is not None else backoff(attempt - 1, self.policy.backoff_base, self.policy.backoff_cap)
            if attempt > self.policy.max_retries or time.monotonic() + delay >= deadline:
                break
            await asyncio.sleep(delay)
        spent = time.monotonic() - started
        raise CallFailed(f"gave up after {made} attempts in {spent:.1f}s (retry budget {budget:g}s): {last_error}")

    async def _attempt(self, method: str, url: str, json_body: Any) -> Reply:
        self.attempts += 1
        async with self.client().stream(method, url, json=json_body) as response:
            ok = response.status_code < 300
            limit = self.policy.max_response_bytes if ok else ERROR_BODY_BYTES
            body = await read_capped(response, limit, refuse=ok)
        reply = Reply(response.status_code, body, url, headers=dict(response.headers))
        if ok:
            try:
                reply.payload = json.loads(body)
            except ValueError as exc:  # cut short by a proxy, an HTML page: worth another try
                raise CallFailed(f"HTTP {response.status_code} from {url} is not JSON ({exc}): {reply.snippet()!r}") from None
        return reply


async def read_capped(response: httpx.Response, limit: int, refuse: bool = True) -> bytes:
    """The decoded body, at most `limit` bytes: beyond it, CallFailed (not retried) or, with
    `refuse=False`, the body cut at the limit (error pages only need their first lines)."""
    decoder = _Decoder(response.headers.get("content-encoding", ""), response.url)
    out = bytearray()
    async for raw in response.aiter_raw():
        for piece in decoder(raw, limit + 1 - len(out)):
            out += piece
            if len(out) > limit:
                if not refuse:
                    return bytes(out[:limit])
                raise CallFailed(
                    f"the answer from {response.url} is larger than max_response_bytes={limit} (decoded); "
                    "raise -O max_response_bytes=N if that is expected",
                    retryable=False,
                )
    return bytes(out)


class _Decoder:
    """Content-Encoding undone step by step, never producing more than the room it is given
    (a gzip bomb stops at the cap instead of inflating a whole network chunk at once)."""

    def __init__(self, encoding: str, url: object) -> None:
        self.encoding, self.url = encoding.strip().lower(), url
        if self.encoding not in {"", "identity", "gzip", "x-gzip", "deflate"}:
            raise CallFailed(f"{url} answered with Content-Encoding '{encoding}', which is not supported", retryable=False)
        self.inflater: Any = None  # a zlib decompressor
        if self.encoding in {"gzip", "x-gzip"}:
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self.inflater = zlib.decompressobj(zlib.MAX_WBITS)  # zlib-wrapped, as the RFC says; raw is tried next
        self.first = True

    def __call__(self, data: bytes, room: int) -> list[bytes]:
        if self.inflater is None:
            return [data]
        try:
            pieces = [self.inflater.decompress(data, room)]
        except zlib.error:
            if not (self.encoding == "deflate" and self.first):
                raise CallFailed(f"the {self.encoding} body from {self.url} does not decode") from None
            self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, without the zlib header
            pieces = [self.inflater.decompress(data, room)]
        self.first = False
        room -= len(pieces[0])
        while self.inflater.unconsumed_tail and room > 0:
            pieces.append(self.inflater.decompress(self.inflater.unconsumed_tail, room))
            room -= len(pieces[-1])
        return pieces
