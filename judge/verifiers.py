"""The verifier contract: a hard rule a program can check is decided before any model call.

A rubric criterion names its verifier and arguments in YAML:

    - id: short
      text: The answer is under 50 words.
      kind: hard_rule
      scale: binary
      high: under 50 words
      low: 50 words or more
      verifier: {name: words, args: {max: 49}}

A verifier (`register_verifiers`) reads one response's text and says whether the rule holds, with
a one-line reason, or returns None when it cannot tell (then the model judges the criterion as
usual). The verdict records `decided_by: <verifier name>`. Arguments are checked against the
verifier's pydantic model when the judge is compiled, so a typo fails before any item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judge.errors import JudgeError, first_problem
from judge.models import Item


class VerifierSpec(BaseModel):
    """What a criterion says about its verifier: which one, and with what arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)


class Check(BaseModel):
    """A verifier's decision: whether the rule holds, and why (shown as the verdict's reason)."""

    passed: bool
    reason: str


@dataclass(frozen=True)
class Verifier:
    """A registered verifier: `function(text, args, item) -> Check | None` on one response's text."""

    name: str
    description: str
    arguments: type[BaseModel]
    function: Callable[[str, Any, Item], Check | None]


@dataclass(frozen=True)
class BoundVerifier:
    """A verifier with a criterion's arguments already checked."""

    verifier: Verifier
    args: Any

    @property
    def name(self) -> str:
        return self.verifier.name

    def check(self, text: str, item: Item) -> Check | None:
        return self.verifier.function(text, self.args, item)


def bind(registry: Any, criterion_id: str, spec: VerifierSpec) -> BoundVerifier:
    """The criterion's verifier with its arguments checked; JudgeError naming the criterion if not."""
    verifier = registry.get("verifiers", spec.name)
    if not isinstance(verifier, Verifier):
        raise JudgeError(f"verifier '{spec.name}' is registered as a {type(verifier).__name__}, not a judge.verifiers.Verifier")
    try:
        args = verifier.arguments.model_validate(spec.args)
    except ValidationError as exc:
        where, message = first_problem(exc)
        raise JudgeError(f"criterion '{criterion_id}': verifier '{spec.name}' argument '{where}': {message}"
                         if where else f"criterion '{criterion_id}': {message}") from None
    return BoundVerifier(verifier, args)
