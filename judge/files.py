"""Writing a file whole or not at all: a reader never sees half of it, a crash leaves the old one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path


def replace_atomically(target: Path, text: str | Iterable[str]) -> None:
    """Write `text` (or its pieces, in order, never all in memory at once) beside `target`, flush
    to disk, rename over it; on any failure remove the temporary file and re-raise (the target is
    then unchanged)."""
    target = Path(target)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):  # the folder itself may be what failed
            temporary.unlink(missing_ok=True)
        raise
