"""Writing judgments as they finish, so an interrupted run keeps everything it had.

The rules that keep a user's data safe live here: the output is never the input, one process at a
time writes it (an exclusive lock), an old file is replaced only once the new run is under way,
and a failed write leaves the file ending on a whole line, so `--resume` always starts clean.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from judge.errors import JudgeError
from judge.files import replace_atomically
from judge.models import Judgment, Status

try:  # POSIX advisory locks; released by the kernel when the process dies, even by kill -9
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@dataclass
class OutputPlan:
    """What was checked about the output before any model work: nothing here has written a byte."""

    path: str
    resume: bool = False
    overwrite: bool = False
    exists: bool = False

    @property
    def to_stdout(self) -> bool:
        return self.path == "-"

    @property
    def lock_path(self) -> Path:
        target = Path(self.path)
        return target.with_name(target.name + ".lock")


def check_output(path: str, *, source: str, resume: bool, overwrite: bool) -> OutputPlan:
    """Refuse every output that would lose data or cannot be written, before anything is opened for writing."""
    if resume and overwrite:
        raise JudgeError("--resume keeps what the output has and --overwrite deletes it: pick one")
    if path == "-":
        if resume:
            raise JudgeError("--resume needs an output file (-o FILE), not stdout")
        return OutputPlan(path)
    target = Path(path)
    if not target.parent.is_dir():
        raise JudgeError(f"cannot write {path}: the folder {target.parent} does not exist")
    if target.is_dir():
        raise JudgeError(f"cannot write {path}: it is a folder; give a file name, e.g. {target / 'judgments.jsonl'}")
    if target.exists() and not target.is_file():
        raise JudgeError(f"cannot write {path}: not a regular file")
    if source != "-" and target.exists() and Path(source).exists() and os.path.samefile(source, target):
        raise JudgeError(f"the output {path} is the input file {source}: writing it would destroy the input; choose another -o")
    exists = target.exists() and target.stat().st_size > 0
    if exists and not (resume or overwrite):
        raise JudgeError(f"{path} already exists; pass --resume to continue it or --overwrite to start over")
    if not os.access(target.parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise JudgeError(f"cannot write {path}: permission denied")
    return OutputPlan(path, resume=resume, overwrite=overwrite, exists=exists)


class OutputLock:
    """An exclusive lock on `OUT.lock`, so two runs never write (or compact) one output at once."""

    def __init__(self, plan: OutputPlan) -> None:
        self.plan = plan
        self._handle: IO[str] | None = None

    def __enter__(self) -> OutputLock:
        if self.plan.to_stdout or fcntl is None:
            return self
        path = self.plan.lock_path
        try:
            handle = open(path, "a+", encoding="utf-8")
        except OSError as exc:
            raise JudgeError(f"cannot create the lock file {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise JudgeError(
                f"{self.plan.path} is being written by another judge run ({holder}; lock {path}); "
                "wait for it to finish, or write to another -o"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            try:
                self.plan.lock_path.unlink(missing_ok=True)
            finally:
                self._handle.close()  # closing releases the lock
            self._handle = None


@dataclass
class Resumed:
    """What an existing output already holds: ids to skip, and the setups it was written with."""

    done: set[str] = field(default_factory=set)
    setups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def note_setup(self, setup: dict[str, Any] | None) -> None:
        if setup is not None:
            self.setups.setdefault(json.dumps(setup, sort_keys=True), setup)


def compact_for_resume(plan: OutputPlan, accept: Callable[[Resumed], None] | None = None) -> Resumed:
    """Keep each id once, drop a line cut short by a kill or a full disk, and drop `error` judgments
    so those items run again. Call it only while holding the output's lock.

    `accept` sees what the file holds before anything is rewritten, and may refuse (raise): a
    refused resume leaves the file exactly as it was."""
    resumed = Resumed()
    if not plan.resume or not plan.exists:
        return resumed
    target = Path(plan.path)
    kept: dict[str, str] = {}
    with target.open("rb") as handle:
        for line in judgment_lines(handle):
            if line.status == Status.error.value:
                kept.pop(line.id, None)
                continue
            kept[line.id] = line.text
            resumed.note_setup(line.setup)
    if accept is not None:
        accept(resumed)
    _replace_atomically(target, "".join(kept.values()))
    resumed.done = set(kept)
    return resumed


@dataclass
class JudgmentLine:
    """One whole judgment line of an output file: its id, status and setup, and where it lies."""

    id: str
    status: str | None
    setup: dict[str, Any] | None
    offset: int
    raw: bytes

    @property
    def text(self) -> str:
        line = self.raw.decode("utf-8")
        return line if line.endswith("\n") else line + "\n"


def judgment_lines(handle: IO[bytes]) -> Iterator[JudgmentLine]:
    """The readable judgment lines of a file; a line cut short by a kill (or not a judgment) is skipped."""
    offset = 0
    for raw in handle:
        start, offset = offset, offset + len(raw)
        try:
            record = json.loads(raw.decode("utf-8"))
            judgment_id, status = str(record["id"]), record.get("status")
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
            continue  # the partial last line of a killed run
        setup = record.get("setup")
        yield JudgmentLine(judgment_id, status, setup if isinstance(setup, dict) else None, start, raw)


def _replace_atomically(target: Path, text: str) -> None:
    """Write beside the target and rename over it; on failure remove the temporary file."""
    try:
        replace_atomically(target, text)
    except OSError as exc:
        raise JudgeError(f"cannot rewrite {target} for --resume: {exc.strerror or exc}; it is unchanged") from None


class JudgmentWriter:
    """Appends one JSON line per judgment and flushes it, so a kill loses at most the line in flight.

    A write that fails (disk full, file too large, I/O error) is undone back to the last whole line
    and raised as a `JudgeError`: every finished judgment stays, and `--resume` starts clean.
    """

    def __init__(self, plan: OutputPlan) -> None:
        self.plan = plan
        self.written = 0
        if plan.to_stdout:
            self._handle: IO[bytes] = sys.stdout.buffer
            self._good = 0
            return
        mode = "wb" if plan.overwrite else "ab"  # --overwrite replaces the old file only now, as the run starts
        try:
            self._handle = open(plan.path, mode, buffering=0)  # unbuffered: a line is on disk when write returns
        except OSError as exc:
            raise JudgeError(f"cannot write {plan.path}: {exc.strerror or exc}") from None
        self._good = self._handle.tell()

    def write(self, judgment: Judgment) -> None:
        data = (judgment.model_dump_json() + "\n").encode("utf-8")
        try:
            if self.plan.to_stdout:
                self._handle.write(data)
                self._handle.flush()
            else:
                view = memoryview(data)
                while view:  # a raw write may write part of the line and say so
                    view = view[self._handle.write(view) or 0 :]
        except OSError as exc:
            if self.plan.to_stdout:
                raise
            self._undo_partial_line()
            reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror or str(exc)
            if exc.errno == errno.EFBIG:
                reason = "the file size limit was reached"
            raise JudgeError(
                f"cannot write {self.plan.path}: {reason}; the {self.written} judgments written so far are kept: "
                "free some space and run the same command with --resume"
            ) from None
        self._good += len(data)
        self.written += 1

    def _undo_partial_line(self) -> None:
        """Cut the file back to its last whole line (best effort: the disk may refuse even that)."""
        try:
            os.ftruncate(self._handle.fileno(), self._good)
        except OSError:
            pass

    def close(self) -> None:
        if self.plan.to_stdout:
            return
        try:
            self._handle.close()
        except OSError:  # the buffered bytes could not be flushed: cut back to whole lines
            try:
                os.truncate(self.plan.path, self._good)
            except OSError:
                pass

    def __enter__(self) -> JudgmentWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
