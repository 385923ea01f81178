"""The OpenAI-compatible backend: vLLM's server, SGLang, llama.cpp's server, hosted APIs."""

from __future__ import annotations

import importlib.util
from typing import Any, Callable

from judge.errors import BackendError
from judge.hookspecs import hookimpl


def build(model: str | None = None, **options: Any) -> Any:
    if importlib.util.find_spec("httpx") is None:  # a core dependency, but checked like any backend's
        raise BackendError("the openai backend needs httpx: pip install 'httpx>=0.27'")
    from judge_openai.backend import OpenAIBackend

    return OpenAIBackend(model, **options)


@hookimpl
def register_backends(register: Callable[..., None]) -> None:
    register("openai", build, "any OpenAI-compatible server over HTTP (--base-url); exact probabilities on vLLM's server")
