"""Rubrics and principles: the data a judge is compiled from, loaded from YAML with precise errors."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from judge.errors import RubricError
from judge.verifiers import VerifierSpec

MAX_WEIGHT = 1e6  # weights are relative; a bigger one is a typo, and 1e308 overflows a weighted sum
MAX_RUBRIC_BYTES = 1024 * 1024  # a rubric is a page of YAML; /dev/zero or a data file is a mistake


class Scale(BaseModel):
    """An integer scale such as 1-5; `binary` rubrics use the Yes/No scale instead."""

    model_config = ConfigDict(extra="forbid")

    min: int = 1
    max: int = 5

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be greater than min ({self.min})")
        if self.max - self.min > 100:
            raise ValueError("a scale spans at most 101 points (0-100)")
        return self

    def points(self) -> list[int]:
        return list(range(self.min, self.max + 1))


class Criterion(BaseModel):
    """One thing to check. A `hard_rule` is explicit and checkable; a `principle` is a quality."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    text: str = Field(min_length=1)
    kind: Literal["hard_rule", "principle"] = "principle"
    weight: float = Field(default=1.0, gt=0, le=MAX_WEIGHT, allow_inf_nan=False)
    scale: Scale | Literal["binary"] = Field(default_factory=Scale)
    high: str = Field(min_length=1, description="what the top of the scale (or Yes) means")
    low: str = Field(min_length=1, description="what the bottom of the scale (or No) means")
    verifier: VerifierSpec | None = Field(default=None, description="a program that decides this rule before any model call")
    evidence: str | None = Field(default=None, description="where a generated principle came from: a verbatim quote of the feedback")

    @property
    def binary(self) -> bool:
        return self.scale == "binary"


class Rubric(BaseModel):
    """A named, weighted list of criteria; a principle set is a rubric whose criteria are binary."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    criteria: list[Criterion] = Field(min_length=1)
    source: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_ids(self) -> Rubric:
        seen: set[str] = set()
        for criterion in self.criteria:
            if criterion.id in seen:
                raise ValueError(f"criterion id '{criterion.id}' appears twice")
            seen.add(criterion.id)
        return self

    def digest(self) -> str:
        """A digest of everything that changes a verdict (criteria and their wording), for --resume."""
        import hashlib

        # exclude_none: fields added later (a criterion's verifier) leave the digest of a rubric
        # that does not use them as it was, so earlier judgment files still --resume.
        # A principle's evidence says where it came from; it changes no verdict.
        dumped = self.model_dump_json(exclude={"description": True, "criteria": {"__all__": {"evidence"}}}, exclude_none=True)
        return hashlib.sha256(dumped.encode("utf-8")).hexdigest()

    @classmethod
    def from_principles(cls, principles: list[str], name: str = "principles") -> Rubric:
        """A rubric of binary principles given as plain sentences (the RLBFF form)."""
        if not principles:
            raise RubricError("--principle", None, None, "give at least one principle")
        for i, text in enumerate(principles):
            if not text.strip():
                raise RubricError("--principle", None, f"principle {i + 1}", "is empty")
        criteria = [
            Criterion(id=f"p{i + 1}", text=text, scale="binary", high="Yes", low="No")
            for i, text in enumerate(principles)
        ]
        return cls(name=name, criteria=criteria)


def shipped_rubrics() -> dict[str, Path]:
    """The rubrics that ship inside the package, by name."""
    folder = resources.files("judge.rubrics")
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


def resolve_rubric(name_or_path: str) -> Path:
    """A path to a rubric file, from a path or the name of a shipped rubric."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.exists():
            raise RubricError(str(path), None, None, "no such file")
        if path.is_dir():
            raise RubricError(str(path), None, None, "is a folder; give a rubric file (.yaml) or a shipped rubric's name")
        return path
    shipped = shipped_rubrics()
    if name_or_path in shipped:
        return shipped[name_or_path]
    names = ", ".join(sorted(shipped))
    raise RubricError(name_or_path, None, None, f"not a file nor a shipped rubric (shipped: {names})")


def load_rubric(name_or_path: str | Path) -> Rubric:
    """Load and validate a rubric; any problem is a `RubricError` naming file, line and field."""
    path = resolve_rubric(str(name_or_path))
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RUBRIC_BYTES + 1)
    except OSError as exc:
        raise RubricError(str(path), None, None, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_RUBRIC_BYTES:
        raise RubricError(str(path), None, None, f"is larger than {MAX_RUBRIC_BYTES // 1024} KiB: not a rubric")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RubricError(str(path), line, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    if "\x00" in text:
        raise RubricError(str(path), text[: text.index("\x00")].count("\n") + 1, None, "contains NUL bytes: not a text file")
    return parse_rubric(text, str(path))


def parse_rubric(text: str, source: str) -> Rubric:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise RubricError(source, line, None, f"YAML syntax error: {exc.problem}") from None
    if not isinstance(data, dict):
        raise RubricError(source, 1, None, "a rubric is a mapping with 'name' and 'criteria'")
    _check_unique_ids(data, node, source)
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [part for part in first["loc"] if not _is_union_tag(part)]
        line = _line_of(node, list(first["loc"]))
        field = ".".join(str(p) for p in loc) or None
        message = first["msg"]
        if first["type"] == "missing":
            message = "is required"
        elif loc and loc[-1] == "scale" and not isinstance(first.get("input"), dict):
            message = "a scale is {min: N, max: M} or the word binary"
        elif first["type"] == "string_type" and isinstance(first.get("input"), bool):
            message = "YAML read this as true/false (yes, no, on, off do that); put the text in quotes"
        raise RubricError(source, line, field, message) from None
    return rubric.model_copy(update={"source": source})


def _is_union_tag(part: Any) -> bool:
    """pydantic names union branches in error locations ('Scale', "literal['binary']"); YAML has no such key."""
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def _check_unique_ids(data: dict[str, Any], node: Any, source: str) -> None:
    criteria = data.get("criteria")
    if not isinstance(criteria, list):
        return
    seen: dict[str, int] = {}
    for index, criterion in enumerate(criteria):
        if not isinstance(criterion, dict) or not isinstance(criterion.get("id"), str):
            continue
        if criterion["id"] in seen:
            line = _line_of(node, ["criteria", index, "id"])
            raise RubricError(
                source, line, f"criteria.{index}.id",
                f"'{criterion['id']}' is already the id of criteria.{seen[criterion['id']]}",
            )
        seen[criterion["id"]] = index


def _line_of(node: Any, loc: list[Any]) -> int | None:
    """The 1-based line of the deepest YAML node that the validation error's location reaches."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                break  # a missing key: the enclosing mapping is where it belongs
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            continue  # pydantic's union tags ('Scale', 'literal[...]') have no YAML node
        line = node.start_mark.line + 1
    return line
