"""Requests to OpenAI-compatible servers over httpx: bounded in flight, retried within a budget.

Exact candidate probabilities are asked for with vLLM's extra request fields
(`logprob_token_ids`, answered over the full vocabulary); a server that has no such field
declares `exact_candidates = False`, and the engine then reads verdicts from text or refuses
modes that need probabilities. It never guesses from a top-k list.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx

from judge.backend import Capabilities, Completion, Request
from judge.errors import BackendError
from judge.models import Usage
from judge_openai.retry import RETRY_STATUS, backoff, retry_after


class _Endpoint:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        self.in_flight = 0


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | list[str] | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        endpoint: str = "chat",
        max_in_flight: int = 64,
        timeout: float = 120.0,
        max_retries: int = 6,
        retry_budget: float = 300.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        exact_candidates: bool | None = None,
    ) -> None:
        urls = base_url if isinstance(base_url, list) else [base_url] if base_url else []
        urls = urls or [os.environ.get("OPENAI_BASE_URL", "")]
        urls = [u for u in urls if u]
        if not urls:
            raise BackendError("the openai backend needs --base-url URL (or OPENAI_BASE_URL), e.g. http://127.0.0.1:8000/v1")
        if endpoint not in {"chat", "completions"}:
            raise BackendError(f"endpoint must be 'chat' or 'completions', not '{endpoint}'")
        self.endpoints = [_Endpoint(u) for u in urls]
        self.model = model or ""
        self.endpoint = endpoint
        self.api_key = os.environ.get(api_key_env) or os.environ.get("JUDGE_API_KEY")
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.retry_budget = float(retry_budget)
        self.backoff_base, self.backoff_cap = float(backoff_base), float(backoff_cap)
        self._declared_exact = exact_candidates
        self._token_ids: dict[str, int | None] = {}
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._tokenizing: dict[str, asyncio.Future[int | None]] = {}
        self.capabilities = Capabilities(
            max_batch_size=1, max_concurrency=int(max_in_flight), exact_candidates=exact_candidates, native_n=True
        )
        self.attempts = 0  # every HTTP request sent, retries included: for tests and bench

    @property
    def cache_identity(self) -> str:
        return f"openai|{self.model}|{self.endpoint}"

    def _http(self) -> httpx.AsyncClient:
        # A client belongs to the event loop it was made in; `Judge.score` runs a new loop per
        # call, so a client from an earlier loop is left behind (its loop closed its sockets).
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is not loop:
            self._client = None
            self._tokenizing = {}
        if self._client is None:
            self._client_loop = loop
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            limits = httpx.Limits(max_connections=self.capabilities.max_concurrency * 2, max_keepalive_connections=64)
            self._client = httpx.AsyncClient(headers=headers, timeout=self.timeout, limits=limits)
        return self._client

    async def start(self) -> None:
        """Find the model name if none was given, and whether the server can give exact probabilities."""
        client, first = self._http(), self.endpoints[0]
        if not self.model:
            try:
                listing = (await client.get(f"{first.base_url}/models")).json()
                self.model = listing["data"][0]["id"]
            except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                raise BackendError(f"no --model given and {first.base_url}/models did not name one: {exc}") from None
        if self._declared_exact is None:
            exact = await self._tokenize("Yes") is not None
            self.capabilities = self.capabilities.model_copy(update={"exact_candidates": exact})

    async def _tokenize(self, text: str) -> int | None:
        """The single token id of `text` (negative: its token count), or None where the server cannot say.

        Concurrent callers asking for the same text share one request to /tokenize.
        """
        if text in self._token_ids:
            return self._token_ids[text]
        self._http()  # resets the per-loop state when the loop changed
        pending = self._tokenizing.get(text)
        if pending is None:
            pending = self._tokenizing[text] = asyncio.ensure_future(self._tokenize_uncached(text))
        return await asyncio.shield(pending)

    async def _tokenize_uncached(self, text: str) -> int | None:
        token: int | None = None
        try:
            response = await self._http().post(
                f"{self.endpoints[0].root}/tokenize",
                json={"model": self.model, "prompt": text, "add_special_tokens": False},
            )
            if response.status_code == 200:
                tokens = response.json().get("tokens", [])
                token = tokens[0] if len(tokens) == 1 else -len(tokens)
        except httpx.HTTPError:
            token = None
        self._token_ids[text] = token
        self._tokenizing.pop(text, None)
        return token

    async def complete(self, requests: list[Request]) -> list[Completion]:
        return list(await asyncio.gather(*(self._complete_one(r) for r in requests)))

    async def _complete_one(self, request: Request) -> Completion:
        try:
            body, candidates = await self._body(request)
        except BackendError as exc:
            return Completion(error=str(exc))
        path = "/chat/completions" if self.endpoint == "chat" else "/completions"
        started = time.monotonic()
        last_error = ""
        for attempt in range(self.max_retries + 1):
            endpoint = min(self.endpoints, key=lambda e: e.in_flight)
            endpoint.in_flight += 1
            wait: float | None = None
            try:
                self.attempts += 1
                response = await self._http().post(f"{endpoint.base_url}{path}", json=body)
                if response.status_code == 200:
                    return _completion(response.json(), candidates, self.endpoint)
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in RETRY_STATUS:
                    return Completion(error=last_error)
                wait = retry_after(response)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last_error = f"{type(exc).__name__}: {exc or 'no detail'}"
            except ValueError as exc:  # a 200 whose body is not the JSON we need
                last_error = f"malformed response: {exc}"
            finally:
                endpoint.in_flight -= 1
            delay = wait if wait is not None else backoff(attempt, self.backoff_base, self.backoff_cap)
            if attempt == self.max_retries or time.monotonic() - started + delay > self.retry_budget:
                break
            await asyncio.sleep(delay)
        spent = time.monotonic() - started
        return Completion(error=f"gave up after {attempt + 1} attempts in {spent:.1f}s: {last_error}")

    async def _body(self, request: Request) -> tuple[dict[str, Any], dict[str, int]]:
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "n": sampling.n,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        candidates: dict[str, int] = {}
        if request.candidates:
            if not self.capabilities.exact_candidates:
                raise BackendError("this server gives no exact candidate probabilities (no vLLM /tokenize)")
            for candidate in request.candidates:
                token = await self._tokenize(candidate)
                if token is None or token < 0:
                    raise BackendError(f"candidate '{candidate}' is not one token for this server's tokenizer")
                candidates[candidate] = token
            body |= {"logprobs": True if self.endpoint == "chat" else 1, "logprob_token_ids": list(candidates.values()),
                     "return_tokens_as_token_ids": True}
        messages = [m.model_dump(exclude_none=True) for m in request.messages]
        if self.endpoint == "chat":
            body["messages"] = messages
        else:
            body["prompt"] = await self._templated_prompt(messages)
        return body, candidates

    async def _templated_prompt(self, messages: list[dict[str, Any]]) -> list[int]:
        """The completions endpoint takes a prompt: the server's own chat template makes it."""
        continuing = bool(messages) and messages[-1]["role"] == "assistant"
        try:
            response = await self._http().post(
                f"{self.endpoints[0].root}/tokenize",
                json={"model": self.model, "messages": messages, "add_generation_prompt": not continuing,
                      "continue_final_message": continuing, "add_special_tokens": False},
            )
            response.raise_for_status()
            return list(response.json()["tokens"])
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise BackendError(f"the completions endpoint needs the server to apply its chat template (/tokenize): {exc}") from None

    async def aclose(self) -> None:
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.aclose()
            self._client = None


def _completion(payload: dict[str, Any], candidates: dict[str, int], endpoint: str) -> Completion:
    choices = sorted(payload["choices"], key=lambda c: c.get("index", 0))
    texts = [(c["message"].get("content") or "") if endpoint == "chat" else c["text"] for c in choices]
    logprobs = None
    if candidates:
        logprobs = _candidate_logprobs(choices[0].get("logprobs"), candidates, endpoint)
    usage = payload.get("usage") or {}
    return Completion(
        texts=texts,
        finish_reasons=[c.get("finish_reason") for c in choices],
        candidate_logprobs=logprobs,
        usage=Usage(prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0), requests=1),
    )


def _candidate_logprobs(block: dict[str, Any] | None, candidates: dict[str, int], endpoint: str) -> dict[str, float]:
    """Logprobs of the asked token ids at the first generated position (tokens come as 'token_id:N')."""
    if not block:
        return {}
    if endpoint == "chat":
        entries = (block.get("content") or [{}])[0].get("top_logprobs") or []
        by_id = {_token_id(e["token"]): e["logprob"] for e in entries}
    else:
        first = (block.get("top_logprobs") or [{}])[0] or {}
        by_id = {_token_id(token): value for token, value in first.items()}
    return {c: float(by_id[i]) for c, i in candidates.items() if i in by_id}


def _token_id(token: str) -> int | None:
    return int(token.split(":", 1)[1]) if token.startswith("token_id:") else None
