"""Scratch folders for bench scripts, removed when the script exits.

A bench run converts a model into its own cache (about 0.5 GB) and writes work files; left in
/tmp after every run they filled the disk that CI shares, so each folder is removed at exit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_dir(prefix: str = "judge-bench-") -> Path:
    """A new empty folder, removed (with everything in it) when the interpreter exits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
