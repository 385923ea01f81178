"""A real HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose, for the HTTP backend's tests.

Each request is answered by `route(method, path, body)`, which returns an action: a JSON answer
(any status, any headers, gzip- or deflate-encoded on request), a body that trickles one byte at
a time, a huge body, a gzip bomb, raw bytes, or no answer at all. Everything it does is
counted per path, and it notices when a client hangs up on a request it is still holding.
By default it serves GET /v1/models and a toy /tokenize (one token per word, vLLM's shape).
"""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from support.loopback import LoopbackServer, read_request

MODEL = "toy"


@dataclass
class Answer:
    status: int = 200
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    encoding: str = ""  # "gzip", "deflate" (zlib) or "raw-deflate"
    raw: bytes | None = None  # sent as the body instead of JSON


@dataclass
class Trickle:
    """Headers at once, then one byte per `interval` of a body `length` bytes long."""

    length: int = 100_000
    interval: float = 0.5


@dataclass
class Hang:
    """Read the request and never answer."""


@dataclass
class Huge:
    """A 200 whose body is `size` bytes (a JSON string that never ends), sent as fast as the client reads."""

    size: int = 50 * 1024**2


@dataclass
class GzipBomb:
    """A small gzip body that decodes to `decoded` bytes."""

    decoded: int = 1024**3


Action = Answer | Trickle | Hang | Huge | GzipBomb
Route = Callable[[str, str, bytes], "Action | None"]


def toy_tokens(text: str) -> tuple[list[int], list[str]]:
    """One token per whitespace-separated word; `<|im_start|>` alone is a special token (id 1)."""
    words = text.split()
    return [1 if w == "<|im_start|>" else 100 + sum(map(ord, w)) for w in words], words


def default_route(method: str, path: str, body: bytes) -> Action:
    if method == "GET" and path.endswith("/models"):
        return Answer(payload={"object": "list", "data": [{"id": MODEL, "object": "model"}]})
    if path == "/tokenize":
        request = json.loads(body)
        ids, strs = toy_tokens(request.get("prompt", ""))
        return Answer(payload={"tokens": ids, "token_strs": strs, "count": len(ids), "max_model_len": 2048})
    if path.endswith("/chat/completions"):
        request = json.loads(body)
        logprobs = None
        if request.get("logprob_token_ids"):
            tops = [{"token": f"token_id:{i}", "logprob": -0.5 - k} for k, i in enumerate(request["logprob_token_ids"])]
            logprobs = {"content": [{"token": tops[0]["token"], "logprob": -0.5, "top_logprobs": tops}]}
        choices = [{"index": k, "message": {"role": "assistant", "content": "Yes"}, "finish_reason": "stop", "logprobs": logprobs}
                   for k in range(request.get("n", 1))]
        return Answer(payload={"choices": choices, "usage": {"prompt_tokens": 7, "completion_tokens": 1}})
    return Answer(404, {"error": "no such route"})


class HostileServer(LoopbackServer):
    kind = "hostile server"

    def __init__(self, route: Route | None = None) -> None:
        super().__init__()
        self.route = route
        self.requests: Counter[str] = Counter()  # "METHOD path" -> how many came in
        self.hung_up = threading.Event()  # a client closed a connection we were still holding
        self.holding = threading.Event()  # we are holding a request (Hang or Trickle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                method, path, headers, body = await read_request(reader)
                self.requests[f"{method} {path}"] += 1
                action = (self.route(method, path, body) if self.route else None) or default_route(method, path, body)
                if not await self._act(action, reader, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _act(self, action: Action, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Carry out one action; False when the connection is done."""
        if isinstance(action, Hang):
            self.holding.set()
            await self._until_hung_up(reader)
            return False
        if isinstance(action, Trickle):
            await _head(writer, 200, {"Content-Length": str(action.length)})
            self.holding.set()
            for _ in range(action.length):
                writer.write(b" ")
                try:
                    await writer.drain()
                except ConnectionError:
                    self.hung_up.set()
                    return False
                if await self._hung_up_within(reader, action.interval):
                    return False
            return False
        if isinstance(action, Huge):
            await _head(writer, 200, {"Content-Length": str(action.size)})
            writer.write(b'{"choices": "')
            chunk = b"x" * 65536
            for _ in range(0, action.size - 13, len(chunk)):
                writer.write(chunk)
                await writer.drain()
            return False
        if isinstance(action, GzipBomb):
            body = _gzip_zeros(action.decoded)
            await _head(writer, 200, {"Content-Length": str(len(body)), "Content-Encoding": "gzip"})
            writer.write(body)
            await writer.drain()
            return True
        body = action.raw if action.raw is not None else json.dumps(action.payload).encode()
        extra = dict(action.headers)
        if action.encoding:
            body = _encode(body, action.encoding)
            extra["Content-Encoding"] = "deflate" if action.encoding == "raw-deflate" else action.encoding
        await _head(writer, action.status, {"Content-Length": str(len(body)), **extra})
        writer.write(body)
        await writer.drain()
        return True

    async def _until_hung_up(self, reader: asyncio.StreamReader) -> None:
        while not await self._hung_up_within(reader, 3600):
            pass

    async def _hung_up_within(self, reader: asyncio.StreamReader, seconds: float) -> bool:
        try:
            data = await asyncio.wait_for(reader.read(1), seconds)
        except TimeoutError:
            return False
        except ConnectionError:
            data = b""
        if not data:
            self.hung_up.set()
            return True
        return False


async def _head(writer: asyncio.StreamWriter, status: int, headers: dict[str, str]) -> None:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write((head + "\r\n").encode("latin-1"))
    await writer.drain()


def _encode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        z = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        z = zlib.compressobj(wbits=zlib.MAX_WBITS)
    else:
        z = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return z.compress(body) + z.flush()


_BOMBS: dict[int, bytes] = {}


def _gzip_zeros(decoded: int) -> bytes:
    """gzip of `decoded` zero bytes, built a MiB at a time (about 1 KiB per MiB)."""
    if decoded not in _BOMBS:
        z = zlib.compressobj(9, wbits=16 + zlib.MAX_WBITS)
        block = b"\0" * 1024**2
        parts = [z.compress(block) for _ in range(decoded // len(block))]
        _BOMBS[decoded] = b"".join(parts) + z.flush()
    return _BOMBS[decoded]
