"""Generated rubrics as files: near-duplicate criteria merged, YAML a person edits, checked on write.

A task's rubric is merged from the rubrics generated for its examples: a criterion that several
examples produced (in nearly the same words) is kept once, and the criteria most examples agree
on come first. Whatever is written is first read back by the same loader `judge score --rubric`
uses, so a generated file is never written half-valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from judge.files import replace_atomically
from judge.rubric import Criterion, Rubric, parse_rubric

NEAR_DUPLICATE = 0.8  # token-set Jaccard at or above which two criteria say the same thing
_WORD = re.compile(r"[a-z0-9]+")
_FILLER = frozenset("a an the is are be should must response responses answer its it of to and or in".split())


def words(text: str) -> frozenset[str]:
    """The content words of a criterion, for comparing wordings."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _FILLER)


def near_duplicates(a: str, b: str, threshold: float = NEAR_DUPLICATE) -> bool:
    """Whether two criteria say the same thing in nearly the same words."""
    left, right = words(a), words(b)
    if not left or not right:
        return a.strip().lower() == b.strip().lower()
    return len(left & right) / len(left | right) >= threshold


@dataclass
class _Merged:
    criterion: Criterion
    support: int  # how many rubrics had it


def merge(rubrics: list[Rubric], name: str, description: str = "", limit: int | None = None) -> Rubric:
    """One rubric from many: near-duplicates kept once (the first wording, the largest weight),
    ordered by how many rubrics had them; at most `limit` criteria; ids renumbered."""
    merged: list[_Merged] = []
    for rubric in rubrics:
        for criterion in rubric.criteria:
            same = next((m for m in merged if near_duplicates(m.criterion.text, criterion.text)
                         and m.criterion.scale == criterion.scale), None)
            if same is None:
                merged.append(_Merged(criterion, 1))
            else:
                same.support += 1
                if criterion.weight > same.criterion.weight:
                    same.criterion = same.criterion.model_copy(update={"weight": criterion.weight})
    merged.sort(key=lambda m: -m.support)  # stable: ties keep the order they were first seen in
    kept = merged[:limit] if limit else merged
    prefix = "p" if all(m.criterion.binary for m in kept) else "c"
    criteria = [m.criterion.model_copy(update={"id": f"{prefix}{i + 1}"}) for i, m in enumerate(kept)]
    return Rubric(name=name, description=description, criteria=criteria)


def rubric_yaml(rubric: Rubric, header: str = "") -> str:
    """The rubric as the YAML `judge score --rubric` reads, with `header` as leading comments."""
    data = rubric.model_dump(mode="json", exclude_none=True, by_alias=True, exclude={"source"})
    for criterion in data["criteria"]:  # the loader's defaults need not be spelled out
        if criterion.get("kind") == "principle":
            del criterion["kind"]
        if criterion.get("weight") == 1.0:
            del criterion["weight"]
    if not data.get("description"):
        data.pop("description", None)
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def write_rubric(rubric: Rubric, path: Path, header: str = "") -> None:
    """Write atomically, after reading the text back with the rubric loader (never half-valid)."""
    text = rubric_yaml(rubric, header)
    parse_rubric(text, str(path))  # raises RubricError, naming the field, before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, text)
