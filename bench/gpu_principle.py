"""Principle mode on a GPU: the engine's transformers backend against raw batched forward passes.

A RANDOM-WEIGHT model with SmolLM2-135M's architecture (LlamaForCausalLM: 30 layers, hidden 576,
FFN 1536, 9 heads, 3 KV heads, head_dim 64, rope_theta 100000, RMS eps 1e-5, vocab 49152, tied
embeddings) and SmolLM2's tokenizer is saved to a temporary folder, so the check runs where no
weights can be downloaded. Then, for each batch size, 2,048 one-token principle verdicts on
~578-token prompts are judged twice, alternating:

  engine  Judge(principle mode) on judge's transformers backend (bf16), reading P(Yes) exactly
  raw     the same chat-templated prompts, tokenized and run through the same model in batches,
          log-softmax at the last position, P(Yes) and P(No) read back: what a hand-written
          script does

and engine/raw throughput is printed (target >= 0.9 at batch 128). Random weights change nothing
about speed: the shapes and the work are SmolLM2-135M's.

On a GPU machine without pydantic or gguf (python 3.12, torch, transformers, jinja2, pluggy,
httpx, pyyaml, tqdm, sympy present), from the repository root, with the cp312 wheels of
pydantic 2.14.4, pydantic-core 2.50.5, annotated-types, typing-inspection and typing-extensions
4.16.0 (pydantic-core needs >= 4.16) in .whl/, and SmolLM2's tokenizer files (tokenizer.json,
tokenizer_config.json, chat_template.jinja; about 3 MB, from the folder that
`python -m judge_transformers.convert` prints) in .tok/ (`pip install .` builds judge itself
offline, so its prompts, rubrics and plugin entry points are installed):

    python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site .whl/*.whl . \\
      && PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 python3 bench/gpu_principle.py --tokenizer .tok --breakdown

Measured that way on an H100 80GB host (16 cores), 2,048 verdicts on 539-596-token prompts,
with the backend as it was then (prompts built one request at a time under the model's lock,
answers read back row by row): engine/raw 0.78 at batch 8, 0.58 at 32, 0.57 at 128, 0.55 at
256. A trial of what the backend now does (prompts tokenized in one call, a batch prepared
outside the model's lock while the GPU runs the one before, answers read back in one transfer,
two calls in flight) gave 0.70 at 32, 0.77 at 128, 0.81 at 256, rewards unchanged; the backend
itself is still to be measured on a GPU.

Here, on the CPU, with tiny numbers (what tests/bench runs):

    .venv/bin/python bench/gpu_principle.py --items 32 --batches 8 --device cpu --layers 2 --prompt-tokens 96 --breakdown
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backends import requests_of  # noqa: E402  (the requests a judge sends, recorded on a fake)
from scratch import scratch_dir  # noqa: E402

PRINCIPLE = "The response answers the question that was asked, and every fact in it is correct."
SENTENCE = "The tide rose {k} centimetres over the harbour wall while the gulls circled the boats. "


def smollm2_config(layers: int, tokenizer: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=layers,
        num_attention_heads=9, num_key_value_heads=3, head_dim=64, hidden_act="silu",
        max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )


def tokenizer_folder(given: str | None) -> Path:
    if given:
        return Path(given)
    from judge_transformers.convert import convert_embedded  # needs gguf; --tokenizer avoids it

    return convert_embedded()


def build_model(folder: Path, tokenizer_dir: Path, layers: int, dtype: str) -> Any:
    """A random-weight SmolLM2-135M (architecture only) with SmolLM2's tokenizer, saved to `folder`."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    model = LlamaForCausalLM(smollm2_config(layers, tokenizer)).to(getattr(torch, dtype))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return tokenizer


def make_items(count: int, prompt_tokens: int, tokenizer: Any, judge: Any) -> list[Any]:
    """Distinct items whose chat-templated principle prompt is about `prompt_tokens` long."""
    from judge.models import Item

    def item(k: int, sentences: int) -> Any:
        half = max(1, sentences // 2)
        prompt = f"Question {k}: what happened at the harbour? " + "".join(SENTENCE.format(k=k + i) for i in range(half))
        response = "".join(SENTENCE.format(k=k * 7 + i) for i in range(max(1, sentences - half)))
        return Item(id=f"i{k}", prompt=prompt, responses=[response])

    def length(one: Any) -> int:
        return len(tokenizer(chat_prompts(judge, [one])[0], add_special_tokens=False)["input_ids"])

    def mean_length(sentences: int) -> float:
        return sum(length(item(k, sentences)) for k in (0, count // 2, count - 1)) / 3

    base = mean_length(2)
    per_sentence = max(1.0, (mean_length(12) - base) / 10)
    guess = max(2, 2 + round((prompt_tokens - base) / per_sentence))
    sentences = min(range(max(2, guess - 3), guess + 4), key=lambda n: abs(mean_length(n) - prompt_tokens))
    return [item(k, sentences) for k in range(count)]


def chat_prompts(judge: Any, items: list[Any]) -> list[str]:
    """The engine's own requests for these items, through the model's chat template, as text."""
    tokenizer = judge.backend._tokenizer()
    prompts = []
    for request in requests_of(judge, items):
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        prompts.append(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return prompts


def raw_pass(model: Any, tokenizer: Any, prompts: list[str], batch: int, device: str, ids: list[int]) -> list[list[float]]:
    """The reference: tokenize a batch, one forward pass, log-softmax at the last position, read back."""
    import torch

    answers: list[list[float]] = []
    for start in range(0, len(prompts), batch):
        encoded = tokenizer(prompts[start : start + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = {k: v.to(device) for k, v in encoded.items()}
        with torch.inference_mode():
            logits = model(**encoded, logits_to_keep=1).logits[:, -1].float()
            answers += torch.log_softmax(logits, dim=-1)[:, ids].cpu().tolist()
    return answers


def breakdown(judge: Any, model: Any, items: list[Any], batch: int, device: str, sync: Any) -> None:
    """Where one engine batch spends its time, the backend's way against the ways it replaced.

    Uses the transformers backend's internals (chat_prompt_ids_batch, _device_inputs) as they
    are today; it is a diagnostic for the backend's authors, printed after the main numbers.
    On a GPU the backend prepares a batch while the model runs the one before, so what counts
    is that preparation stays shorter than the forward pass.
    """
    import torch

    from judge.tokens import chat_prompt_ids, chat_prompt_ids_batch, encode_batch, render_chat, text_chat
    from judge_transformers.backend import _device_inputs

    tokenizer = judge.backend._tokenizer()
    requests = requests_of(judge, items[:batch])
    candidates = {c: tokenizer.encode(c, add_special_tokens=False)[0] for c in ("Yes", "No")}
    ids = list(candidates.values())
    timings: dict[str, float] = {}

    def timed(name: str, work: Any) -> Any:
        sync()
        started = time.perf_counter()
        result = work()
        sync()
        timings[name] = 1000 * (time.perf_counter() - started)
        return result

    timed("chat template + tokenize, one request at a time (the backend before)",
          lambda: [chat_prompt_ids(tokenizer, r) for r in requests])
    prompts = [p for p, _ in timed("chat template + tokenize, batched (chat_prompt_ids_batch, the backend)",
                                   lambda: chat_prompt_ids_batch(tokenizer, requests))]
    texts = timed("  of which: the chat templates rendered", lambda: [render_chat(tokenizer, *text_chat(r)) for r in requests])
    timed("  of which: one tokenizer(texts) call", lambda: encode_batch(tokenizer, texts))
    inputs = timed("left-pad and copy to the device", lambda: _device_inputs(prompts, tokenizer.pad_token_id, device, candidates))
    with torch.inference_mode():
        logits = timed("forward pass (logits_to_keep=1) + log_softmax",
                       lambda: torch.log_softmax(model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                                       logits_to_keep=1).logits[:, -1].float(), dim=-1))
        generated = logits.argmax(dim=-1, keepdim=True)
        timed("read back row by row (the backend before)",
              lambda: [({c: float(logits[row][i]) for c, i in candidates.items()}, generated[row].tolist())
                       for row in range(len(requests))])
        timed("read back at once (one .cpu().tolist() each, the backend)",
              lambda: (logits[:, ids].cpu().tolist(), generated.cpu().tolist()))
    print(f"    one batch of {len(requests)}, in ms:", flush=True)
    for name, ms in timings.items():
        print(f"      {ms:8.2f}  {name}", flush=True)


def paired(engine: Any, reference: Any, repeats: int, sync: Any) -> tuple[float, float]:
    """(engine_s, reference_s) of the alternating round whose ratio is the median."""
    rounds = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        reference()
        sync()
        reference_s = time.perf_counter() - started
        started = time.perf_counter()
        engine()
        sync()
        engine_s = time.perf_counter() - started
        rounds.append((reference_s / engine_s, engine_s, reference_s))
    _, engine_s, reference_s = sorted(rounds)[len(rounds) // 2]
    return engine_s, reference_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2048, help="principle verdicts per measurement (default 2048)")
    parser.add_argument("--batches", default="8,32,128,256", help="batch sizes, comma-separated (default 8,32,128,256)")
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--dtype", help="weights dtype (default bfloat16 on a GPU, float32 on the CPU)")
    parser.add_argument("--tokenizer", help="a folder with SmolLM2's tokenizer files (default: the embedded model's, converted)")
    parser.add_argument("--layers", type=int, default=30, help="decoder layers (default 30, SmolLM2-135M's)")
    parser.add_argument("--prompt-tokens", type=int, default=578, help="chat-templated prompt length (default 578)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds per batch size; the median is shown")
    parser.add_argument("--breakdown", action="store_true", help="also time the parts of one engine batch")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    dtype = args.dtype or ("float32" if args.device == "cpu" else "bfloat16")
    os.environ.setdefault("JUDGE_CACHE_DIR", str(scratch_dir(prefix="judge-bench-cache-")))

    import torch

    from judge.engine import Judge
    from judge.rubric import Rubric
    from judge_transformers.backend import TransformersBackend

    folder = scratch_dir(prefix="smollm2-random-")
    tokenizer = build_model(folder, tokenizer_folder(args.tokenizer), args.layers, dtype)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or platform.machine()
    print(f"device: {args.device} ({gpu}); torch {torch.__version__}; {dtype}; {args.layers} layers; "
          f"python {platform.python_version()}", flush=True)

    rubric = Rubric.from_principles([PRINCIPLE])
    rows: list[dict[str, Any]] = []
    for batch in [int(b) for b in args.batches.split(",")]:
        backend = TransformersBackend(str(folder), dtype=dtype, device=args.device, batch_size=batch)
        judge = Judge(rubric, mode="principle", backend=backend)
        items = make_items(args.items, args.prompt_tokens, tokenizer, judge)
        judge.score(items[: 2 * batch])  # warm: the load, CUDA kernels, the allocator, templates
        model, _ = backend._ensure_loaded()
        prompts = chat_prompts(judge, items)
        sample = prompts[:: max(1, len(prompts) // 64)]
        mean_tokens = sum(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in sample) / len(sample)
        ids = [tokenizer.encode(c, add_special_tokens=False)[0] for c in ("Yes", "No")]
        raw_pass(model, tokenizer, prompts[: 2 * batch], batch, args.device, ids)

        engine_s, raw_s = paired(lambda: judge.score(items), lambda: raw_pass(model, tokenizer, prompts, batch, args.device, ids),
                                 args.repeats, sync)
        ratio = raw_s / engine_s
        note = "  (target >= 0.9)" if batch == 128 else ""
        print(f"batch {batch:4}: engine {args.items / engine_s:9.1f} items/s   raw {args.items / raw_s:9.1f} items/s   "
              f"engine/raw {ratio:4.2f}{note}   ({mean_tokens:.0f}-token prompts)", flush=True)
        rows.append({"batch": batch, "engine_per_s": args.items / engine_s, "raw_per_s": args.items / raw_s,
                     "ratio": ratio, "prompt_tokens": mean_tokens, "device": gpu, "dtype": dtype})
        if args.breakdown:
            try:
                breakdown(judge, model, items, batch, args.device, sync)
            except Exception as exc:  # the backend's internals moved: the main numbers stand
                print(f"    (no breakdown: {type(exc).__name__}: {exc})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
