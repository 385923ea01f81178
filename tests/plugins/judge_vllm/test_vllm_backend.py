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


def test_cli_with_the_vllm_backend_agrees_with_the_embedded_backend(converted_model, embedded, judge_cli, tmp_path):
    import subprocess

    rows = [json.loads(line) for line in LLMBAR.read_text().splitlines()[:4]]
    data, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data.write_text("".join(json.dumps({"id": r["id"], "prompt": r["prompt"], "response": r["chosen"]}) + "\n" for r in rows))
    result = subprocess.run([*judge_cli, "score", "-m", "principle", "-r", "rlbff-principles", "--backend", "vllm",
                             "--model", str(converted_model), "-O", "dtype=float32", str(data), "-o", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    from_cli = {j["id"]: j for j in map(json.loads, out.read_text().splitlines())}
    items = [Item(id=r["id"], prompt=r["prompt"], responses=[r["chosen"]]) for r in rows]
    local = Judge(load_rubric("rlbff-principles"), mode="principle", backend=embedded).score(items)
    for judgment in local:
        assert from_cli[judgment.id]["status"] == "ok"
        assert from_cli[judgment.id]["reward"] == pytest.approx(judgment.reward, abs=LOGPROB_TOLERANCE)


def test_seeded_requests_in_a_large_batch_do_not_crash_the_engine(vllm_offline):
    long_prompt = "Summarise this text. " + "The river runs past the mill and the town. " * 60
    requests = [ask(f"{k} {long_prompt}", sampling=SamplingParams(max_tokens=4, temperature=1.0, seed=k)) for k in range(12)]
    answers = asyncio.run(vllm_offline.complete(requests))
    assert all(a.error is None and len(a.texts) == 1 for a in answers)
    again = asyncio.run(vllm_offline.complete(requests[:2]))
    assert [a.texts for a in again] == [a.texts for a in answers[:2]]
