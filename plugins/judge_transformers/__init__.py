"""The embedded backend: a transformers model on the CPU, SmolLM2-135M-Instruct by default.

Registered through the `judge` entry-point group. torch and transformers are imported only when
the backend is built, so `judge --help` stays fast and the core never needs them.
"""

from __future__ import annotations

from typing import Any, Callable

from judge.hookspecs import hookimpl


def build(model: str | None = None, **options: Any) -> Any:
    from judge_transformers.backend import TransformersBackend

    return TransformersBackend(model, **options)


@hookimpl
def register_backends(register: Callable[..., None]) -> None:
    register(
        "transformers",
        build,
        "transformers on the CPU (or a local GPU); default model: embedded SmolLM2-135M-Instruct (GGUF)",
    )
