"""Judging a Ray Dataset on a pool of actors, one judge engine per actor (`pip install judge[ray]`).

    import ray.data
    from judge.integrations.ray import judge_dataset

    items = ray.data.read_parquet("s3://bucket/rollouts/")
    judgments = judge_dataset(items, load_rubric("helpfulness"), workers=8, num_gpus=1,
                              backend="vllm", model="Qwen/Qwen3-8B")
    judgments.write_parquet("s3://bucket/judgments/")

Built on `Dataset.map_batches` with a callable class and `ActorPoolStrategy(size=workers)`: each
actor builds its judge once (loads the model once) and judges every batch it is given through the
engine's own scheduler, several batches at once, so their model calls share batches. Ray imports
only when this module is used.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import threading
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

from judge.backend import Backend
from judge.engine import Judge, Session
from judge.errors import InputError
from judge.inputs import row_to_item
from judge.models import Item, Judgment, Status
from judge.integrations.parquet import judgment_table
from judge.parts import Parts

T = TypeVar("T")

def judge_dataset(
    dataset: Any,
    rubric: Any = None,
    *,
    make_judge: Callable[[], Judge] | None = None,
    workers: int = 2,
    batch_size: int = 32,
    batches_in_flight: int = 2,
    num_cpus: float = 1,
    num_gpus: float = 0,
    lines: bool = False,
    parts: str | Path | None = None,
    done: Iterable[str] = (),
    ray_remote_args: dict[str, Any] | None = None,
    **judge_options: Any,
) -> Any:
    """A lazy `ray.data.Dataset` of judgments, one row per item of `dataset` (the columns of
    `judge.integrations.parquet.COLUMNS`).

    Items are rows with the fields of a `judge score` input line (id, prompt, response or
    responses, reference, ...); with `lines=True` each row is one JSON line in a `text` column
    (`ray.data.read_text`). A row with no id gets one from its content (`row-<sha256>`), the same
    in every run. `rubric` and `judge_options` are `Judge`'s own, except that the backend is given
    by name (`backend="vllm"`, `backend_options={...}`): each actor builds its own. `make_judge`
    replaces both with a function that builds the judge in the actor.

    `num_gpus` is per actor (a vLLM judge with tensor parallelism takes several). `parts` is a
    folder every actor writes each finished block into (see `judge.parts`); ids in `done` are not
    judged again. Ray's actor fault tolerance is on: a dead actor is restarted and its batches are
    retried (`max_restarts=-1`, `max_task_retries=-1`; override through `ray_remote_args`).
    """
    import ray.data

    if make_judge is None:
        if rubric is None:
            raise TypeError("judge_dataset needs a rubric (or make_judge)")
        if isinstance(judge_options.get("backend"), Backend):
            raise TypeError("give the backend by name (backend='vllm', backend_options={...}): "
                            "each Ray actor builds and loads its own")
        make_judge = functools.partial(Judge, rubric, **judge_options)
    elif rubric is not None or judge_options:
        raise TypeError("give make_judge, or a rubric and Judge options, not both")
    if workers < 1 or batch_size < 1 or batches_in_flight < 1:
        raise ValueError("workers, batch_size and batches_in_flight are at least 1")
    return dataset.map_batches(
        JudgeWorker,
        fn_constructor_kwargs={
            "make_judge": make_judge, "parts": None if parts is None else str(parts),
            "done": frozenset(done), "lines": lines,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        # Batches run at once on one actor: their items share the judge's scheduler (JudgeWorker).
        compute=ray.data.ActorPoolStrategy(size=workers, max_concurrent_calls_per_actor=batches_in_flight,
                                           max_tasks_in_flight_per_actor=batches_in_flight * 2,
                                           enable_true_multi_threading=True),
        num_cpus=num_cpus,
        num_gpus=num_gpus or None,
        **(ray_remote_args or {}),
    )


class JudgeWorker:
    """One Ray actor's judge: built once, kept open, fed batches from Ray's threads.

    The judge's session (its scheduler, its loaded model) lives on an event loop in a thread of
    its own; each batch is a coroutine handed to it, so batches that arrive together share the
    model's batches exactly as a `judge serve` request does.
    """

    def __init__(self, make_judge: Callable[[], Judge], parts: str | None = None, done: frozenset[str] = frozenset(),
                 lines: bool = False) -> None:
        self.parts = None if parts is None else Parts(parts)
        self.done = done
        self.lines = lines
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="judge-loop", daemon=True).start()
        self.judge = make_judge()
        self._session = self.judge.session()
        self.session: Session = self._run(self._session.__aenter__())  # loads the model, once

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def __call__(self, batch: Any) -> Any:
        items, judgments = self.read(batch.to_pylist())
        judgments += self._run(self.session.judge(items))
        if self.parts is not None:
            self.parts.write(judgments)  # on disk before Ray hears the block is done
        return judgment_table(judgments)

    def read(self, rows: list[dict[str, Any]]) -> tuple[list[Item], list[Judgment]]:
        """Items to judge, and `error` judgments for rows that cannot be items; ids already done
        (or seen earlier in this batch) are left out."""
        items: list[Item] = []
        failed: list[Judgment] = []
        seen: set[str] = set()
        for row in rows:
            if self.lines and not row["text"].strip():
                continue  # a blank line, as `judge score` skips it
            item = row_item(row["text"] if self.lines else row)
            if item.id in self.done or item.id in seen:
                continue
            seen.add(item.id)
            if isinstance(item, Judgment):
                failed.append(item)
            else:
                items.append(item)
        return items, failed

    def __del__(self) -> None:  # Ray ends an idle pool's actors: close the backend (a server's connections)
        try:
            self._run(self._session.__aexit__(None, None, None))
            self._run(self.judge.aclose())
            self.loop.call_soon_threadsafe(self.loop.stop)
        except Exception:  # noqa: BLE001 - the process is going away; nothing to report to
            pass


def row_item(row: str | dict[str, Any]) -> Item | Judgment:
    """A row as an item, or an `error` judgment that says why it cannot be one (the row's text kept).

    A row without a usable id is named by its content, so a resumed run knows it again (only such
    a row is hashed)."""
    if isinstance(row, str):
        row = row.removeprefix("\ufeff")  # a byte-order mark on a file's first line
        try:
            data: Any = json.loads(row)
        except json.JSONDecodeError as exc:
            return _unreadable(_content_id(row), f"not JSON: {exc.msg}", row)
    else:
        data = {key: value for key, value in row.items() if value is not None}  # a null column: absent
    given = data.get("id") if isinstance(data, dict) else None
    usable = isinstance(given, (str, int)) and not isinstance(given, bool) and str(given).strip()
    name = str(given) if usable else _content_id(_shown(row))
    if isinstance(data, dict) and "id" not in data:
        data = {**data, "id": name}
    try:
        return row_to_item(data, 0, f"row {name}")
    except InputError as exc:
        return _unreadable(name, str(exc), _shown(row))


def _shown(row: str | dict[str, Any]) -> str:
    return row if isinstance(row, str) else json.dumps(row, sort_keys=True, default=str)


def _content_id(text: str) -> str:
    return "row-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _unreadable(name: str, problem: str, text: str) -> Judgment:
    return Judgment(id=name, status=Status.error, mode="input", error=problem, metadata={"row": text[:2000]})
