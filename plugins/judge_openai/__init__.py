"""The OpenAI-compatible backend: vLLM's server, SGLang, llama.cpp's server, hosted APIs."""

from __future__ import annotations

from typing import Any, Callable

from judge.hookspecs import hookimpl


def build(model: str | None = None, **options: Any) -> Any:
    from judge_openai.backend import OpenAIBackend

    return OpenAIBackend(model, **options)


@hookimpl
def register_backends(register: Callable[..., None]) -> None:
    register("openai", build, "any OpenAI-compatible server over HTTP (--base-url); exact probabilities on vLLM's server")
