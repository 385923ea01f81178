"""Writing a file whole or not at all: a reader never sees half of it, a crash leaves the old one."""

from __future__ import annotations

import os
from pathlib import Path


def replace_atomically(target: Path, text: str) -> None:
    """Write beside `target`, flush to disk, rename over it; on any failure remove the temporary
    file and re-raise (the target is then unchanged)."""
    target = Path(target)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
