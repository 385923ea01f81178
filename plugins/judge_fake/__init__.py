"""A fake backend, named as such: answers instantly from a script, for tests and dry runs.

`--backend fake` checks a rubric, templates and input file end to end without a model; its
answers are made up by design and every judgment it produces says `model: fake`.
"""

from __future__ import annotations

from typing import Any, Callable

from judge.hookspecs import hookimpl


def build(model: str | None = None, **options: Any) -> Any:
    from judge_fake.backend import FakeBackend

    return FakeBackend(**({"record": False} | options))  # from the CLI nobody reads the log of requests


@hookimpl
def register_backends(register: Callable[..., None]) -> None:
    register("fake", build, "FAKE: instant scripted answers, for tests and dry runs; no model")
