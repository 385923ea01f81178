"""A content-addressed cache of model calls, so re-running a scored file costs nothing.

The key is a digest of the backend's identity (name, model, options that change answers) and the
full request (messages, sampling, candidates). Only reproducible requests are cached: greedy, or
sampled with a seed. SQLite in WAL mode keeps several processes writing to one file safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from judge.backend import Backend, Capabilities, Completion, Request
from judge.models import Usage


def cache_root() -> Path:
    """Where judge keeps what it can rebuild: $JUDGE_CACHE_DIR, else the user cache dir."""
    root = os.environ.get("JUDGE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "judge"
    return Path(root)


def default_cache_path() -> Path:
    return cache_root() / "calls.sqlite"


class CallCache:
    """Completions by key, in one SQLite file shared by every process of the user."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=60000")
        self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, completion TEXT NOT NULL, created REAL NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        if not keys:
            return {}
        with self._lock:
            marks = ",".join("?" * len(keys))
            rows = self._db.execute(f"SELECT key, completion FROM calls WHERE key IN ({marks})", keys).fetchall()
        return {key: Completion.model_validate_json(text) for key, text in rows}

    def put_many(self, entries: dict[str, Completion]) -> None:
        if not entries:
            return
        now = time.time()
        rows = [(key, completion.model_dump_json(), now) for key, completion in entries.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO calls (key, completion, created) VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def cacheable(request: Request) -> bool:
    """Only answers that a second call would reproduce: greedy, or sampled with a seed."""
    return request.sampling.temperature == 0.0 or request.sampling.seed is not None


def cache_key(identity: str, request: Request) -> str:
    payload = json.dumps([identity, request.model_dump(mode="json")], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CachingBackend:
    """Wraps any backend that declares a `cache_identity`; misses go through, hits cost nothing."""

    def __init__(self, inner: Backend, cache: CallCache) -> None:
        self.inner = inner
        self.cache = cache
        self.identity: str = inner.cache_identity  # type: ignore[attr-defined]
        self.name = inner.name
        self.model = inner.model
        self.hits = 0
        self.misses = 0

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    async def start(self) -> None:
        start = getattr(self.inner, "start", None)
        if start is not None:
            await start()

    async def complete(self, requests: list[Request]) -> list[Completion]:
        keys = [cache_key(self.identity, r) if cacheable(r) else None for r in requests]
        found = self.cache.get_many([k for k in keys if k is not None])
        missing = [i for i, k in enumerate(keys) if k is None or k not in found]
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

    async def aclose(self) -> None:
        await self.inner.aclose()


def with_cache(backend: Backend, cache: CallCache | str | Path | None = None) -> Backend:
    """The backend wrapped in a cache, or as it is when it cannot be cached (no identity)."""
    if getattr(backend, "cache_identity", None) is None:
        return backend
    if not isinstance(cache, CallCache):
        cache = CallCache(cache)
    return CachingBackend(backend, cache)  # type: ignore[return-value]
