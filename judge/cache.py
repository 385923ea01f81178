"""A content-addressed cache of model calls, so re-running a scored file costs nothing.

The key is a digest of the backend's identity (name, model, options that change answers) and the
full request (messages, sampling, candidates). Only reproducible requests are cached: greedy, or
sampled with a seed. SQLite in WAL mode keeps several processes writing to one file safe.

The cache is disposable: a damaged file (random bytes, cut short, corrupted while a run is
going) is moved aside with one warning and a fresh one takes its place; when even that cannot
be done (a folder in the way, an unwritable place) the run goes on without a cache. A broken
cache never fails an item.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from judge.backend import Backend, Capabilities, Completion, Request
from judge.models import Usage

T = TypeVar("T")
SCHEMA = "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, completion TEXT NOT NULL, created REAL NOT NULL)"
KEYS_PER_QUERY = 500  # below every SQLite build's limit on bound parameters


def cache_root() -> Path:
    """Where judge keeps what it can rebuild: $JUDGE_CACHE_DIR, else the user cache dir."""
    root = os.environ.get("JUDGE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "judge"
    return Path(root)


def default_cache_path() -> Path:
    return cache_root() / "calls.sqlite"


def warn(message: str) -> None:
    """One line on stderr: the cache's trouble is worth knowing, never worth stopping a run."""
    print(f"judge: warning: {message}", file=sys.stderr, flush=True)


def damaged(exc: BaseException) -> bool:
    """SQLite says the file itself is bad (not a database, malformed): moving it aside fixes it.

    Anything else (cannot open, read-only, disk full, locked) is about the place, not the file,
    and a fresh file there would fail the same way.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name:
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    text = str(exc)
    return isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text)


class CallCache:
    """Completions by key, in one SQLite file shared by every process of the user.

    `get_many` and `put_many` never raise: trouble with the file is reported once through `warn`
    and turns into misses (see the module docstring for what happens to the file).
    """

    def __init__(self, path: str | Path | None = None, *, on_warning: Callable[[str], None] = warn) -> None:
        self.path = Path(path) if path else default_cache_path()
        self._warn = on_warning
        self._lock = threading.Lock()
        self._opened: tuple[int, int] | None = None  # (device, inode) of the file this connection reads
        self._recovered = False
        self._db: sqlite3.Connection | None = None
        with self._lock:
            try:
                self._db = self._connect()
            except (sqlite3.Error, OSError) as exc:
                self._db = self._recover(exc)

    @property
    def usable(self) -> bool:
        """False once the run has gone on without a cache."""
        return self._db is not None

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        rows: list[tuple[str, str]] = []
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, completion FROM calls WHERE key IN ({marks})"
            rows += self._run(lambda db: db.execute(query, chunk).fetchall(), [])
        found: dict[str, Completion] = {}
        for key, text in rows:
            try:
                found[key] = Completion.model_validate_json(text)
            except ValueError:  # a row this version cannot read is a miss; the next put replaces it
                continue
        return found

    def put_many(self, entries: dict[str, Completion]) -> None:
        if not entries:
            return
        now = time.time()
        rows = [(key, completion.model_dump_json(), now) for key, completion in entries.items()]

        def insert(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")  # one transaction (one sync) per batch, not one per row
            try:
                db.executemany("INSERT OR REPLACE INTO calls (key, completion, created) VALUES (?, ?, ?)", rows)
            except BaseException:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # a damaged file may refuse even that; it is about to be replaced
                raise
            db.execute("COMMIT")

        self._run(insert, None)

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def _run(self, operation: Callable[[sqlite3.Connection], T], fallback: T) -> T:
        """Run one statement; on a SQLite error recover (see `_recover`) and try once more."""
        with self._lock:
            for _ in range(2):
                if self._db is None:
                    return fallback
                try:
                    return operation(self._db)
                except (sqlite3.Error, OSError) as exc:
                    self._db = self._recover(exc)
            return fallback

    def _connect(self) -> sqlite3.Connection:
        """Open (or create) the file and read it once, so a bad file shows here and not mid-run."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=60000")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # safe in WAL mode; a power cut may lose the last calls, no more
            db.execute(SCHEMA)
            db.execute("SELECT key, completion FROM calls LIMIT 1").fetchall()
            status = os.stat(self.path)
        except BaseException:
            db.close()
            raise
        self._opened = (status.st_dev, status.st_ino)
        return db

    def _recover(self, exc: BaseException) -> sqlite3.Connection | None:
        """A fresh file in place of a damaged one, or None (no cache) when that cannot be had."""
        self._close_quietly()
        reason = _reason(exc)
        if self.path.is_dir():
            self._warn(f"the call cache {self.path} is a folder, not a file; going on without a cache "
                       "(remove the folder, or set JUDGE_CACHE_DIR to another place)")
            return None
        if not damaged(exc):
            self._warn(f"the call cache {self.path} cannot be used ({reason}); going on without a cache")
            return None
        if self._recovered:  # the fresh file broke too: stop trying for this run
            self._warn(f"the call cache {self.path} is unreadable again ({reason}); going on without a cache")
            return None
        self._recovered = True
        try:
            aside = self._move_aside()
        except OSError as move_error:
            self._warn(f"the call cache {self.path} is unreadable ({reason}) and cannot be moved aside "
                       f"({_reason(move_error)}); going on without a cache")
            return None
        moved = f"moved it to {aside}" if aside else "another process has already moved it aside"
        try:
            db = self._connect()
        except (sqlite3.Error, OSError) as again:
            self._warn(f"the call cache {self.path} is unreadable ({reason}); {moved}; "
                       f"a fresh one cannot be made ({_reason(again)}); going on without a cache")
            return None
        self._warn(f"the call cache {self.path} is unreadable ({reason}); {moved}; going on with a fresh one")
        return db

    def _move_aside(self) -> Path | None:
        """Rename the file and its -wal/-shm; None when another process has already replaced it."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        if self._opened is not None and (status.st_dev, status.st_ino) != self._opened:
            return None  # not the file we found damaged: another process moved that one already
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.broken-{stamp}")
        number = 1
        while aside.exists():
            number += 1
            aside = self.path.with_name(f"{self.path.name}.broken-{stamp}-{number}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return None
        for suffix in ("-wal", "-shm"):
            try:
                os.rename(f"{self.path}{suffix}", f"{aside}{suffix}")
            except FileNotFoundError:
                pass
        return aside

    def _close_quietly(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass  # closing a damaged file may fail to checkpoint; it is being dropped anyway
            self._db = None


def _reason(exc: BaseException) -> str:
    """The error in a few words: 'Not a directory: /x/calls.sqlite', 'file is not a database'."""
    if isinstance(exc, OSError) and exc.filename and os.path.isfile(exc.filename):
        return f"{exc.filename} is a file, where a folder should be"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def cacheable(request: Request) -> bool:
    """Only answers that a second call would reproduce: greedy, or sampled with a seed."""
    return request.sampling.temperature == 0.0 or request.sampling.seed is not None


# Request fields added after answers were first cached: left out of the key while they hold their
# default, so an upgrade does not orphan every answer already in a user's cache.
_LATER_FIELDS: dict[str, Any] = {"whole_candidates": False, "tools": []}


def cache_key(identity: str, request: Request) -> str:
    dumped = request.model_dump(mode="json")
    for name, default in _LATER_FIELDS.items():
        if dumped.get(name) == default:
            del dumped[name]
    payload = json.dumps([identity, dumped], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CachingBackend:
    """Wraps any backend that declares a `cache_identity`; misses go through, hits cost nothing.

    The inner backend is started (its model loaded) only at the first cache miss, so a fully
    cached rerun loads nothing. A backend that learns its capabilities at start
    (`capabilities.exact_candidates is None`, e.g. a server) is started eagerly by `start()`.
    It forwards `cache_identity` and, when the inner backend has them, `token_count` and
    `probe_tool_calling`.
    """

    def __init__(self, inner: Backend, cache: CallCache) -> None:
        self.inner = inner
        self.cache = cache
        self.hits = 0
        self.misses = 0
        self._started = False
        self._start_error: Exception | None = None
        self._start_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        if hasattr(inner, "token_count"):
            self.token_count: Callable[[str], Awaitable[int | None]] = self._cached_token_count
        if hasattr(inner, "probe_tool_calling"):
            self.probe_tool_calling: Callable[[], Awaitable[bool | None]] = inner.probe_tool_calling

    @property
    def cache_identity(self) -> str:
        return self.inner.cache_identity  # type: ignore[attr-defined,no-any-return]

    @property
    def identity(self) -> str:
        return self.cache_identity

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    async def start(self) -> None:
        """Start now only a backend whose capabilities are unknown until it starts; others at the first miss."""
        if self.inner.capabilities.exact_candidates is None:
            await self._start_inner(remember_failure=False)

    async def complete(self, requests: list[Request]) -> list[Completion]:
        identity = self.cache_identity
        keys, found, missing = self._look_up(identity, requests)
        if missing and not self._started:
            await self._start_inner(remember_failure=True)
            if self.cache_identity != identity:  # the backend learnt what it is at start (its model name)
                keys, found, missing = self._look_up(self.cache_identity, requests)
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        answered = await self.inner.complete([requests[i] for i in missing]) if missing else []
        fresh = dict(zip(missing, answered))
        self.cache.put_many({keys[i]: c for i, c in fresh.items() if keys[i] is not None and c.error is None})  # type: ignore[misc]
        results = []
        for index, key in enumerate(keys):
            if index in fresh:
                results.append(fresh[index])
            else:
                hit = found[key]  # type: ignore[index]
                results.append(hit.model_copy(update={"usage": Usage(cached_requests=1)}))
        return results

    async def _cached_token_count(self, text: str) -> int | None:
        """The inner backend's answer, kept in the cache too: checking a program's candidate tokens
        must not load a tokenizer on a fully cached rerun. Stored as a completion whose text is the
        count; only a definite count is kept."""
        key = hashlib.sha256(json.dumps([self.cache_identity, "token_count", text]).encode("utf-8")).hexdigest()
        hit = self.cache.get_many([key]).get(key)
        if hit is not None and hit.texts and hit.texts[0].isdigit():
            return int(hit.texts[0])
        count = await self.inner.token_count(text)  # type: ignore[attr-defined]
        if count is not None:
            self.cache.put_many({key: Completion(texts=[str(int(count))])})
        return count

    def _look_up(
        self, identity: str, requests: list[Request]
    ) -> tuple[list[str | None], dict[str, Completion], list[int]]:
        keys = [cache_key(identity, r) if cacheable(r) else None for r in requests]
        found = self.cache.get_many([k for k in keys if k is not None])
        missing = [i for i, k in enumerate(keys) if k is None or k not in found]
        return keys, found, missing

    async def _start_inner(self, remember_failure: bool) -> None:
        """Start the inner backend once, however many batches miss at the same moment.

        A failure at the first miss is remembered (a model that did not load will not load on
        the next batch either) and answers every later miss; hits are still served.
        """
        async with self._lock_in_this_loop():
            if self._started:
                return
            if self._start_error is not None:
                raise self._start_error.with_traceback(None)
            start = getattr(self.inner, "start", None)
            try:
                if start is not None:
                    await start()
            except Exception as exc:
                if remember_failure:
                    self._start_error = exc
                raise
            self._started = True

    def _lock_in_this_loop(self) -> asyncio.Lock:
        # `Judge.score` runs a new event loop per call, and a lock belongs to the loop it waited in.
        loop = asyncio.get_running_loop()
        if self._start_lock is None or self._lock_loop is not loop:
            self._start_lock, self._lock_loop = asyncio.Lock(), loop
        return self._start_lock

    async def aclose(self) -> None:
        await self.inner.aclose()
        self._started, self._start_error = False, None


def with_cache(backend: Backend, cache: CallCache | str | Path | None = None) -> Backend:
    """The backend wrapped in a cache, or as it is when it cannot be cached (no identity)."""
    if getattr(backend, "cache_identity", None) is None:
        return backend
    if not isinstance(cache, CallCache):
        cache = CallCache(cache)
    return CachingBackend(backend, cache)  # type: ignore[return-value]
