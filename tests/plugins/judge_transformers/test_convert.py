"""The GGUF -> Hugging Face folder converter, checked against transformers' own GGUF load."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from judge import Request, SamplingParams
from judge.errors import BackendError
from judge.models import Message
from judge_transformers.convert import hf_name, unpermute_rotary


def llama_cpp_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """What llama.cpp's converter does to q/k rows, written independently for the test."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


@pytest.mark.parametrize("heads", [1, 3, 9])
def test_unpermute_inverts_llama_cpp_permutation(heads):
    weight = np.arange(heads * 8 * 5, dtype=np.float32).reshape(heads * 8, 5)
    assert np.array_equal(unpermute_rotary(llama_cpp_permute(weight, heads), heads), weight)
    assert not np.array_equal(llama_cpp_permute(weight, heads), weight) or heads * 8 <= 2


def test_tensor_names_are_mapped():
    assert hf_name("blk.12.attn_q.weight") == "model.layers.12.self_attn.q_proj.weight"
    assert hf_name("blk.0.ffn_down.weight") == "model.layers.0.mlp.down_proj.weight"
    assert hf_name("token_embd.weight") == "model.embed_tokens.weight"
    assert hf_name("output_norm.weight") == "model.norm.weight"
    with pytest.raises(BackendError, match="llama-architecture"):
        hf_name("blk.0.attn_qkv.weight")


@pytest.mark.slow
def test_converted_folder_matches_transformers_gguf_load(converted_model, embedded, capfd):
    """The embedded backend (which loads the converted folder) against transformers' own
    de-quantising GGUF load of the same file: same greedy texts, logprobs within 1e-4."""
    from judge_transformers.backend import TransformersBackend
    from judge_transformers.loading import local_files

    config = json.loads((converted_model / "config.json").read_text())
    assert config["num_attention_heads"] == 9 and config["num_key_value_heads"] == 3 and config["tie_word_embeddings"]
    assert (converted_model / "chat_template.jinja").exists() or "chat_template" in (converted_model / "tokenizer_config.json").read_text()
    assert local_files(embedded.source)[1] is None  # the embedded backend reads a converted folder
    gguf = TransformersBackend(str(embedded.source.folder / embedded.source.gguf_file))
    assert gguf.source.gguf_file and not gguf.source.convert  # a --model .gguf keeps transformers' loader
    capfd.readouterr()
    asyncio.run(gguf.start())
    assert "de-quantizing" not in capfd.readouterr().err  # the de-quantising bar only with -v
    probes = [
        Request(messages=(Message(role="user", content=text),), candidates=("Yes", "No", "A", "B"), sampling=SamplingParams(max_tokens=12))
        for text in ("Is the sky blue? Answer Yes or No.", "Which is larger, A: 3 or B: 7? Answer A or B.")
    ]
    converted = asyncio.run(embedded.complete(probes))
    original = asyncio.run(gguf.complete(probes))
    for mine, theirs in zip(converted, original):
        assert mine.texts == theirs.texts
        for token, logprob in theirs.candidate_logprobs.items():
            assert mine.candidate_logprobs[token] == pytest.approx(logprob, abs=1e-4)


@pytest.mark.slow
def test_two_conversions_at_once_share_one_folder(tmp_path):
    """Two processes converting the same file at once never mix files; both get the folder."""
    import subprocess
    import sys

    from judge_transformers.loading import embedded_source

    source = embedded_source()
    target = tmp_path / "smollm2"
    code = f"from judge_transformers.convert import convert_gguf; print(convert_gguf({str(source.folder / source.gguf_file)!r}, {str(target)!r}))"
    runs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-2000:]
        assert out.strip() == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smollm2"]
    assert json.loads((target / "config.json").read_text())["num_hidden_layers"] == 30


def test_a_missing_gguf_is_a_clear_error(tmp_path):
    from judge_transformers.convert import convert_gguf

    with pytest.raises(BackendError, match="no such GGUF file"):
        convert_gguf(tmp_path / "absent.gguf", tmp_path / "out")


def test_an_unwritable_cache_is_one_clear_error(tmp_path):
    """The first run converts into the cache; a cache it cannot write is one BackendError that
    says what to do, raised before the de-quantising, and nothing is left behind."""
    from judge_transformers.convert import convert_gguf
    from judge_transformers.loading import embedded_source

    source = embedded_source()
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    with pytest.raises(BackendError, match=r"^cannot write the converted model to .*JUDGE_CACHE_DIR"):
        convert_gguf(source.folder / source.gguf_file, not_a_folder / "models" / "smollm2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
