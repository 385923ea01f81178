"""The dispatcher: batching, concurrency, deduplication and failure isolation, on the fake backend."""

from __future__ import annotations

import asyncio

import pytest

from judge import Completion, Item, Judge, Request, Rubric, Status, Usage
from judge.backend import Capabilities
from judge.models import Message
from judge.scheduler import Dispatcher
from judge_fake.backend import FakeBackend

PRINCIPLES = Rubric.from_principles(["The response is correct."])


def items(n: int, prefix: str = "i") -> list[Item]:
    return [Item(id=f"{prefix}{k}", prompt=f"question {k}", responses=[f"answer {k}"]) for k in range(n)]


def test_ready_requests_are_grouped_into_full_batches():
    fake = FakeBackend(batch_size=4)
    judgments = Judge(PRINCIPLES, mode="principle", backend=fake).score(items(10))
    assert len(judgments) == 10
    assert sum(fake.batches) == 10
    assert max(fake.batches) == 4
    assert fake.batches[0] == 4  # the first batch is full, not a lone request


def test_identical_requests_in_a_run_are_made_once():
    duplicated = [Item(id=f"d{k}", prompt="same question", responses=["same answer"]) for k in range(5)]
    fake = FakeBackend()
    judge = Judge(PRINCIPLES, mode="principle", backend=fake)
    judgments = judge.score(duplicated)
    assert len(fake.requests) == 1
    assert [j.status for j in judgments] == [Status.ok] * 5
    assert sum(j.usage.requests for j in judgments) == 1
    assert sum(j.usage.cached_requests for j in judgments) == 4


class _Recorder:
    """A fake backend that tracks how many complete() calls overlap."""

    name = "recorder"
    model = "recorder"

    def __init__(self, concurrency: int, slow_prompt: str | None = None) -> None:
        self.capabilities = Capabilities(max_batch_size=1, max_concurrency=concurrency, exact_candidates=True)
        self.in_flight = 0
        self.peak = 0
        self.finished: list[str] = []
        self.slow_prompt = slow_prompt

    async def complete(self, requests: list[Request]) -> list[Completion]:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        text = str(requests[0].messages[0].content)
        await asyncio.sleep(0.5 if text == self.slow_prompt else 0.01)
        self.in_flight -= 1
        self.finished.append(text)
        return [Completion(texts=["Yes"], candidate_logprobs={"Yes": -0.1, "No": -2.4}) for _ in requests]

    async def aclose(self) -> None:
        pass


def test_concurrency_never_exceeds_the_backend_capacity():
    backend = _Recorder(concurrency=3)
    Judge(PRINCIPLES, mode="principle", backend=backend).score(items(12))
    assert backend.peak == 3


def test_a_slow_item_does_not_hold_the_others_back():
    backend = _Recorder(concurrency=2, slow_prompt="question 0")
    judgments = Judge(PRINCIPLES, mode="principle", backend=backend).score(items(8))
    assert len(judgments) == 8
    assert backend.finished[-1] == "question 0"  # everything else finished while it ran


def test_stream_yields_judgments_as_they_finish():
    backend = _Recorder(concurrency=2, slow_prompt="question 0")
    judge = Judge(PRINCIPLES, mode="principle", backend=backend)

    async def collect() -> list[str]:
        return [j.id async for j in judge.stream(items(4))]

    order = asyncio.run(collect())
    assert sorted(order) == ["i0", "i1", "i2", "i3"]
    assert order[-1] == "i0"


def test_a_failing_batch_becomes_error_judgments_and_the_run_goes_on():
    calls = {"n": 0}

    class Flaky(FakeBackend):
        async def complete(self, requests):  # type: ignore[override]
            calls["n"] += 1
            if calls["n"] == 1:
                raise ConnectionError("server went away")
            return await super().complete(requests)

    judgments = Judge(PRINCIPLES, mode="principle", backend=Flaky(batch_size=2)).score(items(6))
    statuses = [j.status for j in judgments]
    assert statuses.count(Status.error) == 2
    assert statuses.count(Status.ok) == 4
    assert all("server went away" in j.error for j in judgments if j.status is Status.error)


def test_a_backend_returning_too_few_completions_is_an_error_not_a_hang():
    class Short(FakeBackend):
        async def complete(self, requests):  # type: ignore[override]
            return (await super().complete(requests))[:-1]

    judgments = Judge(PRINCIPLES, mode="principle", backend=Short(batch_size=3)).score(items(3))
    assert all(j.status is Status.error for j in judgments)


def test_dispatcher_answers_direct_calls():
    async def run() -> list[Completion]:
        fake = FakeBackend(text="hi")
        async with Dispatcher(fake) as dispatcher:
            requests = [Request(messages=(Message(role="user", content=f"m{k}"),)) for k in range(3)]
            return await asyncio.gather(*(dispatcher.call(r) for r in requests))

    completions = asyncio.run(run())
    assert [c.texts for c in completions] == [["hi"]] * 3


def test_remembered_answers_are_bounded_but_in_flight_ones_are_kept():
    async def run() -> tuple[int, int]:
        fake = FakeBackend(text="x")
        async with Dispatcher(fake) as dispatcher:
            dispatcher.remember = 3
            for k in range(10):
                await dispatcher.call(Request(messages=(Message(role="user", content=f"m{k}"),)))
            remembered = len(dispatcher._known)
            await dispatcher.call(Request(messages=(Message(role="user", content="m9"),)))
            return remembered, len(fake.requests)

    remembered, sent = asyncio.run(run())
    assert remembered == 3
    assert sent == 10  # m9 was still remembered: answered without a new request


def _ask(text: str) -> Request:
    return Request(messages=(Message(role="user", content=text),), candidates=("Yes", "No"))


def test_call_returns_a_future_so_gather_starts_no_task_per_step():
    """A program gathers its steps' calls; a coroutine per call made asyncio wrap each in a Task."""
    async def run() -> bool:
        async with Dispatcher(FakeBackend()) as dispatcher:
            answer = dispatcher.call(_ask("q"))
            is_future = asyncio.isfuture(answer)
            await answer
            return is_future

    assert asyncio.run(run())


def test_remembered_answers_cost_the_garbage_collector_nothing():
    """100,000 remembered answers as live objects slowed every full collection of a long run."""
    import gc

    async def run() -> list[bool]:
        async with Dispatcher(FakeBackend()) as dispatcher:
            await asyncio.gather(*(dispatcher.call(_ask(f"q{k}")) for k in range(5)))
            gc.collect()
            return [gc.is_tracked(answer) for answer in dispatcher._known.values()]

    assert asyncio.run(run()) == [False] * 5


def test_a_remembered_answer_is_the_same_answer_minus_infinity_included():
    def responder(request: Request) -> Completion:
        return Completion(texts=["Yes"], finish_reasons=["stop"], candidate_logprobs={"Yes": 0.0, "No": float("-inf")})

    async def run() -> tuple[Completion, Completion]:
        async with Dispatcher(FakeBackend(responder)) as dispatcher:
            first = await dispatcher.call(_ask("q"))
            again = await dispatcher.call(_ask("q"))  # answered from what the dispatcher remembered
            return first, again

    first, again = asyncio.run(run())
    assert again.candidate_logprobs == {"Yes": 0.0, "No": float("-inf")}
    assert again.texts == first.texts and again.finish_reasons == first.finish_reasons
    assert again.usage == Usage(requests=0, cached_requests=1)
    assert Completion.model_validate_json(first.model_dump_json()) == first  # -inf survives JSON (the call cache too)


def test_a_cancelled_caller_does_not_cancel_the_answer_others_share():
    async def run() -> Completion:
        async with Dispatcher(FakeBackend(delay=0.05)) as dispatcher:
            first = asyncio.ensure_future(dispatcher.call(_ask("q")))
            second = asyncio.ensure_future(dispatcher.call(_ask("q")))
            await asyncio.sleep(0)
            first.cancel()
            return await second

    assert asyncio.run(run()).candidate_logprobs is not None


@pytest.mark.timeout(60)
def test_leaving_on_an_error_cancels_batches_in_flight():
    """Ctrl-C (or any error) in a run must not wait for a batch that may never finish."""
    class Stuck(FakeBackend):
        async def complete(self, requests):  # type: ignore[override]
            await asyncio.Event().wait()  # a server that never answers
            return []

    async def run() -> None:
        async with Dispatcher(Stuck()) as dispatcher:
            asyncio.ensure_future(dispatcher.call(_ask("q")))
            await asyncio.sleep(0.05)  # the batch is in flight
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(run())
