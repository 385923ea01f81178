"""The `judge score` job: a file of rows in, a file of judgments out, resumable."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from judge.backend import SamplingParams, backend_options
from judge.cache import with_cache
from judge.engine import Judge, make_backend
from judge.errors import Interrupted, JudgeError
from judge.inputs import Row, check_source, count_rows, read_rows
from judge.models import Item, Judgment, Status
from judge.output import JudgmentWriter, OutputLock, OutputPlan, Resumed, check_output, compact_for_resume
from judge.rubric import Rubric, load_rubric
from judge.rubric_sources import GeneratedRubrics, PerItemRubrics, RubricSource
from judge.strategy import StrategyOptions
from judge.tools import tool_options

DEFAULT_GENERATOR = "spct"  # --rubric auto: the judge writes principles for each prompt (DeepSeek-GRM)


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
    strategy: str = "direct"
    samples: int = Field(default=1, ge=1)
    meta_rm: str | None = None
    meta_top: int | None = Field(default=None, ge=1)
    meta_backend: str | None = None
    meta_model: str | None = None
    vote_reason: bool = False
    shuffle: bool = True
    reason_tokens: int | None = Field(default=None, ge=1)
    retries: int = Field(default=1, ge=0)
    trace: bool = False
    tools: list[str] | None = None
    tool_calls: int = Field(default=4, ge=1)
    tool_options: list[str] = Field(default_factory=list)
    tool_protocol: str = "auto"


def rubric_for(request: ScoreRequest, model: Callable[[], str] = lambda: "") -> tuple[Rubric | RubricSource, str]:
    """What to judge by: a rubric, principles, a folder of per-item rubrics, or `auto[:GENERATOR]`
    (a rubric generated per prompt; `model` names the judge's model for its cache key)."""
    if request.rubric and request.principles:
        raise JudgeError("give --rubric or --principle, not both")
    if request.principles:
        mode = request.mode or "principle"
        return Rubric.from_principles(request.principles), mode
    if not request.rubric:
        raise JudgeError("say what to judge by: --rubric NAME|FILE or --principle TEXT")
    mode = request.mode or "pointwise"
    if request.rubric == "auto" or request.rubric.startswith("auto:"):
        from judge.generation import generator_for
        from judge.plugins import get_registry

        name = request.rubric.partition(":")[2] or DEFAULT_GENERATOR
        return GeneratedRubrics(generator_for(get_registry().load(), name, "rubric"), model, seed=request.seed or 0), mode
    if Path(request.rubric).is_dir():
        return PerItemRubrics(request.rubric), mode
    return load_rubric(request.rubric), mode


def sampling_for(request: ScoreRequest) -> SamplingParams | None:
    if request.max_tokens is None and request.temperature == 0.0 and request.top_p == 1.0 and request.seed is None:
        return None  # the format pack's per-mode defaults
    return SamplingParams(
        max_tokens=request.max_tokens or 16, temperature=request.temperature, top_p=request.top_p, seed=request.seed
    )


def strategy_options_for(request: ScoreRequest) -> StrategyOptions:
    return StrategyOptions(
        samples=request.samples, meta_top=request.meta_top, temperature=request.temperature or None,
        reason=request.vote_reason, shuffle=request.shuffle, reason_tokens=request.reason_tokens,
        retries=request.retries, seed=request.seed or 0, trace=request.trace,
        tools=None if request.tools is None else tuple(request.tools), tool_calls=request.tool_calls,
        tool_options=tool_options(request.tool_options), tool_protocol=request.tool_protocol,  # type: ignore[arg-type]
    )


def judge_for(request: ScoreRequest) -> Judge:
    """The judge a request asks for, with its meta reward model when --meta-rm is given.

    The meta RM shares the judge's backend object (its batches and cache) unless another backend
    or model is named for it.
    """
    built: list[Any] = []  # the backend, once made: a server names its model only when started
    rubric, mode = rubric_for(request, lambda: built[0].model)
    if request.strategy != "vote" and (request.samples > 1 or request.meta_rm or request.meta_top):
        raise JudgeError("--samples, --meta-rm and --meta-top are options of --strategy vote")
    backend = make_backend(
        request.backend, request.model,
        **backend_options(request.options) | ({"base_url": request.base_urls} if request.base_urls else {}),
    )
    if request.cache:
        backend = with_cache(backend)
    built.append(backend)
    meta = None
    if request.meta_rm:
        meta_backend = backend
        if request.meta_backend or request.meta_model:
            meta_backend = make_backend(request.meta_backend or request.backend, request.meta_model or request.model)
            if request.cache:
                meta_backend = with_cache(meta_backend)
        meta = Judge(meta_rubric(request.meta_rm), mode="principle", backend=meta_backend)
    return Judge(
        rubric,
        mode=mode,
        backend=backend,
        format_pack=request.format_pack,
        aggregator=request.aggregator,
        score_from=request.score_from,  # type: ignore[arg-type]
        both_orders=request.both_orders,
        sampling=sampling_for(request),
        strategy=request.strategy,
        strategy_options=strategy_options_for(request),
        meta=meta,
    )


def meta_rubric(given: str) -> Rubric:
    """--meta-rm's value: a shipped rubric's name or a rubric file, else a principle's own text."""
    try:
        return load_rubric(given)
    except JudgeError:
        if not any(ch.isspace() for ch in given.strip()):  # a name or a path, not a sentence
            raise
    return Rubric.from_principles([given])


def run_score(request: ScoreRequest, counts: Counter[str] | None = None) -> Counter[str]:
    """Judge every row not judged yet; returns counts by status. Raises JudgeError on bad setup.

    The order is what keeps a user's data safe: everything that can fail a whole run (rubric,
    input, output path, backend, model, server) is checked before the output is opened, and an
    old output is replaced only once the new run is under way.
    """
    rubric_for(request)
    check_source(request.input)
    plan = check_output(request.output, source=request.input, resume=request.resume, overwrite=request.overwrite)
    judge = judge_for(request)
    counts = Counter() if counts is None else counts  # a caller's own, to read after an interrupt
    # asyncio.Runner turns Ctrl-C into cancelling the run's task, so a write is never torn in half;
    # after an interrupt it is not closed, since closing waits for a model call still running in a
    # worker thread (the CLI exits at once instead).
    runner = asyncio.Runner()
    collect = gc.get_threshold()
    gc.set_threshold(max(collect[0], 10_000), *collect[1:])  # judgments are short-lived and acyclic
    interrupted = False
    try:
        runner.run(_run(request, judge, plan, counts))
    except KeyboardInterrupt:
        interrupted = True
        where = "" if plan.to_stdout else f" to {request.output}"
        raise Interrupted(f"{counts['written']} judgments written{where}; run again with --resume to continue") from None
    finally:
        if counts["judging_from_ns"]:  # how long judging took, model loading left out (for items/s)
            counts["judging_ms"] = (time.perf_counter_ns() - counts.pop("judging_from_ns")) // 1_000_000
        gc.set_threshold(*collect)
        if not interrupted:
            runner.close()
    if not request.quiet:
        from judge.cli import summary_line

        print(summary_line(counts, request.output), file=sys.stderr)
    return counts


async def _run(request: ScoreRequest, judge: Judge, plan: OutputPlan, counts: Counter[str]) -> None:
    try:
        await judge.prepare()  # the model is loaded or the server reached; nothing written yet
        counts["judging_from_ns"] = time.perf_counter_ns()
        with OutputLock(plan):
            resumed = compact_for_resume(plan, lambda found: check_same_setup(found, judge.setup, request.output))
            rows: Iterator[Row] = read_rows(request.input)
            if request.limit is not None:
                rows = islice(rows, request.limit)
            total = count_rows(request.input)
            if total is not None and request.limit is not None:
                total = min(total, request.limit)
            with JudgmentWriter(plan) as writer, progress_bar(total, request.quiet, already=len(resumed.done)) as bar:
                def record(judgment: Judgment) -> None:
                    writer.write(judgment)
                    counts["written"] += 1
                    counts[judgment.status.value] += 1
                    counts["model_calls"] += judgment.usage.requests
                    counts["cached_calls"] += judgment.usage.cached_requests
                    bar.update(1)

                items = _items_to_run(rows, resumed.done, record, bar, request.input)
                async for judgment in judge.stream(items):
                    record(judgment)
    finally:
        await judge.aclose()


def check_same_setup(resumed: Resumed, setup: dict[str, object], output: str) -> None:
    """--resume adds to a file only judgments of the same kind as those it holds."""
    for previous in resumed.setups.values():
        if previous == setup:
            continue
        changed = [f"{key} {previous.get(key)!r} -> {setup.get(key)!r}" for key in setup if previous.get(key) != setup.get(key)]
        raise JudgeError(
            f"--resume: {output} was written with another setup ({'; '.join(changed) or 'unknown fields'}); "
            "continue it with the same options, or write to another -o (or --overwrite)"
        )


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


def progress_bar(total: int | None, quiet: bool, *, already: int = 0, unit: str = "item", desc: str = "judging") -> Any:
    """A tqdm bar on stderr (hidden when stderr is not a terminal), or a silent stand-in with -q;
    either is a context manager that closes it."""
    if quiet:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=min(already, total or already), unit=unit, file=sys.stderr,
                dynamic_ncols=True, desc=desc, disable=None)
