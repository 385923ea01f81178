"""Writing judgments as they finish, so an interrupted run keeps everything it had."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO

from judge.errors import JudgeError
from judge.models import Judgment, Status


def prepare_output(path: str, *, resume: bool, overwrite: bool) -> set[str]:
    """Ready the output file and return the ids already judged (to skip).

    With --resume the file is compacted first: a line cut short by a kill is dropped, each id is
    kept once, and `error` judgments are removed so those items run again.
    """
    if resume and overwrite:
        raise JudgeError("--resume keeps what the output has and --overwrite deletes it: pick one")
    if path == "-":
        if resume:
            raise JudgeError("--resume needs an output file (-o FILE), not stdout")
        return set()
    target = Path(path)
    if not target.exists() or target.stat().st_size == 0:
        return set()
    if overwrite:
        target.unlink()
        return set()
    if not resume:
        raise JudgeError(
            f"{path} already exists; pass --resume to continue it or --overwrite to start over"
        )
    kept: dict[str, str] = {}
    with target.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                judgment_id, status = str(record["id"]), record.get("status")
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # the partial last line of a killed run
            if status == Status.error.value:
                kept.pop(judgment_id, None)
            else:
                kept[judgment_id] = line if line.endswith("\n") else line + "\n"
    temporary = target.with_name(target.name + ".resume-tmp")
    temporary.write_text("".join(kept.values()), encoding="utf-8")
    os.replace(temporary, target)
    return set(kept)


class JudgmentWriter:
    """Appends one JSON line per judgment and flushes it, so a kill loses at most the line in flight."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._handle: IO[str] = sys.stdout if path == "-" else open(path, "a", encoding="utf-8")

    def write(self, judgment: Judgment) -> None:
        self._handle.write(judgment.model_dump_json(exclude_none=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not sys.stdout:
            self._handle.close()

    def __enter__(self) -> JudgmentWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
