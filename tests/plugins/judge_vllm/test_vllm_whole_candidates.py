"""Continuation and whole-candidate scoring on vLLM's offline engine, against the embedded
transformers backend on the same requests (float32 on both sides)."""

from __future__ import annotations

import asyncio
import math

import pytest

from judge import Request, SamplingParams
from judge.models import Message
from judge.tokens import chat_prompt_ids

pytestmark = pytest.mark.slow
AGREEMENT = 1e-3  # measured: < 1e-4 on this machine
POINTS = tuple(str(k) for k in range(1, 11))
RATE = "Rate the answer '2+2=4' from 1 to 10. Reply with the number only."


def chat(*turns: tuple[str, str], **kwargs) -> Request:
    return Request(messages=tuple(Message(role=role, content=content) for role, content in turns), **kwargs)


def both(vllm_offline, embedded, requests: list[Request]):
    return asyncio.run(vllm_offline.complete(requests)), asyncio.run(embedded.complete(requests))


def test_the_engine_declares_both_capabilities(vllm_offline):
    assert vllm_offline.capabilities.continuation and vllm_offline.capabilities.whole_candidates
    assert vllm_offline._ends == {2}  # SmolLM2's <|im_end|>, from the tokenizer and generation_config.json


def test_a_continued_chat_gets_the_same_ids_and_candidates_as_transformers(vllm_offline, embedded):
    request = chat(("user", "Is 2+2=4 correct? End with Verdict: Yes or No."), ("assistant", "Let me check. Verdict:"),
                   candidates=(" Yes", " No"), sampling=SamplingParams(max_tokens=4))
    ids, _ = chat_prompt_ids(vllm_offline._tokenizer, request)
    assert ids == chat_prompt_ids(embedded._ensure_loaded()[1], request)[0] and ids[-1] != 2
    [mine], [theirs] = both(vllm_offline, embedded, [request])
    assert mine.error is None and mine.texts == theirs.texts and mine.usage.prompt_tokens == len(ids)
    for candidate in (" Yes", " No"):
        assert mine.candidate_logprobs[candidate] == pytest.approx(theirs.candidate_logprobs[candidate], abs=AGREEMENT)


def test_whole_candidates_agree_with_transformers(vllm_offline, embedded):
    """A 1-10 scale in a new turn and after a continued "Verdict:", beside an ordinary request,
    a seeded one (sent alone on a CPU) and one that asks for more text: one batch."""
    scale = chat(("user", RATE), candidates=POINTS, whole_candidates=True, sampling=SamplingParams(max_tokens=1))
    continued = chat(("user", RATE), ("assistant", "The answer is right. Verdict:"), candidates=tuple(f" {p}" for p in POINTS),
                     whole_candidates=True, sampling=SamplingParams(max_tokens=6))
    words = chat(("user", "Is Paris in France?"), candidates=("Yes", "No", "Yes, it is."), whole_candidates=True,
                 sampling=SamplingParams(max_tokens=3, temperature=1.0, seed=5))
    ordinary = chat(("user", "Is Paris in France?"), candidates=("Yes", "No"), sampling=SamplingParams(max_tokens=1))
    requests = [scale, ordinary, continued, words]
    from_vllm, from_hf = both(vllm_offline, embedded, requests)
    for request, mine, theirs in zip(requests, from_vllm, from_hf):
        assert mine.error is None, mine.error
        assert set(mine.candidate_logprobs) == set(request.candidates)
        for candidate, logprob in theirs.candidate_logprobs.items():
            assert mine.candidate_logprobs[candidate] == pytest.approx(logprob, abs=AGREEMENT)
        if request.sampling.seed is None:
            assert mine.texts == theirs.texts
    for whole in (from_vllm[0], from_vllm[2]):
        values = list(whole.candidate_logprobs.values())
        assert all(math.isfinite(v) for v in values) and sum(map(math.exp, values)) <= 1.0
    assert abs(from_vllm[0].candidate_logprobs["1"] - from_vllm[0].candidate_logprobs["10"]) > 1e-3
    assert from_vllm[3].candidate_logprobs["Yes"] < from_vllm[1].candidate_logprobs["Yes"]  # the end of turn counts
    [alone] = asyncio.run(vllm_offline.complete([continued.model_copy(update={"whole_candidates": False, "candidates": ()})]))
    assert from_vllm[2].texts == alone.texts and from_vllm[2].usage == alone.usage


def test_whole_candidates_that_cannot_be_read_are_named_errors(vllm_offline):
    huge = chat(("user", "word " * 2100), candidates=POINTS, whole_candidates=True)
    fine = chat(("user", RATE), candidates=POINTS, whole_candidates=True, sampling=SamplingParams(max_tokens=1))
    too_long, answer = asyncio.run(vllm_offline.complete([huge, fine]))
    assert too_long.error and too_long.error.startswith("too_long")
    assert answer.error is None and len(answer.candidate_logprobs) == 10
