"""One run of a rubric generator over a file of examples: generate, filter, write, report.

Examples run side by side through one scheduler (their calls share batches and the call cache).
With `--per-item` each kept rubric is written as soon as it is kept, so an interrupted run keeps
what it made and a rerun skips it; a merged file is written once, at the end, from every kept
rubric. The consistency filter judges the example's own pair with the new rubric (pairwise mode,
both orders, the preferred response's place a seeded coin flip) and keeps the rubric only when the
judge then prefers the preferred response.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judge.backend import Backend, backend_options
from judge.cache import with_cache
from judge.generation import Example, Generated, RubricGenerator, generate
from judge.models import Item
from judge.rubric import Rubric
from judge.rubric_merge import merge, write_rubric
from judge.rubric_sources import AssignedRubrics, item_file_name

WINDOW = 64  # examples in flight at once: enough to fill a server's batches


@dataclass
class Outcome:
    """What a generation run made, for the summary, the report and the exit status."""

    generator: str
    results: list[Generated] = field(default_factory=list)
    skipped: int = 0  # --per-item examples whose file already existed
    filter_calls: int = 0  # model calls of the consistency filter's judgments
    written: str = ""

    @property
    def kept(self) -> int:
        return sum(1 for r in self.results if r.rubric is not None)

    def summary(self) -> str:
        attempts = sum(r.attempts for r in self.results)
        calls = sum(r.calls for r in self.results)
        filtering = f", {self.filter_calls} for the consistency filter" if self.filter_calls else ""
        dropped = len(self.results) - self.kept
        why = Counter((r.reason or "no rubric").split(":")[0] for r in self.results if r.rubric is None)
        reasons = "; ".join(f"{n} {reason}" for reason, n in why.most_common())
        skipped = f", {self.skipped} already written" if self.skipped else ""
        return (f"judge: {len(self.results)} examples, {attempts} attempts ({calls} generation calls{filtering}) with generator "
                f"'{self.generator}': kept {self.kept}, dropped {dropped}{f' ({reasons})' if reasons else ''}{skipped}"
                f"{f' -> {self.written}' if self.written else ''}")

    def dropped_lines(self) -> list[str]:
        return [f"dropped '{r.example_id}' after {r.attempts} attempt(s): {r.reason}" for r in self.results if r.rubric is None]

    def report_rows(self) -> list[dict[str, Any]]:
        return [
            {"id": r.example_id, "kept": r.rubric is not None, "attempts": r.attempts, "calls": r.calls,
             "problems": r.problems, "texts": r.texts,
             "rubric": r.rubric.model_dump(mode="json", exclude_none=True, by_alias=True) if r.rubric else None}
            for r in self.results
        ]


class GenerationRun:
    def __init__(self, args: argparse.Namespace, generator: RubricGenerator, examples: list[Example]) -> None:
        self.args = args
        self.generator = generator
        self.examples = examples
        self.output = Path(args.output)
        self.outcome = Outcome(generator.name)
        self._assigned = AssignedRubrics()
        self._filter: Any = None  # the Judge of the consistency filter

    def backend(self) -> Backend:
        from judge.engine import make_backend

        options = backend_options(self.args.option) | ({"base_url": self.args.base_url} if self.args.base_url else {})
        backend = make_backend(self.args.backend, self.args.model, **options)
        return backend if self.args.no_cache else with_cache(backend)

    async def run(self) -> Outcome:
        from judge.engine import Judge
        from judge.scheduler import Dispatcher

        backend = self.backend()
        todo = self._todo()
        filtering = self.generator.produces == "rubric" and not self.args.no_filter
        try:
            if filtering:  # starts the backend too
                self._filter = Judge(self._assigned, mode="pairwise", backend=backend, both_orders=True)
                await self._filter.prepare()
            elif (start := getattr(backend, "start", None)) is not None:
                await start()
            async with Dispatcher(backend) as dispatcher:
                await self._all(todo, dispatcher.call, filtering)
        finally:
            await backend.aclose()
        if not self.args.per_item:
            self._write_merged()
        else:
            self.outcome.written = str(self.output)
        return self.outcome

    def _todo(self) -> list[Example]:
        if not self.args.per_item or not self.output.is_dir() or self.args.overwrite:
            return self.examples
        todo = [e for e in self.examples if not (self.output / item_file_name(e.id)).exists()]
        self.outcome.skipped = len(self.examples) - len(todo)
        return todo

    async def _all(self, todo: list[Example], call: Any, filtering: bool) -> None:
        from judge.scoring import progress_bar

        gate = asyncio.Semaphore(WINDOW)

        async def one(example: Example) -> None:
            async with gate:
                accept = (lambda rubric: self._consistent(example, rubric, call)) if filtering else None
                result = await generate(self.generator, example, call, tries=self.args.tries, seed=self.args.seed,
                                        max_tokens=self.args.max_tokens, accept=accept)
            self.outcome.results.append(result)
            if result.rubric is not None and self.args.per_item:
                rubric = result.rubric.model_copy(update={"name": example.id})
                write_rubric(rubric, self.output / item_file_name(example.id), self._header(1))
            bar.update(1)

        with progress_bar(len(todo), self.args.quiet, unit="example", desc="generating") as bar:
            await asyncio.gather(*(one(e) for e in todo))
        order = {e.id: i for i, e in enumerate(self.examples)}
        self.outcome.results.sort(key=lambda r: order[r.example_id])

    async def _consistent(self, example: Example, rubric: Rubric, call: Any) -> str | None:
        """None when judging the example's pair with `rubric` prefers the preferred response."""
        from judge.evaluation.datasets import chosen_first

        first = chosen_first(self.args.seed, example.id)
        responses = [example.chosen, example.rejected] if first else [example.rejected, example.chosen]
        key = f"{example.id}#{id(rubric)}"
        self._assigned.rubrics[key] = rubric
        try:
            judgment = await self._filter.program.run(Item(id=key, prompt=example.prompt, responses=responses), call)
        finally:
            del self._assigned.rubrics[key]
        self.outcome.filter_calls += judgment.usage.requests
        preferred = 0 if first else 1
        if judgment.status.value != "ok":
            return f"consistency filter: the judge's verdict with this rubric was {judgment.status.value} ({judgment.error or 'unreadable'})"
        if judgment.preferred != preferred:
            picked = "a tie" if judgment.preferred is None else "the rejected response"
            return f"consistency filter: judged with this rubric, the pair came out {picked}"
        return None

    def _write_merged(self) -> None:
        kept = [r.rubric for r in self.outcome.results if r.rubric is not None]
        if not kept:
            return
        name = self.output.stem
        merged = merge(kept, name, f"Generated by '{self.generator.name}' from {len(kept)} example(s) of {self.args.input}.",
                       self.args.max_criteria)
        write_rubric(merged, self.output, self._header(len(kept)))
        self.outcome.written = str(self.output)

    def _header(self, count: int) -> str:
        return (f"Written by `judge {'rubric generate' if self.generator.produces == 'rubric' else 'principles extract'}` "
                f"(generator '{self.generator.name}' v{self.generator.version}) from {count} example(s) of "
                f"{self.args.input}.\nEdit freely: it is an ordinary rubric file.")

