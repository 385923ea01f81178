"""The `judge score` job: a file of rows in, a file of judgments out, resumable."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from itertools import islice

from pydantic import BaseModel, Field

from judge.backend import SamplingParams, backend_options
from judge.engine import Judge
from judge.errors import Interrupted, JudgeError
from judge.inputs import Row, check_source, count_rows, read_rows
from judge.models import Item, Judgment, Status
from judge.output import JudgmentWriter, prepare_output
from judge.rubric import Rubric, load_rubric


class ScoreRequest(BaseModel):
    """Everything `judge score` was asked to do."""

    input: str
    output: str = "-"
    rubric: str | None = None
    principles: list[str] = Field(default_factory=list)
    mode: str | None = None
    both_orders: bool = False
    score_from: str = "auto"
    format_pack: str = "default"
    aggregator: str = "weighted_mean"
    backend: str | None = None
    model: str | None = None
    options: list[str] = Field(default_factory=list)
    max_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    base_urls: list[str] = Field(default_factory=list)
    cache: bool = True
    resume: bool = False
    overwrite: bool = False
    limit: int | None = None
    quiet: bool = False


def rubric_for(request: ScoreRequest) -> tuple[Rubric, str]:
    if request.rubric and request.principles:
        raise JudgeError("give --rubric or --principle, not both")
    if request.principles:
        mode = request.mode or "principle"
        return Rubric.from_principles(request.principles), mode
    if not request.rubric:
        raise JudgeError("say what to judge by: --rubric NAME|FILE or --principle TEXT")
    return load_rubric(request.rubric), request.mode or "pointwise"


def sampling_for(request: ScoreRequest) -> SamplingParams | None:
    if request.max_tokens is None and request.temperature == 0.0 and request.top_p == 1.0 and request.seed is None:
        return None  # the format pack's per-mode defaults
    return SamplingParams(
        max_tokens=request.max_tokens or 16, temperature=request.temperature, top_p=request.top_p, seed=request.seed
    )


def run_score(request: ScoreRequest) -> Counter[str]:
    """Judge every row not judged yet; returns counts by status. Raises JudgeError on bad setup."""
    rubric, mode = rubric_for(request)
    check_source(request.input)
    done = prepare_output(request.output, resume=request.resume, overwrite=request.overwrite)
    judge = Judge(
        rubric,
        mode=mode,
        backend=request.backend,
        model=request.model,
        backend_options=backend_options(request.options) | ({"base_url": request.base_urls} if request.base_urls else {}),
        format_pack=request.format_pack,
        aggregator=request.aggregator,
        score_from=request.score_from,  # type: ignore[arg-type]
        both_orders=request.both_orders,
        sampling=sampling_for(request),
        cache=request.cache,
    )
    rows = read_rows(request.input)
    if request.limit is not None:
        rows = islice(rows, request.limit)
    total = count_rows(request.input)
    if total is not None and request.limit is not None:
        total = min(total, request.limit)
    counts: Counter[str] = Counter()
    with JudgmentWriter(request.output) as writer, _progress(total, len(done), request.quiet) as bar:
        def record(judgment: Judgment) -> None:
            writer.write(judgment)
            counts[judgment.status.value] += 1
            bar.update(1)

        items = _items_to_run(rows, done, record, bar, request.input)
        try:
            asyncio.run(_drain(judge, items, record))
        except KeyboardInterrupt:
            where = "" if request.output == "-" else f" to {request.output}"
            raise Interrupted(f"{sum(counts.values())} judgments written{where}; run again with --resume to continue") from None
    hits, misses = getattr(judge.backend, "hits", None), getattr(judge.backend, "misses", None)
    if hits is not None:
        counts["model_calls"], counts["cached_calls"] = misses, hits
    if not request.quiet:
        from judge.cli import summary_line

        print(summary_line(counts, request.output), file=sys.stderr)
    return counts


async def _drain(judge: Judge, items: Iterator[Item], record: object) -> None:
    try:
        async for judgment in judge.stream(items):
            record(judgment)  # type: ignore[operator]
    finally:
        await judge.aclose()


def _items_to_run(rows: Iterator[Row], done: set[str], record: object, bar: object, source: str) -> Iterator[Item]:
    """Items not judged yet; bad rows become `error` judgments with their line, duplicates are skipped."""
    seen: set[str] = set()
    for row in rows:
        if row.id in done:
            bar.update(1)  # type: ignore[attr-defined]
            continue
        if row.id in seen:
            print(f"judge: {source}:{row.line}: duplicate id '{row.id}' skipped", file=sys.stderr)
            continue
        seen.add(row.id)
        if row.error is not None:
            print(f"judge: {row.error}", file=sys.stderr)
            record(Judgment(id=row.id, status=Status.error, mode="input", error=str(row.error)))  # type: ignore[operator]
            continue
        assert row.item is not None
        yield row.item


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _progress(total: int | None, already: int, quiet: bool) -> object:
    if quiet:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=min(already, total or already), unit="item", file=sys.stderr,
                dynamic_ncols=True, desc="judging", disable=None)
