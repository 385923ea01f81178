"""FakeBackend: an in-process stand-in for a model, like httpx's MockTransport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from judge.backend import Capabilities, Completion, Request
from judge.models import Usage

Responder = Callable[[Request], Completion | str | list[str]]


class FakeBackend:
    """Answers every request with `responder(request)`, or a fixed text with the candidates equal.

    It records every request it receives, so scheduling tests can count calls and batches.
    """

    name = "fake"
    model = "fake"

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        text: str = "",
        batch_size: int = 8,
        concurrency: int = 1,
        exact_candidates: bool = True,
        delay: float = 0.0,
        thread_delay: float = 0.0,
        cacheable: bool = False,
        token_counts: dict[str, int] | None = None,
        record: bool = True,
        native_n: bool = False,
        continuation: bool = True,
        whole_candidates: bool = False,
        tool_calling: bool = False,
        script: list[str] | None = None,
    ) -> None:
        if script is not None:  # `-O script='["turn 1", "turn 2"]'`: answers in order, the last one repeated
            responder = _scripted([str(text) for text in script] or [""])
        self.responder = responder
        self.text = str(text)
        self.delay = float(delay)
        self.thread_delay = float(thread_delay)  # blocks a worker thread, as a local model's forward pass does
        self.capabilities = Capabilities(
            max_batch_size=int(batch_size), max_concurrency=int(concurrency), exact_candidates=bool(exact_candidates),
            native_n=bool(native_n), continuation=bool(continuation), whole_candidates=bool(whole_candidates),
            tool_calling=bool(tool_calling),
        )
        self.requests: list[Request] = []
        self.batches: list[int] = []
        self._record = bool(record)  # tests read what was asked; a long CLI dry run keeps nothing
        self._cacheable = bool(cacheable) and responder is None
        self._token_counts = token_counts

    @property
    def cache_identity(self) -> str | None:
        """Only with `cacheable=True` (and no responder): a scripted answer is worth caching only
        when testing the cache itself."""
        return f"fake|{self.text}" if self._cacheable else None

    async def token_count(self, text: str) -> int | None:
        """From `token_counts` when given (1 for anything not listed); otherwise unknown."""
        if self._token_counts is None:
            return None
        return int(self._token_counts.get(text, 1))

    async def complete(self, requests: list[Request]) -> list[Completion]:
        if self._record:
            self.batches.append(len(requests))
            self.requests.extend(requests)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.thread_delay:
            await asyncio.to_thread(time.sleep, self.thread_delay)
        return [self._answer(r) for r in requests]

    def _answer(self, request: Request) -> Completion:
        if self.responder is not None:
            answer = self.responder(request)
            if isinstance(answer, Completion):
                return answer
            text = answer  # a list gives the n samples' texts
        else:
            text = self.text
        logprobs = None
        if request.candidates and self.capabilities.exact_candidates:
            logprobs = {c: -0.6931 for c in request.candidates}
        n = request.sampling.n
        return Completion(
            texts=[text] * n if isinstance(text, str) else list(text)[:n],
            finish_reasons=["stop"] * request.sampling.n,
            candidate_logprobs=logprobs,
            usage=Usage(prompt_tokens=1, completion_tokens=1, requests=1),
        )

    async def aclose(self) -> None:
        return None


def _scripted(texts: list[str]) -> Responder:
    answered = 0

    def respond(request: Request) -> str:
        nonlocal answered
        answered += 1
        return texts[min(answered, len(texts)) - 1]

    return respond
