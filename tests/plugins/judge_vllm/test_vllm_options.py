"""The vLLM backend's effective engine arguments (issue 12, point 23): on a CPU the defaults are
the ones the agreement with the other backends was measured with. Nothing is started here."""

from __future__ import annotations

import pytest

pytest.importorskip("vllm")

from judge_vllm import backend as vllm_backend  # noqa: E402
from judge_vllm.backend import VLLMBackend  # noqa: E402


@pytest.fixture
def on_cpu(monkeypatch):
    monkeypatch.setattr(vllm_backend, "_has_cuda", lambda: False)


def test_cpu_defaults_are_float32_with_a_bounded_kv_cache(tmp_path, on_cpu, monkeypatch):
    monkeypatch.delenv("JUDGE_VERBOSE", raising=False)
    args = VLLMBackend(str(tmp_path)).engine_args()
    assert args["dtype"] == "float32"  # "auto" downcasts to bfloat16: scores 0.056 from the embedded model
    assert args["kv_cache_memory_bytes"] == 1024**3 and args["max_model_len"] == 2048 and args["enforce_eager"] is True
    assert args["use_tqdm_on_load"] is False  # no load bar without -v
    assert VLLMBackend(str(tmp_path)).cache_identity.endswith("|float32")


def test_cpu_options_given_are_kept(tmp_path, on_cpu, monkeypatch):
    monkeypatch.setenv("JUDGE_VERBOSE", "1")
    args = VLLMBackend(str(tmp_path), dtype="bfloat16", max_model_len=4096, kv_cache_memory_bytes=2 * 1024**3).engine_args()
    assert (args["dtype"], args["max_model_len"], args["kv_cache_memory_bytes"]) == ("bfloat16", 4096, 2 * 1024**3)
    assert "use_tqdm_on_load" not in args


def test_gpu_keeps_vllms_own_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(vllm_backend, "_has_cuda", lambda: True)
    args = VLLMBackend(str(tmp_path)).engine_args()
    assert args["dtype"] == "auto"
    assert not {"kv_cache_memory_bytes", "max_model_len", "enforce_eager"} & set(args)


def test_this_machine_without_cuda_gets_float32(tmp_path):
    if vllm_backend._has_cuda():
        pytest.skip("this machine has CUDA; the CPU defaults are checked with _has_cuda patched above")
    assert VLLMBackend(str(tmp_path)).engine_args()["dtype"] == "float32"
