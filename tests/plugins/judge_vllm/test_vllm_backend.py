"""vLLM's offline engine on this CPU with the converted SmolLM2, against the embedded backend."""

from __future__ import annotations

import asyncio
import json

import pytest

from judge import Item, Judge, Request, SamplingParams, Status, load_rubric
from judge.models import Message

from conftest import ROOT

pytestmark = pytest.mark.slow
LLMBAR = ROOT.parent / "shared" / "data" / "llmbar" / "natural.jsonl"
# Measured on this machine (float32 both sides): candidate logprobs differ by < 1e-4 between
# vLLM and transformers; 2e-3 leaves room for batch-shape effects in vLLM's CPU kernels.
LOGPROB_TOLERANCE = 2e-3


def ask(text: str, **kwargs) -> Request:
    return Request(messages=(Message(role="user", content=text),), **kwargs)


def test_exact_candidate_logprobs_match_transformers(vllm_offline, embedded):
    probes = [ask(t, candidates=("Yes", "No", "A", "B"), sampling=SamplingParams(max_tokens=6))
              for t in ("Is the sky blue? Answer Yes or No.", "Pick A or B.", "Is 7 prime?")]
    from_vllm = asyncio.run(vllm_offline.complete(probes))
    from_hf = asyncio.run(embedded.complete(probes))
    for mine, theirs in zip(from_vllm, from_hf):
        assert mine.error is None
        assert mine.texts == theirs.texts
        assert set(mine.candidate_logprobs) == {"Yes", "No", "A", "B"}
        for token, logprob in theirs.candidate_logprobs.items():
            assert mine.candidate_logprobs[token] == pytest.approx(logprob, abs=LOGPROB_TOLERANCE)


def test_n_samples_in_one_request_are_seeded(vllm_offline):
    sampled = ask("Say a word.", sampling=SamplingParams(max_tokens=5, temperature=1.0, n=4, seed=3))
    first, second = asyncio.run(vllm_offline.complete([sampled, sampled]))
    assert len(first.texts) == 4 and first.texts == second.texts
    assert first.usage.requests == 1


def test_too_long_and_multi_token_candidates_are_named_errors(vllm_offline):
    answers = asyncio.run(vllm_offline.complete([
        ask("word " * 3000),
        ask("hi", candidates=("Definitely-not-one-token",)),
        ask("hi", sampling=SamplingParams(max_tokens=2)),
    ]))
    assert answers[0].error.startswith("too_long")
    assert "one token" in answers[1].error
    assert answers[2].error is None


def test_greedy_pairwise_verdicts_agree_with_the_embedded_backend(vllm_offline, embedded):
    rows = [json.loads(line) for line in LLMBAR.read_text().splitlines()[:6]]
    items = [Item(id=r["id"], prompt=r["prompt"], responses=[r["chosen"], r["rejected"]]) for r in rows]
    rubric = load_rubric("helpfulness")
    from_vllm = Judge(rubric, mode="pairwise", backend=vllm_offline).score(items)
    from_hf = Judge(rubric, mode="pairwise", backend=embedded).score(items)
    for mine, theirs in zip(from_vllm, from_hf):
        assert mine.status is Status.ok and theirs.status is Status.ok
        assert mine.preferred == theirs.preferred
        assert mine.scores[0] == pytest.approx(theirs.scores[0], abs=LOGPROB_TOLERANCE)
