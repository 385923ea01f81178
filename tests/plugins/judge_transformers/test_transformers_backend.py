"""The embedded transformers backend on the real SmolLM2 model (one session-wide load)."""

from __future__ import annotations

import asyncio

import pytest

from judge import Completion, Request, SamplingParams
from judge.errors import BackendError
from judge.models import Message

pytestmark = pytest.mark.slow

QUESTION = "Is Paris the capital of France? Answer Yes or No only."


def request(text: str, **kwargs) -> Request:
    return Request(messages=(Message(role="user", content=text),), **kwargs)


def complete(backend, requests: list[Request]) -> list[Completion]:
    return asyncio.run(backend.complete(requests))


def raw_next_token_logprobs(backend, text: str):
    """The full next-token distribution from a plain forward pass, without the backend."""
    import torch

    model, tokenizer = backend._ensure_loaded()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        logits = model(**ids).logits[0, -1]
    return torch.log_softmax(logits.float(), dim=-1), tokenizer


def test_candidate_logprobs_are_exact(embedded):
    [completion] = complete(embedded, [request(QUESTION, candidates=("Yes", "No", "A"), sampling=SamplingParams(max_tokens=1))])
    reference, tokenizer = raw_next_token_logprobs(embedded, QUESTION)
    for candidate, logprob in completion.candidate_logprobs.items():
        token = tokenizer.encode(candidate, add_special_tokens=False)[0]
        assert logprob == pytest.approx(float(reference[token]), abs=1e-4)
    assert completion.usage.prompt_tokens > 10 and completion.usage.completion_tokens == 1


def test_batched_left_padded_generation_matches_one_at_a_time(embedded):
    texts = [QUESTION, "Write the number seven as a digit.", "Name a colour. One word."]
    sampling = SamplingParams(max_tokens=6)
    batched = complete(embedded, [request(t, sampling=sampling, candidates=("Yes", "No")) for t in texts])
    for text, together in zip(texts, batched):
        [alone] = complete(embedded, [request(text, sampling=sampling, candidates=("Yes", "No"))])
        assert together.texts == alone.texts
        for candidate in ("Yes", "No"):
            assert together.candidate_logprobs[candidate] == pytest.approx(alone.candidate_logprobs[candidate], abs=2e-3)


def test_greedy_is_deterministic_and_seeded_sampling_reproducible(embedded):
    sampled = SamplingParams(max_tokens=8, temperature=1.0, n=3, seed=7)
    first = complete(embedded, [request("Tell me a word.", sampling=sampled)])[0]
    second = complete(embedded, [request("Tell me a word.", sampling=sampled)])[0]
    assert len(first.texts) == 3 and first.texts == second.texts
    greedy = [complete(embedded, [request("Tell me a word.", sampling=SamplingParams(max_tokens=8))])[0].texts for _ in range(2)]
    assert greedy[0] == greedy[1]


def test_requests_with_different_sampling_in_one_batch_keep_their_order(embedded):
    short = request("Say hello.", sampling=SamplingParams(max_tokens=1))
    longer = request("Say hello.", sampling=SamplingParams(max_tokens=5))
    answers = complete(embedded, [longer, short, longer])
    assert answers[1].usage.completion_tokens == 1
    assert answers[0].texts == answers[2].texts


def test_multi_token_candidate_is_an_error_not_a_guess(embedded):
    [completion] = complete(embedded, [request(QUESTION, candidates=("Absolutely-not-one-token",))])
    assert completion.error and "one token" in completion.error


def test_too_long_prompt_is_a_named_status(embedded):
    huge = "word " * 9000
    answers = complete(embedded, [request(huge), request("Say hi.", sampling=SamplingParams(max_tokens=16))])
    assert answers[0].error.startswith("too_long")
    assert answers[1].error is None and answers[1].texts


def test_second_load_is_served_from_memory(embedded):
    from judge_transformers.backend import TransformersBackend

    again = TransformersBackend(None)
    asyncio.run(again.start())
    assert again._ensure_loaded()[0] is embedded._ensure_loaded()[0]


def test_local_transformers_folder(embedded, tmp_path_factory):
    from judge_transformers.backend import TransformersBackend

    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("smollm2-folder")
    model, tokenizer = embedded._ensure_loaded()
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # a GGUF-loaded model refuses save_pretrained as is
    plain = AutoModelForCausalLM.from_config(type(model.config).from_dict(config))
    plain.load_state_dict(model.state_dict())
    plain.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    local = TransformersBackend(str(folder))
    probe = request(QUESTION, candidates=("Yes", "No"), sampling=SamplingParams(max_tokens=3))
    [from_folder] = complete(local, [probe])
    [from_gguf] = complete(embedded, [probe])
    assert from_folder.texts == from_gguf.texts
    assert from_folder.candidate_logprobs["Yes"] == pytest.approx(from_gguf.candidate_logprobs["Yes"], abs=1e-4)


def test_missing_model_path_is_a_clear_error():
    from judge_transformers.backend import TransformersBackend

    with pytest.raises(BackendError, match="not a local folder"):
        TransformersBackend("/no/such/model")


def test_the_one_token_fast_path_equals_generate(embedded):
    texts = [QUESTION, "Pick A or B. Answer with one letter."]
    one = complete(embedded, [request(t, candidates=("Yes", "No", "A", "B"), sampling=SamplingParams(max_tokens=1)) for t in texts])
    two = complete(embedded, [request(t, candidates=("Yes", "No", "A", "B"), sampling=SamplingParams(max_tokens=2)) for t in texts])
    for fast, slow in zip(one, two):
        assert slow.texts[0].startswith(fast.texts[0])
        assert fast.usage.completion_tokens == 1
        for token, logprob in slow.candidate_logprobs.items():
            assert fast.candidate_logprobs[token] == pytest.approx(logprob, abs=1e-4)


def test_the_embedded_model_loads_from_the_converted_folder(embedded):
    """Not de-quantised from the GGUF at every start: converted once under cache_root()/models."""
    from judge.cache import cache_root
    from judge_transformers.loading import local_files

    model, _ = embedded._ensure_loaded()
    folder, gguf_file = local_files(embedded.source)
    assert gguf_file is None and folder.parent == cache_root() / "models"
    assert (folder / "model.safetensors").exists() and model.config._name_or_path == str(folder)


def test_token_count_needs_the_tokenizer_only(embedded, monkeypatch):
    from judge_transformers import loading
    from judge_transformers.backend import TransformersBackend

    def no_weights(*args, **kwargs):
        raise AssertionError("token_count loaded the model")

    monkeypatch.setattr(loading, "_load_model", no_weights)
    fresh = TransformersBackend(None)  # never started
    assert asyncio.run(fresh.token_count("Yes")) == 1
    assert [asyncio.run(fresh.token_count(d)) for d in "12345"] == [1] * 5
    assert asyncio.run(fresh.token_count("Absolutely-not-one-token")) > 1
    assert asyncio.run(embedded.token_count("No")) == 1  # a started backend uses its loaded tokenizer


def test_a_failed_tokenizer_load_is_not_remembered(monkeypatch):
    from judge_transformers import loading
    from judge_transformers.backend import TransformersBackend

    real, calls = loading._load_tokenizer_uncached, []

    def flaky(source):
        calls.append(source)
        if len(calls) == 1:
            raise BackendError("cannot load the tokenizer from somewhere: disk busy")
        return real(source)

    monkeypatch.setattr(loading, "_tokenizers", {})
    monkeypatch.setattr(loading, "_load_tokenizer_uncached", flaky)
    backend = TransformersBackend(None)
    with pytest.raises(BackendError, match="disk busy"):
        asyncio.run(backend.token_count("Yes"))
    assert asyncio.run(backend.token_count("Yes")) == 1 and len(calls) == 2


LOAD = "import asyncio; from judge_transformers.backend import TransformersBackend; asyncio.run(TransformersBackend(None).start())"


@pytest.mark.parametrize("verbose", [False, True])
def test_loading_prints_no_progress_bars_unless_verbose(embedded, verbose):
    """-v (JUDGE_VERBOSE=1) shows transformers' load bar; without it stderr stays empty."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "JUDGE_VERBOSE"} | ({"JUDGE_VERBOSE": "1"} if verbose else {})
    result = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    if verbose:
        assert "Loading weights" in result.stderr
    else:
        assert result.stderr == ""
