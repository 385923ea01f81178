"""What each strategy costs, measured side by side in one run.

    .venv/bin/python bench/strategies.py [--judgments 2000] [--items 32] [--repeats 3] [--only a,b,c]

(a) the engine's own cost per judgment on an instant fake backend, per strategy (pairwise): the
    engine's time minus the fake's own time on the very requests the engine sent; direct is
    one request per judgment, the others several                        target: direct < 1 ms
(b) vote@8 of one-token verdicts against direct judging of the same items on vLLM's offline
    engine (the embedded model; a GPU where one is present, else the CPU): the 8 samples of an
    order go out as one request with n=8, so they share one prefill     target <= 1.5x
(c) rethink on vLLM: turn 2 is turn 1's chat plus its answer plus one message, so with prefix
    caching its prompt is mostly already computed. Rethink with prefix caching on, against the
    same two turns with it off (each turn computed from scratch, as two independent calls);
    and the prompt tokens turn 2 could reuse against those it must compute.

Every ratio alternates its two sides and shows the round with the median ratio, so machine
speed and drift cancel out. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from overhead import fake_alone, paired  # noqa: E402  (the other bench's helpers)

PROMPTS = [
    "Explain why the sky is blue in two sentences.",
    "What is the capital of Australia, and why is it not Sydney?",
    "Give one advantage and one drawback of nuclear power.",
    "Summarize the plot of Romeo and Juliet in one sentence.",
]


def make_items(count: int) -> list[Any]:
    from judge.models import Item

    return [
        Item(id=f"i{k}", prompt=f"{PROMPTS[k % len(PROMPTS)]} (case {k})",
             responses=[f"A careful answer number {k}, with its reasons.", f"A short reply {k}."])
        for k in range(count)
    ]


# -- (a) engine cost per strategy on an instant fake ------------------------------------------------

STRATEGIES: list[tuple[str, dict[str, Any]]] = [
    ("direct", {}),
    ("reason", {}),
    ("rethink", {}),
    ("vote", {"samples": 8}),
    ("vote+meta", {"samples": 8, "meta_top": 4}),
]


def answer(request: Any) -> Any:
    """An instant judge whose every answer parses, whatever the strategy asks."""
    from judge.backend import Completion
    from judge.models import Usage

    n = request.sampling.n
    if request.candidates:
        logprobs = {c: -0.7 for c in request.candidates}
        return Completion(texts=["A"] * n, finish_reasons=["stop"] * n, candidate_logprobs=logprobs,
                          usage=Usage(prompt_tokens=1, completion_tokens=1, requests=1))
    return ["A, because it is right. \\boxed{A}"] * n


def bench_cost(count: int, repeats: int) -> list[dict[str, Any]]:
    from judge.engine import Judge
    from judge.rubric import load_rubric
    from judge.strategy import StrategyOptions
    from judge_fake.backend import FakeBackend

    rubric = load_rubric("helpfulness")
    rows = []
    for label, options in STRATEGIES:
        strategy = label.split("+")[0]

        def make(backend: Any) -> Any:
            meta = Judge(load_rubric("meta-critique"), mode="principle", backend=backend) if "meta" in label else None
            return Judge(rubric, mode="pairwise", backend=backend, strategy=strategy,
                         strategy_options=StrategyOptions(**options), meta=meta)

        batch = make_items(count)
        judge = make(FakeBackend(answer, batch_size=64, record=False, native_n=True))
        judge.score(make_items(20))  # warm: imports, templates
        recorder = FakeBackend(answer, batch_size=64, native_n=True)
        make(recorder).score(batch)  # the very requests the engine sends, to time the fake alone
        requests = list(recorder.requests)
        alone = fake_alone(FakeBackend(answer, batch_size=64, record=False, native_n=True), requests)
        engine_s, fake_s = paired(lambda: judge.score(batch), alone, repeats)
        per = 1e6 * (engine_s - fake_s) / count
        calls = len(requests) / count
        target = "  (target < 1000 us)" if label == "direct" else ""
        print(f"(a) {label:10s} {calls:4.1f} model calls per judgment   engine cost {per:7.0f} us per judgment{target}", flush=True)
        rows.append({"measure": "a", "strategy": label, "us_per_judgment": per, "calls_per_judgment": calls})
    return rows


# -- (b) vote@8 against direct on vLLM ---------------------------------------------------------------


def vllm_backend(prefix_caching: bool = True) -> Any:
    from judge_vllm.backend import VLLMBackend

    backend = VLLMBackend(None, kv_cache_memory_bytes=512 * 1024**2, max_model_len=2048,
                          enable_prefix_caching=prefix_caching)
    asyncio.run(backend.start())
    return backend


def bench_vote(backend: Any, count: int, repeats: int) -> dict[str, Any]:
    from judge.backend import SamplingParams
    from judge.engine import Judge
    from judge.rubric import load_rubric
    from judge.strategy import StrategyOptions

    rubric = load_rubric("helpfulness")
    one_token = SamplingParams(max_tokens=1)
    items = make_items(count)
    direct = Judge(rubric, mode="pairwise", backend=backend, sampling=one_token)
    counter = iter(range(10**9))

    def vote() -> None:  # a new seed each round: no sample is answered from an earlier round
        options = StrategyOptions(samples=8, seed=next(counter), retries=0)
        Judge(rubric, mode="pairwise", backend=backend, sampling=one_token, strategy="vote",
              strategy_options=options).score(items)

    direct.score(items[:4])
    vote()  # warm both paths
    vote_s, direct_s = paired(vote, lambda: direct.score(items), repeats)
    ratio = vote_s / direct_s
    print(f"(b) {count} pairwise items, one-token verdicts: direct {direct_s:6.2f} s   vote@8 {vote_s:6.2f} s   "
          f"ratio {ratio:4.2f}x  (target <= 1.5x)", flush=True)
    return {"measure": "b", "items": count, "direct_s": direct_s, "vote8_s": vote_s, "ratio": ratio}


# -- (c) rethink with and without prefix caching -------------------------------------------------------


class Recording:
    """A backend as it is, that also keeps each request with the usage of its answer."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.capabilities = inner.capabilities
        self.seen: list[tuple[Any, Any]] = []

    async def complete(self, requests: list[Any]) -> list[Any]:
        answers = await self.inner.complete(requests)
        self.seen += [(r, a.usage) for r, a in zip(requests, answers)]
        return answers

    async def aclose(self) -> None:
        return None


def bench_rethink(cached: Any, uncached: Any, count: int, repeats: int, tokens: int) -> dict[str, Any]:
    from judge.engine import Judge
    from judge.rubric import load_rubric
    from judge.strategy import StrategyOptions

    rubric = load_rubric("helpfulness")
    items = make_items(count)
    options = StrategyOptions(reason_tokens=tokens, retries=0)

    def run(backend: Any) -> Callable[[], list[Any]]:
        return lambda: Judge(rubric, mode="pairwise", backend=backend, strategy="rethink", strategy_options=options).score(items)

    recording = Recording(cached)
    run(recording)()  # warm, and the token counts of each turn
    with_s, without_s = paired(run(cached), run(uncached), repeats)
    first = [(r, u) for r, u in recording.seen if r.messages[-1].role == "user" and len(r.messages) <= 2]
    second = [(r, u) for r, u in recording.seen if (r, u) not in first]
    reusable = sum(u.prompt_tokens + u.completion_tokens for _, u in first)
    turn2 = sum(u.prompt_tokens for _, u in second)
    print(f"(c) rethink, {count} items, {tokens}-token turns: prefix caching on {with_s:6.2f} s   "
          f"off (each turn from scratch, as two independent calls) {without_s:6.2f} s   ratio {with_s / without_s:4.2f}x", flush=True)
    print(f"    turn-2 prompt tokens {turn2}, of which {reusable} are turn 1's prompt and answer "
          f"({100 * reusable / max(turn2, 1):.0f}%: computed once with prefix caching)", flush=True)
    return {"measure": "c", "items": count, "cached_s": with_s, "uncached_s": without_s,
            "turn2_prompt_tokens": turn2, "reusable_tokens": reusable}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=int, default=2000, help="(a) judgments per strategy")
    parser.add_argument("--items", type=int, default=32, help="(b), (c) items")
    parser.add_argument("--tokens", type=int, default=64, help="(c) tokens per rethink turn")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="a,b,c")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}", flush=True)
    results: list[Any] = []
    if "a" in only:
        results += bench_cost(args.judgments, args.repeats)
    if only & {"b", "c"}:
        backend = vllm_backend()
        if "b" in only:
            results.append(bench_vote(backend, args.items, args.repeats))
        if "c" in only:
            results.append(bench_rethink(backend, vllm_backend(prefix_caching=False), max(2, args.items // 4),
                                         args.repeats, args.tokens))
    return 0 if results else 2


if __name__ == "__main__":
    raise SystemExit(main())
