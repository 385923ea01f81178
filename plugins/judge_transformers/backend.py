"""Batched generation with left padding and exact next-token candidate log-probabilities."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from typing import Any

from judge.backend import Capabilities, Completion, Request, SamplingParams
from judge.models import Usage
from judge.tokens import candidate_token_ids, text_chat, too_long
from judge_transformers.loading import load, resolve_source


class TransformersBackend:
    """A local transformers model; requests are batched per identical sampling parameters."""

    name = "transformers"

    def __init__(
        self,
        model: str | None = None,
        *,
        dtype: str = "float32",
        device: str = "cpu",
        batch_size: int = 8,
        threads: int | None = None,
    ) -> None:
        self.source = resolve_source(model)
        self.model = self.source.name
        self._dtype, self._device = dtype, device
        self._threads = threads
        self._loaded: tuple[Any, Any] | None = None
        self._run_lock = threading.Lock()
        self.capabilities = Capabilities(
            max_batch_size=int(batch_size), max_concurrency=1, exact_candidates=True, native_n=True
        )

    def _ensure_loaded(self) -> tuple[Any, Any]:
        if self._loaded is None:
            self._loaded = load(self.source, self._dtype, self._device)
            self.capabilities = self.capabilities.model_copy(
                update={"context_length": getattr(self._loaded[0].config, "max_position_embeddings", None)}
            )
        return self._loaded

    @property
    def cache_identity(self) -> str:
        return f"transformers|{self.source.folder}|{self.source.gguf_file}|{self._dtype}"

    async def start(self) -> None:
        """Load the weights before the first batch, so no judgment's latency includes the load."""
        await asyncio.to_thread(self._ensure_loaded)

    async def complete(self, requests: list[Request]) -> list[Completion]:
        return await asyncio.to_thread(self.complete_sync, requests)

    def complete_sync(self, requests: list[Request]) -> list[Completion]:
        """Group by sampling parameters (one generate() each) and answer in request order."""
        with self._run_lock:
            model, tokenizer = self._ensure_loaded()
            if self._threads:
                import torch

                torch.set_num_threads(self._threads)
            groups: dict[tuple[SamplingParams, tuple[str, ...]], list[int]] = defaultdict(list)
            for index, request in enumerate(requests):
                groups[(request.sampling, request.candidates)].append(index)
            results: list[Completion | None] = [None] * len(requests)
            for (sampling, candidates), indices in groups.items():
                answers = self._generate(model, tokenizer, [requests[i] for i in indices], sampling, candidates)
                for i, answer in zip(indices, answers):
                    results[i] = answer
            return [r for r in results if r is not None]

    def _generate(
        self, model: Any, tokenizer: Any, requests: list[Request], sampling: SamplingParams, candidates: tuple[str, ...]
    ) -> list[Completion]:
        import torch

        candidate_ids, problem = candidate_token_ids(lambda c: tokenizer.encode(c, add_special_tokens=False), candidates)
        if problem:
            return [Completion(error=problem) for _ in requests]
        prompts = [_chat_text(tokenizer, request) for request in requests]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        context = self.capabilities.context_length
        lengths = encoded["attention_mask"].sum(dim=1).tolist()
        overflow = [context is not None and n + sampling.max_tokens > context for n in lengths]
        if all(overflow):
            return [too_long(n, sampling.max_tokens, context) for n in lengths]
        if any(overflow):  # answer the ones that fit, and say which do not
            fits = [r for r, long in zip(requests, overflow) if not long]
            answered = iter(self._generate(model, tokenizer, fits, sampling, candidates))
            return [too_long(n, sampling.max_tokens, context) if long else next(answered) for n, long in zip(lengths, overflow)]
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        sample = sampling.temperature > 0
        kwargs: dict[str, Any] = {"do_sample": sample, "num_return_sequences": sampling.n}
        if sample:
            kwargs |= {"temperature": sampling.temperature, "top_p": sampling.top_p}
        else:
            kwargs |= {"temperature": None, "top_p": None, "top_k": None}
        encoded = {k: v.to(model.device) for k, v in encoded.items()}
        with torch.inference_mode():
            if sampling.max_tokens == 1 and sampling.n == 1 and not sample:
                # A one-token greedy verdict is one forward pass over the last position:
                # generate()'s set-up costs a fifth of the time on a small model.
                logits = model(**encoded, logits_to_keep=1).logits[:, -1].float()
                generated = logits.argmax(dim=-1, keepdim=True)
                first_logprobs = torch.log_softmax(logits, dim=-1) if candidate_ids else None
            else:
                out = model.generate(
                    **encoded,
                    max_new_tokens=sampling.max_tokens,
                    output_logits=bool(candidate_ids),
                    return_dict_in_generate=True,
                    pad_token_id=tokenizer.pad_token_id,
                    **kwargs,
                )
                generated = out.sequences[:, encoded["input_ids"].shape[1] :]
                first_logprobs = torch.log_softmax(out.logits[0].float(), dim=-1) if candidate_ids else None
        eos = {tokenizer.eos_token_id} | set(_as_list(getattr(model.generation_config, "eos_token_id", None)))
        completions = []
        for row, request in enumerate(requests):
            texts, reasons, produced = [], [], 0
            for sample_index in range(sampling.n):
                tokens = generated[row * sampling.n + sample_index].tolist()
                cut = next((i for i, t in enumerate(tokens) if t in eos), None)
                kept = tokens if cut is None else tokens[:cut]
                produced += len(kept) + (0 if cut is None else 1)
                text, stopped = _apply_stop(tokenizer.decode(kept, skip_special_tokens=True), sampling.stop)
                texts.append(text)
                reasons.append("stop" if cut is not None or stopped else "length")
            logprobs = None
            if first_logprobs is not None:
                dist = first_logprobs[row * sampling.n]
                logprobs = {c: float(dist[i]) for c, i in candidate_ids.items()}
            usage = Usage(prompt_tokens=int(lengths[row]), completion_tokens=produced, requests=1)
            completions.append(Completion(texts=texts, finish_reasons=reasons, candidate_logprobs=logprobs, usage=usage))
        return completions

    async def aclose(self) -> None:
        """The weights stay in the process cache, so the next backend on this model loads instantly."""
        self._loaded = None


def _chat_text(tokenizer: Any, request: Request) -> str:
    """The model's own chat template; content parts become text (this backend reads text only)."""
    messages, continuing = text_chat(request)
    if continuing:
        return tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _apply_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    cuts = [text.find(s) for s in stop if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]

