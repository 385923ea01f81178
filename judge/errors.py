"""One exception hierarchy: every error the engine raises is a `JudgeError` that says what to do next."""

from __future__ import annotations


def first_error(exc: Exception, noun: str) -> str:
    """The first problem of a pydantic ValidationError as one line: `NOUN 'a.b': message`, or the
    message alone when it belongs to no field. (Takes any error with `.errors()`: no pydantic here.)"""
    where, message = first_problem(exc)
    return f"{noun} '{where}': {message}" if where else message


def first_problem(exc: Exception) -> tuple[str, str]:
    """(dotted field path, message) of a ValidationError's first problem; the path may be empty."""
    first = exc.errors()[0]  # type: ignore[attr-defined]
    return ".".join(str(p) for p in first.get("loc", ())), str(first["msg"])


class JudgeError(Exception):
    """Base of every error raised by judge; its message is meant for the person at the shell."""


class RubricError(JudgeError):
    """A rubric file is malformed; the message names the file, the line and the field."""

    def __init__(self, path: str, line: int | None, field: str | None, problem: str) -> None:
        self.path, self.line, self.field, self.problem = path, line, field, problem
        where = path if line is None else f"{path}:{line}"
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{problem}")


class InputError(JudgeError):
    """An input row cannot be judged; the message names the line and the field."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        self.source, self.line, self.problem = source, line, problem
        super().__init__(f"{source}:{line}: {problem}" if line else f"{source}: {problem}")


class Interrupted(JudgeError):
    """Ctrl-C during a run: what was finished is on disk, and the message says how to resume."""


class TemplateError(JudgeError):
    """A prompt template is missing, broken, or uses a variable the program does not provide."""


class PluginError(JudgeError):
    """A plugin is missing, fails to load, or registers a name that is already taken."""


class BackendError(JudgeError):
    """A backend cannot be built or cannot serve a request (missing extra, model, capability)."""
