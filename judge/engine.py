"""The Python API: make a judge from a rubric and a backend, score items, get judgments.

    from judge import Judge, load_rubric
    judge = Judge(load_rubric("helpfulness"))
    judgments = judge.score(items)
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from judge.backend import Backend, SamplingParams
from judge.cache import CallCache, with_cache
from judge.compiler import CompileOptions, Program, ScoreFrom, compile_program
from judge.errors import BackendError, first_error
from judge.models import Item, Judgment, Status
from judge.plugins import Registry, get_registry
from judge.rubric import Rubric
from judge.rubric_sources import RubricSource
from judge.scheduler import Dispatcher
from judge.strategy import Call, Rate, StrategyOptions


def make_backend(
    name: str | None = None, model: str | None = None, registry: Registry | None = None, **options: Any
) -> Backend:
    """Build a registered backend by name; with no name, the one a plugin names as default."""
    registry = (registry or get_registry()).load()
    if name is None:
        name, defaults = registry.default_backend()
        options = defaults | options
    factory = registry.get("backends", name)
    try:
        backend = factory(model=model, **options)
    except (TypeError, ValueError) as exc:  # unknown option, or a value of the wrong kind (pydantic's too)
        detail = str(exc).splitlines()[0] if not hasattr(exc, "errors") else first_error(exc, "option")
        given = ", ".join(f"{key}={value}" for key, value in options.items()) or "none"
        raise BackendError(f"backend '{name}': {detail} (check the -O options; given: {given})") from None
    if not isinstance(backend, Backend):
        raise BackendError(f"backend '{name}' did not build an object with complete() and capabilities")
    return backend


class Judge:
    """A compiled program bound to a backend. Reusable across many `score` calls.

    `strategy` is how the judge thinks (`direct`, `reason`, `rethink`, `vote`, or a plugin's);
    `meta` is a second judge, usually principle mode, that rates each of a vote's samples (the
    meta reward model). Given the same backend object, it shares this judge's batches and cache.
    """

    def __init__(
        self,
        rubric: Rubric | RubricSource,
        *,
        mode: str = "pointwise",
        backend: Backend | str | None = None,
        model: str | None = None,
        backend_options: dict[str, Any] | None = None,
        format_pack: str = "default",
        aggregator: str = "weighted_mean",
        score_from: ScoreFrom = "auto",
        both_orders: bool = False,
        sampling: SamplingParams | None = None,
        registry: Registry | None = None,
        cache: bool | str | Path | CallCache = False,
        strategy: str = "direct",
        strategy_options: StrategyOptions | None = None,
        meta: Judge | None = None,
    ) -> None:
        self.registry = (registry or get_registry()).load()
        if backend is None or isinstance(backend, str):
            backend = make_backend(backend, model, self.registry, **(backend_options or {}))
        # One call cache for the model's answers and deterministic tools' results.
        self.call_cache: CallCache | None = None
        if cache is not False:
            self.call_cache = cache if isinstance(cache, CallCache) else CallCache(None if cache is True else cache)
            backend = with_cache(backend, self.call_cache)
        self.backend: Backend = backend
        # A rubric source (a folder of per-item rubrics, rubrics generated per prompt) gives each
        # item its own rubric; `rubric` is then the source's shape, and `rubrics` the source.
        self.rubrics: RubricSource | None = None if isinstance(rubric, Rubric) else rubric
        self.rubric: Rubric = rubric if isinstance(rubric, Rubric) else rubric.shape()
        self.options = CompileOptions(mode, format_pack, aggregator, score_from, both_orders, sampling, strategy,
                                      strategy_options or StrategyOptions())
        self.meta = meta
        # A backend that learns its capabilities at start() (a server) is assumed able until then;
        # the program is rebuilt, or refused with a clear error, once the truth is known.
        exact = backend.capabilities.exact_candidates
        self._setup: dict[str, Any] | None = None
        self.program: Program = self._compile(exact is not False, None if exact is None else backend.capabilities)
        self._prepared = False

    def _compile(self, exact: bool, capabilities: Any) -> Program:
        program = compile_program(self.rubric, self.options, self.registry, exact, capabilities, self.meta is not None,
                                  self.rubrics)
        if self._setup is None:
            self._setup = self._describe_setup(program)
        program.stamp = {"model": self.backend.model, "setup": self.setup}
        if program.toolbox is not None:
            program.toolbox.cache = self.call_cache
        return program

    @property
    def setup(self) -> dict[str, Any]:
        """What a judgment means: the same item judged under another setup is a different judgment.

        Written into every judgment, so `--resume` can refuse to mix two setups in one file.
        """
        if self._setup is None:
            self._setup = self._describe_setup(self.program)
        return dict(self._setup)

    def _describe_setup(self, program: Program) -> dict[str, Any]:
        setup: dict[str, Any] = {
            "rubric": self.rubrics.label if self.rubrics is not None else self.rubric.name,
            "rubric_sha256": (self.rubrics or self.rubric).digest()[:16],
            "mode": self.options.mode,
            "strategy": self.options.strategy,
            "format_pack": self.options.format_pack,
            "aggregator": self.options.aggregator,
            "score_from": self.options.score_from,
            "both_orders": self.options.both_orders,
        }
        # Written only where they differ from direct judging's defaults, so files of plain judging
        # written before strategies existed still --resume and --compare as the same setup.
        if self.options.strategy != "direct" or self.options.strategy_options.recorded() != StrategyOptions().recorded():
            setup["strategy_options"] = self.options.strategy_options.recorded()
        if self.meta is not None:
            setup["meta"] = {"model": self.meta.backend.model, **self.meta.setup}
        if program.toolbox is not None:  # the tools it really has: the default set depends on what is ready here
            setup["tools"] = program.toolbox.names
        return setup

    async def prepare(self) -> None:
        """Start the backend and settle the program against what it can really do.

        Everything that can make a whole run fail happens here, before any item is judged, so a
        caller can check a setup before it touches an output file.
        """
        if self._prepared:
            return
        start = getattr(self.backend, "start", None)  # optional: backends that load lazily
        if start is not None:
            await start()
        await self._settle_tool_calling()
        exact = bool(self.backend.capabilities.exact_candidates)
        self.program = self._compile(exact, self.backend.capabilities)  # against what it can really do
        self.program.stamp["model"] = self.backend.model  # a server may have named its model at start
        await self._check_candidates()
        if self.meta is not None:
            await self.meta.prepare()
        self._prepared = True

    async def _settle_tool_calling(self) -> None:
        """A judge that calls tools, on a backend that does not yet know whether it calls them
        natively (a server, until asked): ask it now, so the protocol is chosen before any item."""
        if self.program.toolbox is None or self.options.strategy_options.tool_protocol == "text":
            return
        probe = getattr(self.backend, "probe_tool_calling", None)
        if probe is not None and self.backend.capabilities.tool_calling is None:
            await probe()

    async def _check_candidates(self) -> None:
        """Each answer whose probability decides a verdict must be one token for this model, or be
        scored whole (a backend with `whole_candidates`), or, under `--score-from auto`, be read
        from the text: a 1-10 scale is judged, never refused for its "10"."""
        token_count = getattr(self.backend, "token_count", None)
        if token_count is None:
            return
        counts: dict[str, int | None] = {}
        whole = bool(self.backend.capabilities.whole_candidates)
        for key, owner, candidates in self.program.probability_candidates():
            for candidate in candidates:
                if candidate not in counts:
                    counts[candidate] = await token_count(candidate)
                count = counts[candidate]
                if count is None or count == 1:
                    continue
                if key != "pairwise" and whole:
                    self.program.whole.add(key)
                    break
                if key != "pairwise" and self.options.score_from == "auto" and self.options.mode != "principle":
                    self.program.from_text.add(key)
                    break
                raise BackendError(
                    f"{owner}: the answer '{candidate}' is {count} tokens for {self.backend.model}'s tokenizer, "
                    "and a verdict read from probabilities needs each answer to be one token, or a backend that "
                    "scores whole answers (transformers, vllm); use a scale whose points are single tokens "
                    "(e.g. 1-5 or 0-9), or --score-from text"
                )

    def window(self) -> int:
        """How many items run at once: enough to fill every batch slot, a few times over."""
        caps = self.backend.capabilities
        return max(16, caps.max_batch_size * caps.max_concurrency * 4)

    async def stream(self, items: Iterable[Item]) -> AsyncIterator[Judgment]:
        """Judge items as a stream, yielding each judgment as soon as it is done (any order)."""
        async with self.session() as session:
            # Finished tasks are handed over by their done-callback: waiting with asyncio.wait
            # over the whole window would register a callback on every running task each time.
            running: set[asyncio.Task[Judgment]] = set()
            finished: deque[asyncio.Task[Judgment]] = deque()
            ready = asyncio.Event()

            def on_done(task: asyncio.Task[Judgment]) -> None:
                running.discard(task)
                finished.append(task)
                ready.set()

            iterator = iter(items)
            exhausted = False
            window = self.window()
            try:
                while True:
                    while not exhausted and len(running) < window:
                        item = next(iterator, None)
                        if item is None:
                            exhausted = True
                            break
                        task = asyncio.create_task(session.one(item))
                        running.add(task)
                        task.add_done_callback(on_done)
                    if not running and not finished:
                        return
                    if not finished:
                        ready.clear()
                        await ready.wait()
                    while finished:
                        yield finished.popleft().result()
            finally:  # interrupted, or the consumer stopped reading: no item keeps running unseen
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)

    async def _meta_rate(self, stack: AsyncExitStack, dispatcher: Dispatcher) -> Rate | None:
        """How a strategy asks the meta RM: through this run's batches when it shares the backend."""
        meta = self.meta
        if meta is None:
            return None
        call: Call = dispatcher.call
        if meta.backend is not self.backend:
            call = (await stack.enter_async_context(Dispatcher(meta.backend))).call

        async def rate(item: Item) -> Judgment:
            return await meta.program.run(item, call)

        return rate

    async def _run_one(self, item: Item, dispatcher: Dispatcher, rate: Rate | None) -> Judgment:
        try:
            return await self.program.run(item, dispatcher.call, rate)
        except Exception as exc:  # a bug in one item's program must not sink the batch
            return Judgment(
                id=item.id, status=Status.error, mode=self.program.mode, error=f"internal error: {exc!r}",
                **self.program.stamp,
            )

    @asynccontextmanager
    async def session(self, window: float = 0.0) -> AsyncIterator[Session]:
        """One scheduler for many concurrent callers (a server's requests): their model calls
        share batches, gathered for up to `window` seconds when a batch is not full."""
        await self.prepare()
        async with AsyncExitStack() as stack:
            dispatcher = await stack.enter_async_context(Dispatcher(self.backend, window=window))
            rate = await self._meta_rate(stack, dispatcher)
            yield Session(self, dispatcher, rate)

    async def ascore(self, items: Iterable[Item]) -> list[Judgment]:
        """Judge items; judgments come back in the order of the items."""
        items = list(items)
        by_id = {j.id: j async for j in self.stream(items)}
        return [by_id[item.id] for item in items]

    def score(self, items: Iterable[Item]) -> list[Judgment]:
        """Blocking `ascore`, usable from plain scripts and from inside a running event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.ascore(items))
        result: list[list[Judgment]] = []
        thread = threading.Thread(target=lambda: result.append(asyncio.run(self.ascore(items))))
        thread.start()
        thread.join()
        return result[0]

    async def aclose(self) -> None:
        self._prepared = False
        await self.backend.aclose()
        if self.meta is not None and self.meta.backend is not self.backend:
            await self.meta.aclose()


class Session:
    """A judge's open scheduler: `await session.judge(items)` from any number of tasks at once."""

    def __init__(self, judge: Judge, dispatcher: Dispatcher, rate: Rate | None) -> None:
        self.owner = judge
        self.dispatcher = dispatcher
        self._rate = rate

    def one(self, item: Item) -> Coroutine[Any, Any, Judgment]:
        """One item's judgment, to await; never raises for a model's trouble. (The program's own
        coroutine, not a wrapper: `stream` makes a task of it for every item.)"""
        return self.owner._run_one(item, self.dispatcher, self._rate)

    async def judge(self, items: Iterable[Item]) -> list[Judgment]:
        """Judgments in the order of the items."""
        return list(await asyncio.gather(*(self.one(item) for item in items)))
