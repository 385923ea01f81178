"""Generated rubrics: the contract a rubric generator meets, and the loop that runs one.

A generator is a plugin (`register_rubric_generators`) that turns one example into a rubric:
a prompt alone (SPCT: the judge writes the principles it will score by), a prompt with a
preferred and a rejected response (OpenRubrics' contrastive generation), or a response with a
person's free-text feedback (RLBFF's principle extraction). It renders its prompt from
`prompts/generators/`, asks the model through a `GenerationContext` and reads the answer into a
`Rubric`; text it cannot read is `raise GenerationRejected(reason)`. The core owns the rest:
retries with other seeds, the record of every attempt's raw text, and what a command does with
the results (filter, merge, write). A generator never touches a backend or the scheduler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from judge.backend import Completion, Request, SamplingParams
from judge.errors import JudgeError, first_error
from judge.models import Content, Message, Usage
from judge.rubric import Rubric
from judge.templates import render_messages, shipped_prompts_dir

Call = Callable[[Request], Awaitable[Completion]]
EXAMPLE_FIELDS = ("prompt", "chosen", "rejected", "response", "feedback")
RETRY_TEMPERATURE = 0.7  # a retry samples, so it can come out otherwise than the greedy first try


class Example(BaseModel):
    """What a generator learns from: a prompt, and per generator a preference pair, or a
    response with feedback. `needs` on a generator names the fields it requires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    prompt: str | list[Message]
    chosen: Content | None = None
    rejected: Content | None = None
    response: Content | None = None
    feedback: list[str] | None = None

    @property
    def prompt_text(self) -> str:
        from judge.models import content_text

        if isinstance(self.prompt, str):
            return self.prompt
        return "\n\n".join(content_text(m.content) for m in self.prompt if m.role != "system")


class GenerationRejected(Exception):
    """The model's text is not a usable rubric (no criteria, a broken list): retried, then dropped."""


@runtime_checkable
class RubricGenerator(Protocol):
    """Writes a rubric (or binary principles) from one example. See the module docstring."""

    name: str
    description: str
    version: str  # bump when the prompt or the reading changes: cached rubrics are then stale
    needs: tuple[str, ...]  # the Example fields it reads, besides prompt
    produces: Literal["rubric", "principles"]

    async def generate(self, example: Example, ctx: GenerationContext) -> Rubric: ...


class GenerationContext:
    """What the core hands a generator for one attempt: render a template, ask the model."""

    def __init__(self, call: Call, attempt: int, seed: int, max_tokens: int, template_dirs: tuple[Path, ...]) -> None:
        self.attempt = attempt
        self.seed = seed
        self.max_tokens = max_tokens
        self.texts: list[str] = []  # every answer, kept for the report and the trace
        self.calls = 0
        self.usage = Usage()
        self._call = call
        self._template_dirs = template_dirs

    def render(self, template: str, **variables: Any) -> list[Message]:
        """A template of `prompts/generators/` (or the generator's own folders)."""
        return render_messages(self._template_dirs, template, variables)

    async def ask(self, messages: list[Message], *, max_tokens: int | None = None, stop: tuple[str, ...] = ()) -> str:
        """The model's answer; greedy on the first attempt, sampled with a seed of its own after.
        A failed call raises GenerationFailed (not retried as a bad answer would be)."""
        sampling = SamplingParams(max_tokens=max_tokens or self.max_tokens, stop=stop)
        if self.attempt:
            sampling = sampling.model_copy(update={"temperature": RETRY_TEMPERATURE, "seed": self.seed + 7919 * self.attempt})
        completion = await self._call(Request(messages=tuple(messages), sampling=sampling))
        self.calls += 1
        self.usage.add(completion.usage)
        if completion.error is not None:
            raise GenerationFailed(completion.error)
        text = completion.texts[0] if completion.texts else ""
        self.texts.append(text)
        return text


class GenerationFailed(JudgeError):
    """A model call failed (after the backend's own retries): the example is dropped with the reason."""


@dataclass
class Generated:
    """One example's outcome: the rubric, or why none was kept; every attempt's raw text."""

    example_id: str
    rubric: Rubric | None
    attempts: int = 0
    calls: int = 0
    problems: list[str] = field(default_factory=list)  # one per failed attempt
    texts: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    @property
    def reason(self) -> str | None:
        return self.problems[-1] if self.rubric is None and self.problems else None


def template_dirs(generator: RubricGenerator) -> tuple[Path, ...]:
    """The generator's own template folders first, then the shipped `prompts/generators/`."""
    own = tuple(Path(p) for p in getattr(generator, "template_dirs", ()))
    return (*own, shipped_prompts_dir() / "generators")


def check_example(generator: RubricGenerator, example: Example, where: str) -> None:
    """An example that lacks a field the generator reads is refused, naming the field."""
    missing = [name for name in generator.needs if getattr(example, name) in (None, "", [])]
    if missing:
        fields = ", ".join(f"'{name}'" for name in missing)
        raise JudgeError(f"{where}: generator '{generator.name}' needs {fields}")


async def generate(
    generator: RubricGenerator, example: Example, call: Call, *, tries: int = 3, seed: int = 0, max_tokens: int = 512,
    accept: Callable[[Rubric], Awaitable[str | None]] | None = None,
) -> Generated:
    """Up to `tries` attempts at a rubric for one example. An attempt fails when the text cannot
    be read, the rubric breaks the schema, or `accept` (a consistency check) gives a reason;
    a half-valid rubric is never kept. A failed model call ends the example at once."""
    result = Generated(example.id, None)
    folders = template_dirs(generator)
    for attempt in range(max(1, tries)):
        ctx = GenerationContext(call, attempt, seed, max_tokens, folders)
        result.attempts += 1
        try:
            rubric = await generator.generate(example, ctx)
            if not isinstance(rubric, Rubric):
                raise GenerationRejected(f"generator returned {type(rubric).__name__}, not a Rubric")
            rubric = Rubric.model_validate(rubric.model_dump())  # a rubric built with model_construct is checked too
            verdict = await accept(rubric) if accept is not None else None
        except GenerationRejected as exc:
            result.problems.append(str(exc))
            continue
        except ValidationError as exc:
            result.problems.append(f"not a valid rubric: {first_error(exc, 'field')}")
            continue
        except GenerationFailed as exc:
            result.problems.append(f"model call failed: {exc}")
            break
        finally:
            result.calls += ctx.calls
            result.texts += ctx.texts
            result.usage.add(ctx.usage)
        if verdict is not None:
            result.problems.append(verdict)
            continue
        result.rubric = rubric
        break
    return result


def generator_for(registry: Any, name: str, produces: str | None = None) -> RubricGenerator:
    """A registered generator by name, checked to produce what the command writes."""
    generator = registry.get("rubric_generators", name)
    if produces is not None and generator.produces != produces:
        raise JudgeError(f"generator '{name}' writes {generator.produces}, not {produces}")
    return generator
