"""An inspect-ai scorer that grades each sample with a judge rubric or principles.

    from inspect_ai import Task
    from inspect_ai.solver import generate
    from judge.integrations.inspect import rubric_scorer

    Task(dataset=..., solver=generate(), scorer=rubric_scorer("helpfulness"))

The sample's input is the prompt, the model's completion the response, and the target (if any)
the reference answer. A judgment that could not be read (`unparsed`) or made (`error`) becomes
inspect's unscored value, NaN: inspect leaves it out of every metric and counts it in the
results' `unscored_samples`, so a failed grade never turns into a number. (NOANSWER, "N", would
be counted as 0 by `mean`, which makes the judge's failures look like bad answers.)

inspect-ai is an optional dependency: only this module imports it, and `import judge` never does.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from inspect_ai.model import ChatMessage, ContentImage, ContentText
from inspect_ai.model import Content as InspectContent
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, mean, metric, scorer, stderr
from inspect_ai.solver import TaskState

from judge.errors import JudgeError
from judge.models import Content, Item, Judgment, Message, Status

if TYPE_CHECKING:
    from judge.engine import Judge
    from judge.rubric import Rubric

DEFAULT_RUBRIC = "helpfulness"
SCORE_MODES = ("pointwise", "principle")
# inspect's machine-readable reasons for a score that is not a grade (inspect_ai.scorer.ScoreReason).
REASONS = {Status.unparsed: "grader_failed", Status.error: "scoring_failed"}


@metric
def pass_rate() -> Metric:
    """The share of graded samples whose score reached the scorer's threshold (metadata `passed`)."""

    def compute(scores: list[SampleScore]) -> float:
        if not scores:
            return 0.0  # inspect's own metrics answer 0 on no input; it calls none when all are unscored
        return sum(1 for s in scores if (s.score.metadata or {}).get("passed") is True) / len(scores)

    return compute


@scorer(metrics=[mean(), stderr(), pass_rate()])
def rubric_scorer(
    rubric: str | None = DEFAULT_RUBRIC,
    *,
    principles: list[str] | None = None,
    mode: str | None = None,
    backend: str | None = None,
    model: str | None = None,
    backend_options: dict[str, Any] | None = None,
    threshold: float = 0.5,
    cache: bool = True,
) -> Scorer:
    """Grade each sample's completion with a judge rubric (or binary principles).

    Args:
        rubric: a shipped rubric's name or a rubric file (leave it None or default with `principles`).
        principles: binary principles as plain sentences, instead of a rubric.
        mode: "pointwise" (default for a rubric) or "principle" (default for principles).
        backend: a judge backend name (default: the embedded model on the CPU).
        model: the backend's model (a local folder for transformers, a name for openai).
        backend_options: the backend's options, as `judge score -O key=value` gives them.
        threshold: a score at or above it is `passed` in the metadata and the `pass_rate` metric.
        cache: remember greedy model calls in the judge's cache (~/.cache/judge, or $JUDGE_CACHE_DIR).

    The rubric, mode and threshold are checked here; the judge (backend, model, options) is built
    at the first sample and shared by every sample this scorer grades.
    """
    graded_by, judge_mode = rubric_and_mode(rubric, principles, mode)
    if not (isinstance(threshold, int | float) and 0.0 <= threshold <= 1.0):
        raise JudgeError(f"threshold {threshold!r}: give a number from 0 to 1 (scores are in [0, 1])")
    options = dict(backend_options or {})

    def build() -> Judge:
        from judge.engine import Judge

        return Judge(graded_by, mode=judge_mode, backend=backend, model=model, backend_options=options, cache=cache)

    shared = SharedJudge(build)

    async def score(state: TaskState, target: Target) -> Score:
        completion = state.output.completion
        judgment = await shared.judge_item(sample_item(state, target))
        return judgment_score(judgment, completion, threshold)

    return score


def rubric_and_mode(rubric: str | None, principles: list[str] | str | None, mode: str | None) -> tuple[Rubric, str]:
    """What to grade by and how, checked before any sample runs."""
    from judge.rubric import Rubric, load_rubric

    if mode is not None and mode not in SCORE_MODES:
        raise JudgeError(
            f"mode '{mode}': an inspect sample has one response to grade, so the mode is pointwise or "
            "principle (pairwise compares two responses)"
        )
    if isinstance(principles, str):  # `inspect score -S principles="..."` gives one sentence as a string
        principles = [principles]
    if principles is not None:
        if rubric not in (None, DEFAULT_RUBRIC):
            raise JudgeError(
                f"give a rubric or principles, not both (rubric '{rubric}' and {len(principles)} principles)"
            )
        return Rubric.from_principles(list(principles)), mode or "principle"
    if rubric is None:
        raise JudgeError("say what to grade by: a rubric (a shipped name or a file) or principles=[...]")
    return load_rubric(rubric), mode or "pointwise"


def sample_item(state: TaskState, target: Target) -> Item:
    """The judge's item for one sample: its input, the model's completion, the target as reference."""
    reference = "\n".join(target)  # several targets are alternative right answers: show them all
    return Item(
        id=str(state.sample_id),
        prompt=_prompt(state.input),
        responses=[state.output.completion],
        reference=reference or None,
    )


def _prompt(value: str | list[ChatMessage]) -> str | list[Message]:
    if isinstance(value, str):
        return value
    return [Message(role=message.role, content=_content(message.content)) for message in value]


def _content(content: str | list[InspectContent]) -> Content:
    """Text and images pass as OpenAI-style parts; reasoning, audio, video and tool parts are left
    out: they are not what the assistant was asked."""
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, ContentText):
            parts.append({"type": "text", "text": part.text})
        elif isinstance(part, ContentImage):
            parts.append({"type": "image_url", "image_url": {"url": part.image}})
    return parts


def judgment_score(judgment: Judgment, completion: str, threshold: float) -> Score:
    """inspect's Score for a judgment: its score, or NaN (unscored) with a reason when there is none."""
    value = judgment.scores[0] if judgment.status is Status.ok and judgment.scores else None
    record = judgment.model_dump(mode="json")
    if value is None:
        return Score(
            value=math.nan,
            answer=completion,
            explanation=raw_text(judgment),
            reason=REASONS.get(judgment.status, "grader_failed"),
            metadata={"status": judgment.status.value, "judgment": record, "passed": None},
        )
    return Score(
        value=value,
        answer=completion,
        explanation=raw_text(judgment),
        metadata={"status": judgment.status.value, "judgment": record, "passed": value >= threshold},
    )


def raw_text(judgment: Judgment) -> str:
    """What the judge model wrote, one line per step (criterion), and why it failed when it did."""
    lines = [f"{raw.step}: {' | '.join(raw.texts)}" for raw in judgment.raw]
    if judgment.error:
        lines.append(f"error: {judgment.error}")
    return "\n".join(lines)


class SharedJudge:
    """One Judge for every sample a scorer grades, built at first use; samples are judged together.

    inspect scores samples concurrently in one event loop. Samples that reach the scorer while
    others are being judged join the same `Judge.stream`, so their model requests share batches
    and one dispatcher keeps the backend's declared concurrency (an `ascore` call per sample
    would give each sample a dispatcher of its own: N samples, N times `max_concurrency` calls
    in flight against a server). The queue belongs to an event loop, since each inspect `eval`
    runs in a loop of its own; the Judge is shared by all of them (backends follow loop changes,
    as `Judge.score` needs).
    """

    def __init__(self, build: Callable[[], Judge]) -> None:
        self._build = build
        self._judge: Judge | None = None
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = weakref.WeakKeyDictionary()

    @property
    def judge(self) -> Judge | None:
        """The Judge, once the first sample has built it."""
        return self._judge

    def get(self) -> Judge:
        if self._judge is None:
            self._judge = self._build()
        return self._judge

    async def judge_item(self, item: Item) -> Judgment:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise JudgeError(
                "the judge scorer runs in inspect's asyncio event loop (INSPECT_ASYNC_BACKEND=trio is not supported)"
            ) from None
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue(self)
        return await queue.submit(item)


class _Queue:
    """The items of one event loop, fed to one `Judge.stream` at a time."""

    def __init__(self, shared: SharedJudge) -> None:
        self._shared = shared
        self._items: deque[Item] = deque()
        self._waiting: dict[str, asyncio.Future[Judgment]] = {}
        self._serving: asyncio.Task[None] | None = None
        self._suffixes = itertools.count(1)

    async def submit(self, item: Item) -> Judgment:
        if item.id in self._waiting:  # the same sample twice at once (epochs, tasks sharing a scorer)
            item = item.model_copy(update={"id": f"{item.id}~{next(self._suffixes)}"})
        future: asyncio.Future[Judgment] = asyncio.get_running_loop().create_future()
        self._waiting[item.id] = future
        self._items.append(item)
        if self._serving is None:
            self._serving = asyncio.create_task(self._serve())
        try:
            return await future
        except asyncio.CancelledError:  # the sample was cancelled (a time limit): do not judge it
            if item in self._items:
                self._items.remove(item)
            raise
        finally:
            if self._waiting.get(item.id) is future:
                del self._waiting[item.id]

    async def _serve(self) -> None:
        """Judge what is queued; items queued meanwhile join while the stream still takes items,
        else the next stream. Between the last check and the end there is no await: no item is
        left behind."""
        try:
            while self._items:
                async for judgment in self._shared.get().stream(self._take()):
                    future = self._waiting.pop(judgment.id, None)
                    if future is not None and not future.done():
                        future.set_result(judgment)
        except Exception as exc:  # the judge cannot be built or started: every waiting sample says why
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(exc)
            self._waiting.clear()
            self._items.clear()
        finally:
            self._serving = None

    def _take(self) -> Iterator[Item]:
        while self._items:
            yield self._items.popleft()
