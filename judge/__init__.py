"""judge: a rubric- and principle-driven judge engine for generative reward models.

    from judge import Judge, load_rubric, Item
    judge = Judge(load_rubric("helpfulness"))
    judgments = judge.score([Item(id="1", prompt="2+2?", responses=["4"])])

The top-level names are imported on first use (PEP 562), so `judge --help` and
`from judge.errors import ...` do not pay for pydantic, jinja2 and the compiler.
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3 ms) at every start

# Each public name and the module that defines it; imported when first asked for.
_LAZY: dict[str, str] = {
    "Backend": "judge.backend",
    "Capabilities": "judge.backend",
    "Completion": "judge.backend",
    "Request": "judge.backend",
    "SamplingParams": "judge.backend",
    "Judge": "judge.engine",
    "make_backend": "judge.engine",
    "BackendError": "judge.errors",
    "InputError": "judge.errors",
    "JudgeError": "judge.errors",
    "PluginError": "judge.errors",
    "RubricError": "judge.errors",
    "TemplateError": "judge.errors",
    "hookimpl": "judge.hookspecs",
    "Item": "judge.models",
    "Judgment": "judge.models",
    "Message": "judge.models",
    "Status": "judge.models",
    "Usage": "judge.models",
    "Verdict": "judge.models",
    "Criterion": "judge.rubric",
    "Rubric": "judge.rubric",
    "load_rubric": "judge.rubric",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import a top-level name's module on first use and keep the name for next time."""
    module = _LAZY.get(name)
    if module is None:
        # AttributeError (not ImportError) lets `from judge import submodule` fall through to
        # the normal submodule import.
        raise AttributeError(f"module 'judge' has no attribute '{name}'")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # what static tools and IDEs see; nothing is imported at run time
    from typing import Any

    from judge.backend import Backend, Capabilities, Completion, Request, SamplingParams
    from judge.engine import Judge, make_backend
    from judge.errors import BackendError, InputError, JudgeError, PluginError, RubricError, TemplateError
    from judge.hookspecs import hookimpl
    from judge.models import Item, Judgment, Message, Status, Usage, Verdict
    from judge.rubric import Criterion, Rubric, load_rubric
