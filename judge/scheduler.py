"""The scheduler: collects ready requests from every running program and keeps the backend busy.

Programs await `Dispatcher.call(request)`; the dispatcher groups whatever is ready into batches
of the backend's size, sends up to its concurrency at once, and answers identical requests of a
run once. No item waits for another item's later steps: only for a batch slot.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable

from judge.backend import Backend, Completion, Request
from judge.models import Usage


class Dispatcher:
    """Batches the requests of every running program and answers identical ones once.

    `call` is a plain function that returns an awaitable, not a coroutine: `asyncio.gather`
    over a program's steps then waits on futures directly instead of wrapping each step in a
    task of its own. A finished answer is remembered as its JSON text, which the garbage
    collector does not track: 100,000 remembered answers as live objects (a million with their
    lists and dicts) made every full collection of a long run slower.
    """

    def __init__(self, backend: Backend, window: float = 0.0) -> None:
        self.backend = backend
        # Seconds to wait for more requests before sending a batch that is not full: a server's
        # callers arrive one at a time, and a few milliseconds turn them into one batch.
        self.window = window
        self.capabilities = backend.capabilities
        self._pending: list[tuple[str, Request, asyncio.Future[Completion]]] = []
        # Answers of this run by request key, most recent last: the future while in flight, the
        # completion's JSON once answered. Bounded, so a stream of millions of items does not
        # grow memory without end (the persistent cache is the backend's job).
        self._known: OrderedDict[str, asyncio.Future[Completion] | str] = OrderedDict()
        self.remember = 100_000
        self._slots = asyncio.Semaphore(self.capabilities.max_concurrency)
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self.requests_sent = 0
        self.batches_sent = 0
        self.deduplicated = 0

    async def __aenter__(self) -> Dispatcher:
        self._loop_task = asyncio.create_task(self._dispatch_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if exc and exc[0] is not None:  # interrupted (Ctrl-C) or failed: do not wait for batches in flight
            for task in self._tasks:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def call(self, request: Request) -> Awaitable[Completion]:
        """The completion of `request`, to await; an identical request of this run is not sent again."""
        key = request.key()
        known = self._known.get(key)
        loop = asyncio.get_running_loop()
        if known is not None:
            self._known.move_to_end(key)
            self.deduplicated += 1
            if isinstance(known, str):
                answered = loop.create_future()
                answered.set_result(_as_cached(Completion.model_validate_json(known)))
                return answered
            return _cached_when_done(known)
        future: asyncio.Future[Completion] = loop.create_future()
        self._known[key] = future
        self._forget_oldest()
        self._pending.append((key, request, future))
        self._wakeup.set()
        # Shielded: a caller that is cancelled must not cancel the answer other callers share.
        return asyncio.shield(future)

    def _forget_oldest(self) -> None:
        while len(self._known) > self.remember:
            oldest_key, oldest = next(iter(self._known.items()))
            if not isinstance(oldest, str) and not oldest.done():
                break  # never forget a request still in flight
            del self._known[oldest_key]

    async def _dispatch_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await asyncio.sleep(0)  # let every program that is ready queue its request first
            if self.window and len(self._pending) < self.capabilities.max_batch_size:
                await asyncio.sleep(self.window)
            while self._pending:
                await self._slots.acquire()
                size = self.capabilities.max_batch_size
                batch, self._pending = self._pending[:size], self._pending[size:]
                task = asyncio.create_task(self._send(batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[str, Request, asyncio.Future[Completion]]]) -> None:
        try:
            self.batches_sent += 1
            self.requests_sent += len(batch)
            try:
                completions = await self.backend.complete([request for _, request, _ in batch])
                if len(completions) != len(batch):
                    raise RuntimeError(f"backend returned {len(completions)} completions for {len(batch)} requests")
            except Exception as exc:  # the batch fails, the run goes on: each item gets the reason
                reason = f"{type(exc).__name__}: {exc}"
                completions = [Completion(error=reason) for _ in batch]
            for (key, _, future), completion in zip(batch, completions):
                if not future.done():
                    future.set_result(completion)
                if self._known.get(key) is future:
                    self._known[key] = completion.model_dump_json()
        finally:
            self._slots.release()


async def _cached_when_done(future: asyncio.Future[Completion]) -> Completion:
    return _as_cached(await asyncio.shield(future))


def _as_cached(completion: Completion) -> Completion:
    """A deduplicated answer costs nothing: its usage says so."""
    usage = Usage(requests=0, cached_requests=1)
    return completion.model_copy(update={"usage": usage})
