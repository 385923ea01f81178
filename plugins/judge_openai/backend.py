"""Requests to OpenAI-compatible servers over httpx: bounded in flight, retried within a budget.

Exact candidate probabilities are asked for with vLLM's extra request fields
(`logprob_token_ids`, answered over the full vocabulary); a server that has no such field
declares `exact_candidates = False`, and the engine then reads verdicts from text or refuses
modes that need probabilities. It never guesses from a top-k list.

A chat ending in a partial assistant message is continued with vLLM's extra fields
(`continue_final_message`, no generation prompt); a server that is not vLLM's (the same start-up
probe) declares `continuation = False`, and such a request fails by name rather than being
answered in a new turn. Whole-candidate scoring is not offered over HTTP.

Every HTTP call (the start-up probe of /models, /tokenize for candidates, token counts and the
completions endpoint's prompt, the completions themselves) goes through one retry policy
(`Transport.call`), and only a definite answer from /tokenize is remembered.

Tools (`Request.tools`) are sent as OpenAI's `tools` with `tool_choice: "auto"` (judge_openai.tools);
whether the server takes them is declared (`-O tool_calling`) or learnt from its answer to the
first request that carries some, or to `probe_tool_calling()`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judge.backend import Capabilities, Completion, Request
from judge.errors import BackendError
from judge_openai.guard import guarded_messages
from judge_openai.responses import completion_from
from judge_openai.tools import PROBE, refuses_tools, tools_not_accepted
from judge_openai.transport import NO_TOKENIZER_STATUS, CallFailed, Endpoint, Policy, Reply, Transport

Tokens = tuple[tuple[int, ...], tuple[str, ...]]  # ids and token strings of a text, special tokens parsed


class OpenAIOptions(BaseModel):
    """The backend's `-O key=value` options, checked at the edge."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | list[str] | None = None
    api_key_env: str = "OPENAI_API_KEY"
    endpoint: Literal["chat", "completions"] = "chat"
    max_in_flight: int = Field(64, ge=1)
    timeout: float = Field(120.0, gt=0, description="seconds for one attempt: connect, send and the whole body")
    max_retries: int = Field(6, ge=0)
    retry_budget: float = Field(300.0, gt=0, description="wall-clock seconds for one request, retries and waits included")
    start_budget: float = Field(10.0, gt=0, description="wall-clock seconds for the start-up probes")
    backoff_base: float = Field(0.5, ge=0)
    backoff_cap: float = Field(30.0, ge=0)
    exact_candidates: bool | None = None
    continuation: bool | None = Field(
        None, description="the server continues a final assistant message (vLLM's continue_final_message); None: probed at start"
    )
    max_response_bytes: int = Field(32 * 1024**2, ge=1024, description="cap on a decoded answer body")
    tool_calling: bool | None = Field(
        None, description="the server calls tools natively (vLLM: --enable-auto-tool-choice); None: learnt from its first answer"
    )


class OpenAIBackend:
    """One model behind one or more OpenAI-compatible servers (requests go to the least busy)."""

    name = "openai"

    def __init__(self, model: str | None = None, **options: Any) -> None:
        try:
            opts = OpenAIOptions(**options)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise BackendError(f"openai backend: option '{where}': {first['msg']} (check the -O options)") from None
        urls = opts.base_url if isinstance(opts.base_url, list) else [opts.base_url] if opts.base_url else []
        urls = [u for u in urls or [os.environ.get("OPENAI_BASE_URL", "")] if u]
        if not urls:
            raise BackendError("the openai backend needs --base-url URL (or OPENAI_BASE_URL), e.g. http://127.0.0.1:8000/v1")
        if opts.tool_calling and opts.endpoint != "chat":
            raise BackendError("openai backend: tool_calling=true needs the chat endpoint (drop -O endpoint=completions)")
        self.options = opts
        self.model = model or ""
        self.endpoint = opts.endpoint
        self.api_key_env = opts.api_key_env
        api_key = os.environ.get(opts.api_key_env) or os.environ.get("JUDGE_API_KEY")
        self.endpoints = [Endpoint(u) for u in urls]
        policy = Policy(opts.timeout, opts.max_retries, opts.backoff_base, opts.backoff_cap, opts.max_response_bytes)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.transport = Transport(self.endpoints, headers, opts.max_in_flight * 2, policy)
        self.transport.on_new_loop = self._forget_pending
        self._declared_exact = opts.exact_candidates
        self._tokens: dict[str, Tokens | None] = {}  # definite answers only: tokens, or None (no /tokenize)
        self._tokenizing: dict[str, asyncio.Future[Tokens | None]] = {}
        self._no_tokenizer = False  # the server said it has no /tokenize: ask no more
        self.capabilities = Capabilities(
            max_batch_size=1,
            max_concurrency=opts.max_in_flight,
            exact_candidates=opts.exact_candidates,
            native_n=True,
            continuation=bool(opts.continuation),
            tool_calling=False if opts.endpoint != "chat" else opts.tool_calling,
        )

    @property
    def attempts(self) -> int:
        """Every HTTP request sent, retries included: for tests and bench."""
        return self.transport.attempts

    @property
    def cache_identity(self) -> str:
        return f"openai|{self.model}|{self.endpoint}"

    def _forget_pending(self) -> None:
        self._tokenizing = {}  # futures of a closed event loop

    async def start(self) -> None:
        """Check every server answers (within `start_budget`), find the model name if none was
        given, and whether the server is vLLM's: its /tokenize answers in vLLM's shape. That one
        probe settles both exact probabilities and continuation (vLLM's `continue_final_message`);
        a declared `exact_candidates` is taken as that answer. BackendError: the run cannot work."""
        self.transport.client()
        await asyncio.gather(*(self._probe(e) for e in self.endpoints))
        vllm = self._declared_exact
        if vllm is None:
            try:
                tokens = await self._tokenize("Yes", self.options.start_budget)
            except CallFailed as exc:
                raise BackendError(f"{self.endpoints[0].root}/tokenize did not answer at start: {exc}") from None
            vllm = tokens is not None and len(tokens[0]) > 0
            self.capabilities = self.capabilities.model_copy(update={"exact_candidates": vllm})
        if self.options.continuation is None:
            self.capabilities = self.capabilities.model_copy(update={"continuation": vllm})

    async def _probe(self, endpoint: Endpoint) -> None:
        url = f"{endpoint.base_url}/models"
        try:
            reply = await self.transport.call("GET", "/models", budget=self.options.start_budget, to=endpoint)
        except CallFailed as exc:
            raise BackendError(
                f"the server at {endpoint.base_url} cannot be reached (is it running? check --base-url): {exc}"
            ) from None
        if reply.status in {401, 403}:
            raise BackendError(
                f"{url} refused the API key (HTTP {reply.status}): set {self.api_key_env} to a key this server accepts"
            )
        if self.model or endpoint is not self.endpoints[0]:
            return  # any answer, 404 included, means a server is there
        try:
            self.model = str(reply.payload["data"][0]["id"]) if reply.status == 200 else ""
        except (KeyError, IndexError, TypeError):
            self.model = ""
        if not self.model:
            raise BackendError(f"no --model given and {url} did not name one (HTTP {reply.status}): pass --model NAME")

    async def probe_tool_calling(self) -> bool | None:
        """Settle `capabilities.tool_calling` now, with one tiny request that offers one trivial
        tool: a 2xx means able, a 400/422 saying tools are not enabled means not. A 5xx or a
        dropped connection is retried (within `start_budget`) and never concluded from: the
        capability stays None (unknown) and the next request with tools settles it."""
        if self.capabilities.tool_calling is not None:
            return self.capabilities.tool_calling
        self.transport.client()
        body = {"model": self.model, "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}],
                "tools": [PROBE], "tool_choice": "auto"}
        try:
            reply = await self.transport.call("POST", "/chat/completions", json_body=body, budget=self.options.start_budget)
        except CallFailed:
            return None
        self._learn_tools(reply)
        return self.capabilities.tool_calling

    def _learn_tools(self, reply: Reply) -> bool:
        """Settle `tool_calling` from a definite answer to a request that offered tools (set in
        place, so a program compiled earlier sees it); True when the answer refused them."""
        refused = refuses_tools(reply)
        learnt = True if reply.status < 300 else False if refused else None
        if learnt is not None and self.capabilities.tool_calling is None:
            self.capabilities.tool_calling = learnt
        return refused

    async def token_count(self, text: str) -> int | None:
        """How many tokens `text` is for the server's tokenizer (no special tokens added); None
        when the server has no /tokenize. A failure to find out is retried, then BackendError."""
        try:
            tokens = await self._tokenize(text, self.options.retry_budget)
        except CallFailed as exc:
            raise BackendError(f"could not ask {self.endpoints[0].root}/tokenize how many tokens {text!r} is: {exc}") from None
        return None if tokens is None else len(tokens[0])

    async def _tokenize(self, text: str, budget: float) -> Tokens | None:
        """The server's tokens for `text` (None: it has no /tokenize). Concurrent callers share one
        call; only a definite answer is cached, a failure (CallFailed) is tried again next time."""
        if text in self._tokens:
            return self._tokens[text]
        if self._no_tokenizer:
            return None
        self.transport.client()  # resets the per-loop state when the loop changed
        pending = self._tokenizing.get(text)
        if pending is None:
            pending = self._tokenizing[text] = asyncio.ensure_future(self._tokenize_uncached(text, budget))
            pending.add_done_callback(lambda done: self._settled(text, done))
        return await asyncio.shield(pending)

    def _settled(self, text: str, done: asyncio.Future[Tokens | None]) -> None:
        if self._tokenizing.get(text) is done:
            del self._tokenizing[text]
        if not done.cancelled():
            done.exception()  # seen here, so a failure nobody awaited any more is not logged as lost

    async def _tokenize_uncached(self, text: str, budget: float) -> Tokens | None:
        body: dict[str, Any] = {"prompt": text, "add_special_tokens": False, "return_token_strs": True}
        if self.model:  # token_count may come before start() named the model; vLLM then uses its own
            body["model"] = self.model
        reply = await self.transport.call("POST", "/tokenize", json_body=body, budget=budget, root=True)
        tokens: Tokens | None = None
        if reply.status == 200:
            ids, strs = _token_lists(reply.payload)
            tokens = (ids, strs) if ids is not None else None
        elif reply.status in NO_TOKENIZER_STATUS:  # (401/403: gateways that refuse unknown routes)
            self._no_tokenizer = True
        self._tokens[text] = tokens  # a definite answer (the transport retried everything else)
        return tokens

    async def _is_special(self, text: str) -> bool:
        """Whether the server's tokenizer reads `text` as one special token even between letters
        (an ordinary token merges with them: "a<b>a" is a, <, b, >, a; "a<|im_start|>a" is not)."""
        glued = await self._tokenize(f"a{text}a", self.options.retry_budget)
        if glued is None:
            return False
        if glued[1]:
            return text in glued[1]
        alone = await self._tokenize(text, self.options.retry_budget)  # a server without token_strs
        return alone is not None and len(alone[0]) == 1 and alone[0][0] in glued[0]

    async def complete(self, requests: list[Request]) -> list[Completion]:
        return list(await asyncio.gather(*(self._complete_one(r) for r in requests)))

    async def _complete_one(self, request: Request) -> Completion:
        path = "/chat/completions" if self.endpoint == "chat" else "/completions"
        try:
            body, candidates = await self._body(request)
            reply = await self.transport.call("POST", path, json_body=body, budget=self.options.retry_budget, balanced=True)
        except (BackendError, CallFailed) as exc:
            return Completion(error=str(exc))
        if request.tools and self._learn_tools(reply):
            return Completion(error=tools_not_accepted(f"HTTP {reply.status} from {reply.url}: {reply.snippet()}"))
        if reply.status != 200:
            return Completion(error=f"HTTP {reply.status} from {reply.url}: {reply.snippet()}")
        return completion_from(reply.payload, candidates, self.endpoint, request.sampling.n, reply.url, bool(request.tools))

    async def _body(self, request: Request) -> tuple[dict[str, Any], dict[str, int]]:
        if request.continues and not self.capabilities.continuation:
            raise BackendError(
                "this request continues a partial assistant message, and this server cannot continue one "
                "(it is not vLLM's server: it would answer in a new turn); use a vLLM server or a local backend"
            )
        if request.whole_candidates and request.candidates:
            raise BackendError(
                "whole-candidate scoring (each candidate's whole answer, then the end of its turn) is not "
                "available over HTTP; use the transformers or vllm backend"
            )
        if request.tools and self.endpoint != "chat":
            raise BackendError("tools are sent on the chat endpoint only: drop -O endpoint=completions to let the model call them")
        if request.tools and self.capabilities.tool_calling is False:
            raise BackendError(tools_not_accepted("-O tool_calling=false, or its answer to an earlier request with tools"))
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
                try:
                    tokens = await self._tokenize(candidate, self.options.retry_budget)
                except CallFailed as exc:
                    raise CallFailed(f"could not look up candidate '{candidate}' in /tokenize: {exc}") from None
                if tokens is None:
                    raise BackendError(f"{self.endpoints[0].root} has no /tokenize: candidate '{candidate}' has no token id")
                if len(tokens[0]) != 1:
                    raise BackendError(
                        f"candidate '{candidate}' is not one token for this server's tokenizer ({len(tokens[0])} tokens)"
                    )
                candidates[candidate] = tokens[0][0]
            body |= {"logprobs": True if self.endpoint == "chat" else 1, "logprob_token_ids": list(candidates.values()),
                     "return_tokens_as_token_ids": True}
        messages = [m.model_dump(exclude_none=True) for m in request.messages]
        messages = await guarded_messages(messages, self._is_special)
        if self.endpoint == "chat":
            body["messages"] = messages
            if request.continues:  # vLLM's extra fields: write on in that message, open no new turn
                body |= {"continue_final_message": True, "add_generation_prompt": False}
            if request.tools:
                body |= {"tools": list(request.tools), "tool_choice": "auto"}
        else:
            body["prompt"] = await self._templated_prompt(messages)
        return body, candidates

    async def _templated_prompt(self, messages: list[dict[str, Any]]) -> list[int]:
        """The completions endpoint takes a prompt: the server's own chat template makes it."""
        continuing = bool(messages) and messages[-1]["role"] == "assistant"
        body = {"model": self.model, "messages": messages, "add_generation_prompt": not continuing,
                "continue_final_message": continuing, "add_special_tokens": False}
        reply = await self.transport.call("POST", "/tokenize", json_body=body, budget=self.options.retry_budget, root=True)
        ids = _token_lists(reply.payload)[0] if reply.status == 200 else None
        if ids is None:
            raise BackendError(
                f"the completions endpoint needs the server to apply its chat template (/tokenize): "
                f"HTTP {reply.status} from {reply.url}: {reply.snippet()}"
            )
        return list(ids)

    async def aclose(self) -> None:
        await self.transport.aclose()


def _token_lists(payload: Any) -> tuple[tuple[int, ...] | None, tuple[str, ...]]:
    """`tokens` (and `token_strs`) of a /tokenize answer; None when it is not vLLM's shape."""
    if not isinstance(payload, dict) or not isinstance(payload.get("tokens"), list):
        return None, ()
    ids = payload["tokens"]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return None, ()
    strs = payload.get("token_strs")
    return tuple(ids), tuple(strs) if isinstance(strs, list) and all(isinstance(s, str) for s in strs) else ()
