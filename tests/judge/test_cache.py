"""The SQLite cache of model calls: hits cost nothing, only reproducible calls are kept, and
several processes can write to one file at once."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

from judge import Completion, Item, Judge, Request, Rubric, SamplingParams
from judge.cache import CallCache, CachingBackend, cache_key, cacheable
from judge.models import Message
from judge_fake.backend import FakeBackend


class CacheableFake(FakeBackend):
    cache_identity = "fake|cacheable"


def ask(text: str, **sampling) -> Request:
    return Request(messages=(Message(role="user", content=text),), sampling=SamplingParams(**sampling))


def test_a_second_run_makes_no_model_calls(tmp_path):
    items = [Item(id=str(k), prompt=f"q{k}", responses=["r"]) for k in range(5)]
    rubric = Rubric.from_principles(["p"])
    first_backend, second_backend = CacheableFake(), CacheableFake()
    first = Judge(rubric, mode="principle", backend=first_backend, cache=tmp_path / "c.sqlite").score(items)
    second = Judge(rubric, mode="principle", backend=second_backend, cache=tmp_path / "c.sqlite").score(items)
    assert len(first_backend.requests) == 5 and second_backend.requests == []
    assert [j.reward for j in first] == [j.reward for j in second]
    assert all(j.usage.requests == 0 and j.usage.cached_requests == 1 for j in second)


def test_only_reproducible_calls_are_cached(tmp_path):
    assert cacheable(ask("x")) and cacheable(ask("x", temperature=1.0, seed=3))
    assert not cacheable(ask("x", temperature=1.0))
    backend = CachingBackend(CacheableFake(), CallCache(tmp_path / "c.sqlite"))
    sampled = ask("x", temperature=1.0)
    asyncio.run(backend.complete([sampled]))
    asyncio.run(backend.complete([sampled]))
    assert backend.inner.requests == [sampled, sampled]


def test_errors_are_not_cached(tmp_path):
    inner = CacheableFake(lambda r: Completion(error="HTTP 503"))
    backend = CachingBackend(inner, CallCache(tmp_path / "c.sqlite"))
    asyncio.run(backend.complete([ask("x")]))
    asyncio.run(backend.complete([ask("x")]))
    assert len(inner.requests) == 2


def test_the_key_depends_on_backend_identity_and_every_request_field():
    base = ask("x")
    keys = {
        cache_key("a", base), cache_key("b", base), cache_key("a", ask("y")),
        cache_key("a", ask("x", max_tokens=2)), cache_key("a", base.model_copy(update={"candidates": ("Yes", "No")})),
    }
    assert len(keys) == 5


def test_a_backend_without_identity_is_not_cached():
    fake = FakeBackend()
    judge = Judge(Rubric.from_principles(["p"]), mode="principle", backend=fake, cache=True)
    assert judge.backend is fake


def _writer(path: str, start: int) -> None:
    cache = CallCache(path)
    for k in range(start, start + 200):
        cache.put_many({f"key{k}": Completion(texts=[str(k)])})


def test_concurrent_writer_processes_share_one_file(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    CallCache(path)  # create it (WAL mode) before the writers race
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(path, n * 200)) for n in range(3)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
    assert all(p.exitcode == 0 for p in writers)
    found = CallCache(path).get_many([f"key{k}" for k in range(600)])
    assert len(found) == 600 and found["key599"].texts == ["599"]
