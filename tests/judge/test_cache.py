"""The SQLite cache of model calls: hits cost nothing, only reproducible calls are kept, and
several processes can write to one file at once."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import subprocess
from pathlib import Path

import pytest

from judge import Completion, Item, Judge, Request, Rubric, SamplingParams
from judge.cache import CallCache, CachingBackend, cache_key, cacheable
from judge.errors import BackendError
from judge.models import Message, Status
from judge_fake.backend import FakeBackend

from conftest import EXAMPLES


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


# Issue 12 point 10: the cache is disposable. A damaged file is moved aside with one warning and
# replaced; where no file can be made the run goes on without a cache; no item ever fails for it.

RUBRIC = Rubric.from_principles(["p"])


def items(count: int, first: int = 0) -> list[Item]:
    return [Item(id=str(k), prompt=f"q{k}", responses=["r"]) for k in range(first, first + count)]


def judge_with(path: Path, backend: FakeBackend | None = None) -> tuple[Judge, FakeBackend]:
    backend = backend or CacheableFake()
    return Judge(RUBRIC, mode="principle", backend=backend, cache=path), backend


def warnings(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def filled(path: Path, entries: int = 3000) -> Path:
    """A real cache file, big enough (hundreds of pages) that cutting it short loses most of it."""
    cache = CallCache(path)
    cache.put_many({f"filler{k}": Completion(texts=["x" * 300]) for k in range(entries)})
    cache.close()
    return path


def test_a_file_of_random_bytes_is_moved_aside_and_replaced(tmp_path, capsys):
    path = tmp_path / "calls.sqlite"
    garbage = random.Random(0).randbytes(20_000)
    path.write_bytes(garbage)
    judge, backend = judge_with(path)
    judgments = judge.score(items(4))
    assert all(j.status is Status.ok for j in judgments) and len(backend.requests) == 4
    [line] = warnings(capsys)
    assert line.startswith(f"judge: warning: the call cache {path} is unreadable (file is not a database); "
                           f"moved it to {path}.broken-")
    assert line.endswith("; going on with a fresh one")
    [aside] = tmp_path.glob("calls.sqlite.broken-*")
    assert aside.read_bytes() == garbage  # kept for whoever wants to look, out of the way
    again, second = judge_with(path)
    again.score(items(4))
    assert second.requests == [] and warnings(capsys) == []  # the fresh file works


def test_a_truncated_cache_file_gives_the_same_judgments_and_one_warning(tmp_path, capsys):
    path = tmp_path / "calls.sqlite"
    judge, _ = judge_with(filled(path))
    first = judge.score(items(6))
    judge.backend.cache.close()  # type: ignore[attr-defined]  # everything in the main file, no -wal
    os.truncate(path, 16384)  # a copy cut short: the first 4 of its hundreds of pages
    judge, backend = judge_with(path)
    second = judge.score(items(6))
    assert [j.reward for j in second] == [j.reward for j in first] and all(j.status is Status.ok for j in second)
    [line] = warnings(capsys)
    assert "is unreadable (database disk image is malformed); moved it to" in line
    assert len(list(tmp_path.glob("calls.sqlite.broken-*"))) == 1


def test_a_folder_where_the_file_should_be_means_no_cache_not_a_failure(tmp_path, capsys):
    path = tmp_path / "calls.sqlite"
    (path / "something").mkdir(parents=True)
    judge, backend = judge_with(path)
    assert all(j.status is Status.ok for j in judge.score(items(3))) and len(backend.requests) == 3
    assert warnings(capsys) == [f"judge: warning: the call cache {path} is a folder, not a file; going on without a "
                                "cache (remove the folder, or set JUDGE_CACHE_DIR to another place)"]
    assert (path / "something").is_dir()  # a folder is not ours to move
    assert judge.backend.misses == 3  # still counted as model calls


def test_an_unwritable_place_means_no_cache_not_a_failure(tmp_path, capsys):
    # Tests run as root, whom chmod does not stop: a regular file where the cache folder should be does.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    path = blocker / "calls.sqlite"
    judge, backend = judge_with(path)
    assert all(j.status is Status.ok for j in judge.score(items(3))) and len(backend.requests) == 3
    assert warnings(capsys) == [f"judge: warning: the call cache {path} cannot be used ({blocker} is a file, where a "
                                "folder should be); going on without a cache"]
    assert blocker.read_text() == "a regular file"


def test_a_read_only_cache_file_means_no_cache_not_a_failure(tmp_path, capsys):
    path = tmp_path / "calls.sqlite"
    judge_with(path)[0].backend.cache.close()  # type: ignore[attr-defined]
    # chmod does not stop root; the immutable flag does (and it forbids moving the file aside too).
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs Linux, a supporting filesystem, CAP_LINUX_IMMUTABLE)")
    try:
        judge, backend = judge_with(path)
        assert all(j.status is Status.ok for j in judge.score(items(3))) and len(backend.requests) == 3
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    assert warnings(capsys) == [f"judge: warning: the call cache {path} cannot be used (attempt to write a readonly "
                                "database); going on without a cache"]


def test_corruption_that_appears_mid_run_is_survived_with_one_warning(tmp_path, capsys):
    path = filled(tmp_path / "calls.sqlite")
    corrupted: list[bool] = []

    def corrupt_once(request: Request) -> str:
        if not corrupted:  # another process, a disk, a user: the file is cut short while the run goes on
            os.truncate(path, 4096)
            corrupted.append(True)
        return "Yes"

    class Cacheable(FakeBackend):
        cache_identity = "fake|mid-run"

    backend = Cacheable(corrupt_once, batch_size=4)
    judge, _ = judge_with(path, backend)
    judgments = judge.score(items(24))
    assert all(j.status is Status.ok for j in judgments) and len(backend.requests) == 24
    [line] = warnings(capsys)
    assert "is unreadable (database disk image is malformed); moved it to" in line and "fresh one" in line
    later = Cacheable(corrupt_once, batch_size=4)
    judge_with(path, later)[0].score(items(24))
    assert later.requests == []  # every answer after the damage went into the fresh file


def test_a_damaged_row_is_a_miss_not_an_error(tmp_path):
    cache = CallCache(tmp_path / "calls.sqlite")
    cache.put_many({"good": Completion(texts=["ok"])})
    cache._db.execute("INSERT INTO calls VALUES ('bad', '{not json', 0)")  # type: ignore[union-attr]
    assert list(cache.get_many(["good", "bad"])) == ["good"]


@pytest.mark.parametrize("damage", ["random bytes", "a file where the folder should be"])
def test_the_cli_runs_through_a_broken_cache_with_one_warning(damage, judge_cli, cli_env, tmp_path):
    cache_dir = tmp_path / "cache"
    if damage == "random bytes":
        cache_dir.mkdir()
        (cache_dir / "calls.sqlite").write_bytes(random.Random(1).randbytes(10_000))
    else:
        cache_dir.write_text("a regular file")
    out = tmp_path / "out.jsonl"
    result = subprocess.run(
        [*judge_cli, "score", "-r", "helpfulness", "-b", "fake", "-O", "cacheable=true",
         str(EXAMPLES / "pointwise.jsonl"), "-o", str(out)],
        capture_output=True, text=True, env=cli_env | {"JUDGE_CACHE_DIR": str(cache_dir)}, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(r["status"] == "ok" for r in rows)
    assert "Traceback" not in result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("judge: warning:")]
    assert len(warned) == 1 and "the call cache" in warned[0]
    assert ("going on with a fresh one" if damage == "random bytes" else "going on without a cache") in warned[0]


# Issue 12 point 21: a fully cached rerun loads no model.

class CountingFake(FakeBackend):
    """Counts start() calls, the moment a real backend loads its weights."""

    cache_identity = "fake|counting"

    def __init__(self, *args, start_error: Exception | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.starts = 0
        self.start_error = start_error

    async def start(self) -> None:
        self.starts += 1
        await asyncio.sleep(0.01)  # long enough for concurrent misses to pile up behind it
        if self.start_error is not None:
            raise self.start_error


def test_a_warm_cache_starts_nothing_and_one_miss_starts_once(tmp_path):
    path = tmp_path / "calls.sqlite"
    cold = CountingFake()
    judge_with(path, cold)[0].score(items(5))
    assert cold.starts == 1
    warm = CountingFake()
    judge, _ = judge_with(path, warm)
    judgments = judge.score(items(5))
    assert warm.starts == 0 and warm.requests == [] and all(j.status is Status.ok for j in judgments)
    one_new = CountingFake(batch_size=1, concurrency=4)  # misses of several batches arrive together
    judge_with(path, one_new)[0].score(items(5) + items(3, first=100))
    assert one_new.starts == 1 and len(one_new.requests) == 3


def test_a_backend_that_learns_its_capabilities_at_start_is_started_eagerly(tmp_path):
    class Server(CountingFake):
        async def start(self) -> None:
            await super().start()
            self.capabilities = self.capabilities.model_copy(update={"exact_candidates": True})

    path = tmp_path / "calls.sqlite"
    judge_with(path, CountingFake())[0].score(items(2))
    server = Server(exact_candidates=True)
    server.capabilities = server.capabilities.model_copy(update={"exact_candidates": None})
    judge_with(path, server)[0].score(items(2))
    assert server.starts == 1 and server.requests == []


def test_a_failed_start_at_the_first_miss_fails_the_misses_only_and_is_not_retried(tmp_path):
    path = tmp_path / "calls.sqlite"
    judge_with(path, CountingFake())[0].score(items(2))
    broken = CountingFake(batch_size=1, start_error=BackendError("model file missing"))
    judgments = judge_with(path, broken)[0].score(items(2) + items(3, first=100))
    assert [j.status for j in judgments] == [Status.ok] * 2 + [Status.error] * 3
    assert "model file missing" in (judgments[-1].error or "") + json.dumps([v.model_dump() for v in judgments[-1].verdicts])
    assert broken.starts == 1 and broken.requests == []


def test_an_identity_learnt_at_start_is_looked_up_again_after_the_start(tmp_path):
    class Learning(CountingFake):
        """Like the openai backend without --model: the model name, part of the identity, comes at start."""

        model = ""

        @property
        def cache_identity(self) -> str:
            return f"learning|{self.model}"

        async def start(self) -> None:
            await super().start()
            self.model = "served-model"

    path = tmp_path / "calls.sqlite"
    first = Learning()
    judge_with(path, first)[0].score(items(3))
    second = Learning()
    judgments = judge_with(path, second)[0].score(items(3))
    assert second.starts == 1 and second.requests == [] and all(j.status is Status.ok for j in judgments)
    assert CallCache(path).get_many([cache_key("learning|", first.requests[0])]) == {}  # nothing under the blank name


def test_token_count_and_cache_identity_are_forwarded(tmp_path):
    counted = CachingBackend(CountingFake(token_counts={"Yes": 1, "10": 2}), CallCache(tmp_path / "c.sqlite"))
    assert counted.cache_identity == "fake|counting"
    assert asyncio.run(counted.token_count("10")) == 2 and counted.inner.starts == 0

    class NoCount:
        name = model = "plain"
        cache_identity = "plain|1"
        capabilities = FakeBackend().capabilities

    assert not hasattr(CachingBackend(NoCount(), CallCache(tmp_path / "c.sqlite")), "token_count")  # type: ignore[arg-type]


def test_token_counts_are_cached_so_a_cached_rerun_loads_no_tokenizer(tmp_path):
    """Issue 12 point 21: the engine's candidate check must not load a tokenizer on a warm rerun."""
    asked: list[str] = []

    class Counting(CountingFake):
        async def token_count(self, text: str) -> int | None:
            asked.append(text)
            return await super().token_count(text)

    first = CachingBackend(Counting(token_counts={"10": 2}), CallCache(tmp_path / "c.sqlite"))
    assert asyncio.run(first.token_count("10")) == 2 and asyncio.run(first.token_count("Yes")) == 1
    again = CachingBackend(Counting(token_counts={"10": 2}), CallCache(tmp_path / "c.sqlite"))
    assert asyncio.run(again.token_count("10")) == 2 and asyncio.run(again.token_count("Yes")) == 1
    assert asked == ["10", "Yes"]
