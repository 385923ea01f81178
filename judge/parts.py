"""A scaled-out run's judgments, written per block by many workers and merged into one file by id.

Each worker writes every block it finishes as a part file of its own, whole or not at all (a
temporary name, then a rename), so a killed worker or driver loses only the blocks in flight.
A resumed run skips every id a part (or the output) already holds; a block that was retried after
its worker died may appear twice, and the merge keeps each id exactly once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from judge.errors import JudgeError
from judge.files import replace_atomically
from judge.models import Judgment, Status
from judge.output import Resumed, judgment_lines

PART_SUFFIX = ".jsonl"


def parts_folder_for(output: str) -> Path:
    """Where a run writing OUTPUT keeps its parts until the merge: `OUTPUT.parts/` beside it."""
    target = Path(output)
    return target.with_name(target.name + ".parts")


@dataclass
class Merged:
    """What a merge wrote: judgments by id, and how many extra copies of an id it dropped."""

    judgments: int = 0
    errors: int = 0
    duplicates: int = 0


class Parts:
    """The part files of one run, in a folder every worker can write (shared storage on a cluster)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def exists(self) -> bool:
        return self.folder.is_dir() and any(self.files())

    def files(self) -> list[Path]:
        """Finished parts, oldest first (their names start with the time they were written)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.endswith(PART_SUFFIX) and not p.name.startswith("."))

    def write(self, judgments: Iterable[Judgment]) -> Path | None:
        """One block's judgments as one part file, appearing whole or not at all; None when empty."""
        text = "".join(judgment.model_dump_json() + "\n" for judgment in judgments)
        if not text:
            return None
        part = self.folder / f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{PART_SUFFIX}"
        self.folder.mkdir(parents=True, exist_ok=True)
        replace_atomically(part, text)  # a hidden temporary name until whole: never read as a part
        return part

    def scan(self, also: Path | None = None) -> Resumed:
        """Ids already judged (an `error` judgment does not count: that item runs again) and the
        setups they were judged with, from the parts and from `also` (an earlier output)."""
        resumed = Resumed()
        for path in self._sources(also):
            with path.open("rb") as handle:
                for line in judgment_lines(handle):
                    if line.status == Status.error.value:
                        continue
                    resumed.done.add(line.id)
                    resumed.note_setup(line.setup)
        return resumed

    def merge_into(self, output: Path, *, keep: Path | None = None, remove: bool = True) -> Merged:
        """Write `output` with each id exactly once, then remove the parts (unless `remove` is False:
        a caller that turns `output` into something else removes them once that is done).

        An id judged more than once (a retried block, an error judged again after a resume) keeps
        its first non-error judgment, else its last error. `keep` is an earlier output whose
        judgments count as parts (a resumed run's file). The output appears whole or not at all.
        """
        sources = self._sources(keep)
        chosen: dict[str, tuple[int, int, bool]] = {}  # id -> (source, offset, is an error)
        merged = Merged()
        for index, path in enumerate(sources):
            with path.open("rb") as handle:
                for line in judgment_lines(handle):
                    error = line.status == Status.error.value
                    previous = chosen.get(line.id)
                    if previous is not None:
                        merged.duplicates += 1
                        if not previous[2]:  # a non-error judgment is never replaced
                            continue
                    chosen[line.id] = (index, line.offset, error)
        wanted = {(source, offset) for source, offset, _ in chosen.values()}

        def kept() -> Iterator[str]:
            for index, path in enumerate(sources):
                with path.open("rb") as handle:
                    for line in judgment_lines(handle):
                        if (index, line.offset) in wanted:
                            merged.judgments += 1
                            merged.errors += line.status == Status.error.value
                            yield line.text

        try:
            replace_atomically(output, kept())
        except OSError as exc:
            raise JudgeError(f"cannot write {output}: {exc.strerror or exc}; the parts in {self.folder} are kept, "
                             "run the same command with --resume to merge them") from None
        if remove:
            self.remove()
        return merged

    def add_earlier(self, lines: Iterable[str]) -> None:
        """Judgments of an earlier output (another format's) as the oldest part, so a resume skips
        them and the merge keeps them."""
        earlier = self.folder / f"{0:020d}-0-earlier{PART_SUFFIX}"
        if earlier.exists():  # left by a resume that was itself interrupted: the same judgments
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        replace_atomically(earlier, lines)

    def remove(self) -> None:
        """Delete this run's files (parts, unfinished parts, the merge's scratch), then the folder if
        that leaves it empty: a `--parts` folder may hold other things, which are never touched."""
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            ours = path.name.endswith((PART_SUFFIX, ".tmp", ".partial")) or path.name.startswith(".visible-")
            if ours and path.is_file():
                path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.folder.rmdir()

    def _sources(self, also: Path | None) -> list[Path]:
        earlier = [also] if also is not None and also.is_file() and also.stat().st_size > 0 else []
        return earlier + self.files()
