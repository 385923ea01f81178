"""Batched generation with left padding and exact next-token candidate log-probabilities.

A batch is prepared (chat templates, tokenization in one call, padding, the copy to the device)
outside the lock that guards the model, and its answers are read back in one transfer each, so
on a GPU the model runs one batch while the next is being prepared.

Tools are called natively when the model's chat template reads `tools` (judge.toolcalls): the
declarations go through the template, and the `<tool_call>` blocks the model writes are read
back into `Completion.tool_calls`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from judge.backend import Capabilities, Completion, Request, SamplingParams
from judge.models import Usage
from judge.tokens import (
    candidate_token_ids,
    chat_prompt_ids_batch,
    encode,
    end_ids,
    special_tokens,
    token_count,
    too_long,
    whole_candidate_ids,
)
from judge.toolcalls import drop_specials, folder_takes_tools, markers_special, takes_tools, tools_refused, with_tool_calls
from judge_transformers import options, whole
from judge_transformers.loading import ModelSource, load, load_tokenizer, resolve_source
from judge_transformers.options import EMBEDDED_INSTALL, require

DTYPES = ("float32", "float16", "bfloat16", "float64")


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
        require("transformers backend", ("torch", "transformers"), EMBEDDED_INSTALL)
        self._dtype = options.choice("dtype", dtype, DTYPES)
        self._device = options.text("device", device)
        self._threads = options.optional_positive_int("threads", threads)
        batch_size = options.positive_int("batch_size", batch_size)
        self.source = resolve_source(model)
        if self.source.gguf_file:
            require("transformers backend", ("gguf",), EMBEDDED_INSTALL)
        self.model = self.source.name
        self._loaded: tuple[Any, Any] | None = None
        self._run_lock = threading.Lock()  # held around the model call only
        # On an accelerator a second call in flight prepares its batch while the model runs this
        # one; on the CPU that preparation would only compete with torch's own threads.
        on_cpu = self._device.split(":", 1)[0].strip().lower() == "cpu"
        self.capabilities = Capabilities(
            max_batch_size=batch_size,
            max_concurrency=1 if on_cpu else 2,
            exact_candidates=True,
            native_n=True,
            continuation=True,
            whole_candidates=True,
            tool_calling=_template_files_take_tools(self.source),
        )

    def _ensure_loaded(self) -> tuple[Any, Any]:
        if self._loaded is None:
            loaded = load(self.source, self._dtype, self._device)  # once per process, under a lock
            # The context length first: a call in another thread that sees the model loaded
            # must also see the length its too_long check needs.
            self.capabilities = self.capabilities.model_copy(
                update={
                    "context_length": getattr(loaded[0].config, "max_position_embeddings", None),
                    "tool_calling": takes_tools(getattr(loaded[1], "chat_template", None)),
                }
            )
            self._loaded = loaded
        return self._loaded

    @property
    def cache_identity(self) -> str:
        # The embedded model is named by its GGUF even though it loads from the converted folder:
        # same weights (answers agree within 1e-4), so calls cached before the switch stay valid.
        return f"transformers|{self.source.folder}|{self.source.gguf_file}|{self._dtype}"

    async def start(self) -> None:
        """Load the weights before the first batch, so no judgment's latency includes the load."""
        await asyncio.to_thread(self._ensure_loaded)

    async def token_count(self, text: str) -> int | None:
        """Tokens in `text` for this model's tokenizer; needs the tokenizer only, never the weights."""
        return token_count(await asyncio.to_thread(self._tokenizer), text)

    def _tokenizer(self) -> Any:
        return self._loaded[1] if self._loaded is not None else load_tokenizer(self.source)

    async def probe_tool_calling(self) -> bool:
        """Settle `capabilities.tool_calling` from the tokenizer's own template (never the
        weights): True when it reads `tools`. Set in place, so a program compiled earlier sees it."""
        tokenizer = await asyncio.to_thread(self._tokenizer)
        able = takes_tools(getattr(tokenizer, "chat_template", None))
        self.capabilities.tool_calling = able
        return able

    async def complete(self, requests: list[Request]) -> list[Completion]:
        return await asyncio.to_thread(self.complete_sync, requests)

    def complete_sync(self, requests: list[Request]) -> list[Completion]:
        """Group by sampling parameters (one model call each) and answer in request order."""
        model, tokenizer = self._ensure_loaded()
        groups: dict[tuple[SamplingParams, tuple[str, ...], bool, bool], list[int]] = defaultdict(list)
        results: list[Completion | None] = [None] * len(requests)
        for index, request in enumerate(requests):
            whole_answers = request.whole_candidates and bool(request.candidates)
            if request.tools and (whole_answers or not self.capabilities.tool_calling):
                results[index] = Completion(error=tools_refused(self.model, whole_answers))
                continue
            groups[(request.sampling, request.candidates, whole_answers, bool(request.tools))].append(index)
        for (sampling, candidates, whole_answers, tools), indices in groups.items():
            group = [requests[i] for i in indices]
            if whole_answers:
                answers = self._generate_whole(model, tokenizer, group, sampling)
            else:
                answers = self._generate(model, tokenizer, group, sampling, candidates, tools)
            for i, answer in zip(indices, answers):
                results[i] = answer
        return [r for r in results if r is not None]

    def _generate(
        self,
        model: Any,
        tokenizer: Any,
        requests: list[Request],
        sampling: SamplingParams,
        candidates: tuple[str, ...],
        tools: bool = False,
    ) -> list[Completion]:
        """Answer one group: requests whose prompt cannot be built or does not fit are named
        errors, the rest go through the model together. With `tools` (every request of the group
        carries declarations) the calls in each text are read out.

        Only the model call holds `_run_lock`: the prompts, their padding and their copy to the
        device are made outside it, so with two calls in flight the next batch is ready when
        the model finishes this one, and the GPU does not wait on the tokenizer.
        """
        candidate_ids, problem = candidate_token_ids(lambda c: encode(tokenizer, c), candidates)
        if problem:
            return [Completion(error=problem) for _ in requests]
        context = self.capabilities.context_length
        results: list[Completion | None] = []
        prompts: list[list[int]] = []
        for ids, problem in chat_prompt_ids_batch(tokenizer, requests):
            if problem:
                results.append(Completion(error=problem))
            elif context is not None and len(ids) + sampling.max_tokens > context:
                results.append(too_long(len(ids), sampling.max_tokens, context))
            else:
                results.append(None)
                prompts.append(ids)
        if not prompts:
            return [r for r in results if r is not None]
        inputs = _device_inputs(prompts, tokenizer.pad_token_id, model.device, candidate_ids)
        with self._run_lock:
            generated, logprobs = self._run(model, tokenizer, inputs, sampling, bool(candidate_ids))
        decode = _tool_decoder(tokenizer) if tools else None
        answers = iter(_completions(tokenizer, model, prompts, sampling, list(candidate_ids), generated, logprobs, decode))
        done = [result if result is not None else next(answers) for result in results]
        return [with_tool_calls(answer) for answer in done] if tools else done

    def _generate_whole(self, model: Any, tokenizer: Any, requests: list[Request], sampling: SamplingParams) -> list[Completion]:
        """Answer requests whose candidates are whole answers: the texts as `_generate` makes
        them, and each candidate's teacher-forced log-probability from one extra forward pass
        over every (request, candidate) row. A one-token greedy request needs no generation
        pass: its token is the argmax after the prompt in that same pass."""
        ends = end_ids(tokenizer, getattr(model.generation_config, "eos_token_id", None))
        context = self.capabilities.context_length
        results: list[Completion | None] = [None] * len(requests)
        built = chat_prompt_ids_batch(tokenizer, requests)
        for index, (_, problem) in enumerate(built):
            results[index] = Completion(error=problem) if problem else None
        live = [i for i, result in enumerate(results) if result is None]
        scored = whole_candidate_ids(tokenizer, [requests[i] for i in live], [built[i][0] for i in live], ends)
        ready: list[tuple[int, list[int], list[list[int]]]] = []  # (index, prompt, tails)
        for index, (tails, problem) in zip(live, scored):
            prompt = built[index][0]
            longest = max([sampling.max_tokens, *map(len, tails)])
            if problem:
                results[index] = Completion(error=problem)
            elif context is not None and len(prompt) + longest > context:
                results[index] = too_long(len(prompt), longest, context)
            else:
                ready.append((index, prompt, tails))
        if not ready:
            return [r for r in results if r is not None]
        prompts = [prompt for _, prompt, _ in ready]
        rows = whole.scoring_rows(
            [prompt for _, prompt, tails in ready for _ in tails], [t for _, _, tails in ready for t in tails],
            tokenizer.pad_token_id, model.device,
        )
        one_pass = sampling.max_tokens == 1 and sampling.n == 1 and sampling.temperature == 0
        inputs = None if one_pass else _device_inputs(prompts, tokenizer.pad_token_id, model.device, {})
        with self._run_lock:
            if self._threads:
                import torch

                torch.set_num_threads(self._threads)
            sums, firsts = whole.score(model, rows)
            if inputs is not None:
                generated, _ = self._run(model, tokenizer, inputs, sampling, False)
        starts = [0]
        for _, _, tails in ready:
            starts.append(starts[-1] + len(tails))
        if one_pass:
            generated = [[firsts[start]] for start in starts[:-1]]
        answers = _completions(tokenizer, model, prompts, sampling, [], generated, None)
        for (index, _, _), answer, start, stop in zip(ready, answers, starts, starts[1:]):
            logprobs = dict(zip(requests[index].candidates, sums[start:stop]))
            results[index] = answer.model_copy(update={"candidate_logprobs": logprobs})
        return [r for r in results if r is not None]

    def _run(
        self, model: Any, tokenizer: Any, inputs: dict[str, Any], sampling: SamplingParams, candidates: bool
    ) -> tuple[list[list[int]], list[list[float]] | None]:
        """The model call: generated ids per sequence, and each prompt's candidate logprobs at
        the first generated position, each read back in one transfer (row by row, a batch of
        128 paid 30 times more on a GPU)."""
        import torch

        if self._threads:
            torch.set_num_threads(self._threads)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)  # under the lock: no other batch draws from it meanwhile
        sample = sampling.temperature > 0
        kwargs: dict[str, Any] = {"do_sample": sample, "num_return_sequences": sampling.n}
        if sample:
            kwargs |= {"temperature": sampling.temperature, "top_p": sampling.top_p}
        else:
            kwargs |= {"temperature": None, "top_p": None, "top_k": None}
        encoded = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        with torch.inference_mode():
            if sampling.max_tokens == 1 and sampling.n == 1 and not sample:
                # A one-token greedy verdict is one forward pass over the last position:
                # generate()'s set-up costs a fifth of the time on a small model.
                logits = model(**encoded, logits_to_keep=1).logits[:, -1].float()
                generated = logits.argmax(dim=-1, keepdim=True)
                first = logits if candidates else None
            else:
                out = model.generate(
                    **encoded,
                    max_new_tokens=sampling.max_tokens,
                    output_logits=candidates,
                    return_dict_in_generate=True,
                    pad_token_id=tokenizer.pad_token_id,
                    **kwargs,
                )
                generated = out.sequences[:, encoded["input_ids"].shape[1] :]
                first = out.logits[0][:: sampling.n].float() if candidates else None
            logprobs = None
            if first is not None:
                logprobs = torch.log_softmax(first, dim=-1)[:, inputs["candidates"]].cpu().tolist()
            return generated.cpu().tolist(), logprobs

    async def aclose(self) -> None:
        """The weights stay in the process cache, so the next backend on this model loads instantly."""
        self._loaded = None


def _device_inputs(prompts: list[list[int]], pad_id: int, device: Any, candidate_ids: dict[str, int]) -> dict[str, Any]:
    """The model call's tensors, padded and already on the device: made outside the lock."""
    import torch

    inputs = {k: v.to(device) for k, v in _left_padded(prompts, pad_id).items()}
    inputs["candidates"] = torch.tensor(list(candidate_ids.values()), dtype=torch.long, device=device)
    return inputs


def _completions(
    tokenizer: Any,
    model: Any,
    prompts: list[list[int]],
    sampling: SamplingParams,
    candidates: list[str],
    generated: list[list[int]],
    logprobs: list[list[float]] | None,
    decode: Callable[[list[int]], str] | None = None,
) -> list[Completion]:
    """One completion per prompt from what the model call read back: texts cut at the end of
    sequence or a stop string, their finish reasons, candidate logprobs and usage. `decode`:
    ids to text, special tokens skipped unless given otherwise."""
    eos = {tokenizer.eos_token_id} | set(_as_list(getattr(model.generation_config, "eos_token_id", None)))
    decode = decode or (lambda ids: tokenizer.decode(ids, skip_special_tokens=True))
    completions = []
    for row, ids in enumerate(prompts):
        texts, reasons, produced = [], [], 0
        for tokens in generated[row * sampling.n : (row + 1) * sampling.n]:
            cut = next((i for i, t in enumerate(tokens) if t in eos), None)
            kept = tokens if cut is None else tokens[:cut]
            produced += len(kept) + (0 if cut is None else 1)
            text, stopped = _apply_stop(decode(kept), sampling.stop)
            texts.append(text)
            reasons.append("stop" if cut is not None or stopped else "length")
        candidate_logprobs = dict(zip(candidates, logprobs[row])) if logprobs is not None else None
        usage = Usage(prompt_tokens=len(ids), completion_tokens=produced, requests=1)
        completions.append(Completion(texts=texts, finish_reasons=reasons, candidate_logprobs=candidate_logprobs, usage=usage))
    return completions


def _template_files_take_tools(source: ModelSource) -> bool | None:
    """Whether the model's template reads `tools`, from its folder's files alone (nothing loaded
    or converted); None (unknown until the tokenizer loads) for a GGUF not yet converted."""
    folder: Path | None = None if source.gguf_file else source.folder
    if source.convert and source.gguf_file:
        from judge_transformers.convert import default_output

        folder = default_output(source.folder / source.gguf_file)
    return folder_takes_tools(folder) if folder is not None and folder.is_dir() else None


def _tool_decoder(tokenizer: Any) -> Callable[[list[int]], str] | None:
    """Where the tokenizer makes the call markers special tokens, a decoding that keeps them."""
    specials = special_tokens(tokenizer).ids
    if not markers_special(specials):
        return None
    return lambda ids: drop_specials(tokenizer.decode(ids, skip_special_tokens=False), specials)


def _left_padded(prompts: list[list[int]], pad_id: int) -> dict[str, Any]:
    """input_ids and attention_mask, padded on the left: what `tokenizer(texts, padding=True)`
    gave when prompts were text."""
    import torch

    width = max(len(ids) for ids in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        if ids:
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids) :] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def _apply_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    cuts = [text.find(s) for s in stop if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]

