"""The `code` tool: the judge runs a Python program to check a claim, in a bubblewrap sandbox.

The sandbox itself (namespaces, limits, kills) is judge_tools.sandbox; this module is the tool's
contract: its arguments and settings, the check that says why it cannot run, and the text the
judge reads back:

    exit status: 1
    --- stdout ---
    ...
    --- stderr ---
    Traceback ...

A stream with nothing on it is left out ("exit status: 0 (no output)" when both are empty). A
program killed by a signal reads "killed by signal SIGSEGV (segmentation fault)" in place of the
exit status; one past the wall clock is a `timeout` (ToolTimeout), after the sandbox is killed.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from judge.tools import Tool, ToolRefused, ToolTimeout

MAX_WALL_SECONDS = 60.0
MAX_OUTPUT_CHARS = 20000
MISSING_BWRAP = ("the code tool needs bubblewrap (`bwrap`), which is not installed: apt-get install bubblewrap "
                 "(or run scripts/setup.sh as root)")


class CodeArgs(BaseModel):
    """What the judge sends: one Python program, run as a script (stdlib only)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="a complete Python 3 program; print what you want to see", max_length=1_000_000)


class CodeSettings(BaseModel):
    """What a user sets with --tool-option code.NAME=VALUE: the sandbox's limits and interpreter."""

    model_config = ConfigDict(extra="forbid")

    wall_seconds: float = Field(10.0, gt=0, le=MAX_WALL_SECONDS)
    cpu_seconds: int = Field(5, ge=1, le=600)
    memory_mb: int = Field(512, ge=64, le=65536)  # address space, so it must fit Python itself
    processes: int = Field(32, ge=2, le=4096)  # the sandbox's own pid 1 and the program count
    file_size_mb: int = Field(16, ge=0, le=4096)
    open_files: int = Field(64, ge=16, le=65536)
    output_chars: int = Field(4000, ge=100, le=MAX_OUTPUT_CHARS)  # kept of stdout, and of stderr
    python: str | None = None  # default: this Python's base interpreter, or /usr/bin/python3


def check(settings: CodeSettings | None) -> str | None:
    """Why the code tool cannot run here: no bwrap, no interpreter, or no sandbox possible."""
    from judge_tools import sandbox

    settings = settings or CodeSettings()
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return MISSING_BWRAP
    try:
        interpreter = sandbox.find_interpreter(settings.python)
    except sandbox.SandboxError as exc:
        return str(exc)
    return probe(bwrap, interpreter)


_PROBED: dict[tuple[str, Any], str | None] = {}


def probe(bwrap: str, interpreter: Any) -> str | None:
    """Run `pass` in the sandbox once: why it cannot run here, or None. A definite answer is kept
    for the process; a time-out or a failure to start bwrap at all (out of processes) is not."""
    from judge_tools.sandbox import Limits, SandboxError, run_python

    key = (bwrap, interpreter)
    if key in _PROBED:
        return _PROBED[key]
    try:
        outcome = run_python("pass", Limits(wall_seconds=20, output_chars=2000), interpreter, bwrap)
    except SandboxError as exc:
        found: str | None = f"bubblewrap cannot make its sandbox here: {exc}{_hint(str(exc))}"
    except OSError as exc:
        return f"bubblewrap could not start: {exc}"
    else:
        if outcome.timed_out:
            return "the sandbox did not start a trivial Python program within 20 s"
        found = None
        if outcome.exit_status != 0:
            said = " ".join(outcome.stderr.text.split())[-300:] or "no message"
            found = f"{interpreter.executable} does not run in the sandbox ({said}); set the code tool's python option"
    _PROBED[key] = found
    return found


def _hint(reason: str) -> str:
    """What to do about a bwrap failure we recognise."""
    from judge_tools.sandbox import NOBODY

    if "Permission denied" in reason and "source path" in reason and os.geteuid() == 0:
        return (f" (as root the sandbox runs as uid {NOBODY}, which cannot reach that path: set the code tool's "
                "python option to an interpreter others can read, such as /usr/bin/python3)")
    try:
        restricted = Path("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").read_text().strip() == "1"
    except OSError:
        restricted = False
    if restricted:
        return (" (AppArmor forbids unprivileged user namespaces here: give bwrap an AppArmor profile, or "
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)")
    if "uid map" in reason or "namespace" in reason:
        return " (unprivileged user namespaces may be disabled: check sysctl user.max_user_namespaces)"
    return ""


def run_code(arguments: CodeArgs, settings: CodeSettings | None = None) -> str:
    """Run the program in a fresh sandbox; its exit status and output, as text."""
    from judge_tools import sandbox

    settings = settings or CodeSettings()
    reason = check(settings)
    if reason is not None:
        raise ToolRefused(reason)
    limits = sandbox.Limits(wall_seconds=settings.wall_seconds, cpu_seconds=settings.cpu_seconds,
                            memory_mb=settings.memory_mb, processes=settings.processes,
                            file_size_mb=settings.file_size_mb, open_files=settings.open_files,
                            output_chars=settings.output_chars)
    bwrap = shutil.which("bwrap") or "bwrap"
    outcome = sandbox.run_python(arguments.code, limits, sandbox.find_interpreter(settings.python), bwrap)
    if outcome.timed_out:
        raise ToolTimeout(f"killed after the {settings.wall_seconds:g} s wall-clock limit")
    return describe(outcome, settings)


def describe(outcome: object, settings: CodeSettings) -> str:
    """The text the judge reads: how the program ended, then each stream that has something."""
    from judge_tools.sandbox import FLOOD_BYTES, Outcome

    assert isinstance(outcome, Outcome)
    if outcome.flooded:
        head = f"killed after more than {FLOOD_BYTES // (1024 * 1024)} MB of output"
    elif outcome.signal is not None:
        head = f"killed by signal {_signal_name(outcome.signal)}"
        if outcome.signal == signal.SIGXCPU:
            head += f": it used up its {settings.cpu_seconds} s of CPU time"
    else:
        head = f"exit status: {outcome.exit_status}"
    parts = [head]
    for name, captured in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
        if captured.total_bytes == 0:
            continue
        text = captured.text if captured.text.endswith("\n") else captured.text + "\n"
        parts.append(f"--- {name} ---\n{text}".rstrip("\n"))
        if captured.truncated:
            shown = len(captured.text)
            parts.append(f"[{name} truncated: {captured.total_bytes} bytes in all, the first {shown} characters shown]")
    if len(parts) == 1:
        parts[0] += " (no output)"
    return "\n".join(parts)


def _signal_name(number: int) -> str:
    """'SIGSEGV (segmentation fault)'."""
    name = signal.Signals(number).name
    said = signal.strsignal(number) or ""
    if said[1:2].islower():  # 'Segmentation fault', but not 'CPU time limit exceeded'
        said = said[0].lower() + said[1:]
    return f"{name} ({said})" if said else name


CODE = Tool(
    name="code",
    description="runs a Python program in a sandbox (no network, no files of yours) and returns its exit status, "
                "stdout and stderr",
    function=run_code,
    arguments=CodeArgs,
    settings=CodeSettings,
    check=check,
    time_limit=MAX_WALL_SECONDS + 15,  # a backstop: the sandbox enforces wall_seconds itself
    output_cap=2 * MAX_OUTPUT_CHARS + 500,
    deterministic=False,
)
