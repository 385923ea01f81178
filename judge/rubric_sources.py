"""Rubrics that differ per item: a folder of per-item rubric files, or rubrics generated at
scoring time (`--rubric auto`, SPCT: the judge writes the principles for each prompt first).

A program with a rubric source asks it for each item's rubric before it asks any question; the
rest of the program (questions, verifiers, aggregation) runs on that rubric as on a fixed one.
A generated rubric is generated once per prompt, model and generator and shared by every item
and every sample that judges that prompt, however many run at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from judge.errors import JudgeError, RubricError
from judge.generation import Call, Example, Generated, RubricGenerator, generate
from judge.models import Item, RawOutput, Usage
from judge.rubric import Criterion, Rubric, Scale, load_rubric

MAX_REMEMBERED = 10_000  # prompts whose generated rubric is kept in memory for reuse in one process


@dataclass
class ItemRubric:
    """An item's rubric, and what getting it cost that item: the trace entry, the model's raw
    texts and usage (only the item that caused a generation pays for it; the others reuse it)."""

    rubric: Rubric
    trace: dict[str, Any] | None = None
    raw: list[RawOutput] = field(default_factory=list)
    usage: Usage | None = None


class RubricSource(Protocol):
    """Where each item's rubric comes from, when it is not one rubric for all."""

    label: str  # the rubric name judgments and the setup record: "auto:spct", "per-item:DIR"

    def digest(self) -> str: ...

    def shape(self) -> Rubric:
        """A stand-in rubric with one criterion per scale the item rubrics may use, so the
        program can check its answers' tokens before any item (a 1-10 scale read from text)."""
        ...

    async def rubric_for(self, item: Item, call: Call) -> ItemRubric:
        """The item's rubric; a JudgeError when it has none (that item's judgment is an error)."""
        ...


class RubricUnavailable(JudgeError):
    """No rubric could be generated for an item's prompt; `note` keeps the attempts' raw texts."""

    def __init__(self, note: dict[str, Any], raw: list[RawOutput], message: str) -> None:
        super().__init__(message)
        self.note = note
        self.raw = raw


def item_file_name(item_id: str) -> str:
    """The file of an item's rubric in a per-item folder: its id, made safe for a file name."""
    return quote(item_id, safe="") + ".yaml"


class PerItemRubrics:
    """A folder of rubric files, one per item id (`judge rubric generate --per-item` writes one)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise RubricError(str(folder), None, None, "is not a folder of per-item rubrics")
        self.label = f"per-item:{self.folder.name}"
        self.rubrics: dict[str, Rubric] = {path.name: load_rubric(path) for path in sorted(self.folder.glob("*.yaml"))}
        if not self.rubrics:
            raise RubricError(str(folder), None, None, "holds no rubric files (*.yaml)")

    def digest(self) -> str:
        return digest_of(self.rubrics)

    def shape(self) -> Rubric:
        return shape_of([c for rubric in self.rubrics.values() for c in rubric.criteria], self.label)

    async def rubric_for(self, item: Item, call: Call) -> ItemRubric:
        """The file named by the item's id, else by the data row it was laid out from (`judge
        eval` makes several items of one row: both orders, length and master-key probes)."""
        group = (item.metadata.get("eval") or {}).get("group") if isinstance(item.metadata.get("eval"), dict) else None
        for key in (item.id, group):
            if key is not None and (rubric := self.rubrics.get(item_file_name(str(key)))) is not None:
                return ItemRubric(rubric)
        raise JudgeError(f"no rubric for item '{item.id}' in {self.folder} (expected {item_file_name(item.id)})")


class GeneratedRubrics:
    """`--rubric auto`: the generator writes each prompt's rubric once, before it is judged."""

    def __init__(self, generator: RubricGenerator, model: Callable[[], str], *, tries: int = 2, seed: int = 0, max_tokens: int = 384) -> None:
        self.generator = generator
        self.model = model  # read per item: a server names its model only once started
        self.tries = tries
        self.seed = seed
        self.max_tokens = max_tokens
        self.label = f"auto:{generator.name}"
        self._known: OrderedDict[str, asyncio.Future[Generated]] = OrderedDict()

    def digest(self) -> str:
        setup = [self.generator.name, self.generator.version, self.tries, self.seed, self.max_tokens]
        return hashlib.sha256(json.dumps(setup).encode("utf-8")).hexdigest()

    def shape(self) -> Rubric:
        return generated_shape(self.label)

    def key(self, item: Item) -> str:
        """Prompt, model and generator: the same three give the same rubric."""
        prompt = item.prompt if isinstance(item.prompt, str) else [m.model_dump(mode="json") for m in item.prompt]
        identity = json.dumps([self.generator.name, self.generator.version, self.model(), prompt], ensure_ascii=False)
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()

    async def rubric_for(self, item: Item, call: Call) -> ItemRubric:
        key = self.key(item)
        future = self._known.get(key)
        # A finished generation serves any later run; one still running only its own event loop's items.
        shared = future is not None and (future.done() or future.get_loop() is asyncio.get_running_loop())
        if not shared:
            example = Example(id=item.id, prompt=item.prompt)
            future = asyncio.ensure_future(generate(self.generator, example, call, tries=self.tries, seed=self.seed,
                                                    max_tokens=self.max_tokens))
            self._remember(key, future)
        assert future is not None
        try:
            generated = await asyncio.shield(future)  # an item cancelled mid-way leaves the others theirs
        except asyncio.CancelledError:
            if future.cancelled():
                self._known.pop(key, None)
            raise
        note = {
            "step": "rubric", "generator": self.generator.name, "key": key[:16], "reused": shared,
            "attempts": generated.attempts, "problems": generated.problems, "texts": generated.texts,
        }
        if generated.rubric is None:
            raise RubricUnavailable(note, [] if shared else [RawOutput(step="rubric", texts=generated.texts)], f"rubric generator '{self.generator.name}' wrote no usable rubric for this prompt in "
                             f"{generated.attempts} tries: {generated.reason}")
        note["rubric"] = generated.rubric.model_dump(mode="json", exclude_none=True, by_alias=True)
        if shared:
            return ItemRubric(generated.rubric, note)
        raw = [RawOutput(step="rubric", texts=generated.texts)]
        return ItemRubric(generated.rubric, note, raw, generated.usage)

    def _remember(self, key: str, future: asyncio.Future[Generated]) -> None:
        self._known[key] = future
        while len(self._known) > MAX_REMEMBERED:
            self._known.popitem(last=False)


def digest_of(rubrics: dict[str, Rubric]) -> str:
    """One digest for a set of rubrics by name: it changes when any of them does."""
    return hashlib.sha256(json.dumps(sorted((name, r.digest()) for name, r in rubrics.items())).encode("utf-8")).hexdigest()


def generated_shape(name: str) -> Rubric:
    """The scales generated criteria use: 1-5 for qualities, binary for rules and principles."""
    scales: list[Scale | str] = [Scale(), "binary"]
    return shape_of([Criterion(id=f"s{i}", text="-", scale=s, high="-", low="-") for i, s in enumerate(scales)], name)  # type: ignore[arg-type]


def shape_of(criteria: list[Criterion], name: str) -> Rubric:
    """One criterion per distinct scale among `criteria` (ids s0, s1, ...)."""
    seen: dict[str, Criterion] = {}
    for criterion in criteria:
        key = scale_key(criterion)
        if key not in seen:
            seen[key] = Criterion(id=f"s{len(seen)}", text=criterion.text, scale=criterion.scale, high="-", low="-")
    return Rubric(name=name, criteria=list(seen.values()))


def scale_key(criterion: Criterion) -> str:
    """What a criterion's answer tokens depend on: its scale (binary, or min-max)."""
    if criterion.binary:
        return "binary"
    return f"{criterion.scale.min}-{criterion.scale.max}"  # type: ignore[union-attr]


class AssignedRubrics:
    """Rubrics handed out by item id, for judging one item with a rubric just made for it (the
    consistency filter of `judge rubric generate`)."""

    label = "assigned"

    def __init__(self) -> None:
        self.rubrics: dict[str, Rubric] = {}

    def digest(self) -> str:
        return digest_of(self.rubrics)

    def shape(self) -> Rubric:
        return generated_shape(self.label)

    async def rubric_for(self, item: Item, call: Call) -> ItemRubric:
        rubric = self.rubrics.get(item.id)
        if rubric is None:
            raise JudgeError(f"no rubric assigned to item '{item.id}'")
        return ItemRubric(rubric)
