"""The code tool does its job: runs a program and reports its exit, output and limits, plainly."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from judge_tools import code as code_module
from judge_tools import sandbox
from judge_tools.code import CODE, MISSING_BWRAP, CodeSettings, describe

from judge.tools import ToolBox, ToolResult, ToolStatus

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed: "
                                 "apt-get install bubblewrap, or run scripts/setup.sh as root")


def run(code: str, **settings: object) -> ToolResult:
    box = ToolBox(tools={"code": (CODE, CodeSettings(**{"wall_seconds": 5, "cpu_seconds": 3, **settings}))})
    return asyncio.run(box.call("code", {"code": code}))


@needs_bwrap
def test_hello_world_prints_to_stdout() -> None:
    result = run("print('hello, world')")
    assert result.status is ToolStatus.ok, result.output
    assert result.output == "exit status: 0\n--- stdout ---\nhello, world"


@needs_bwrap
def test_stderr_and_a_failing_exit_status_come_back() -> None:
    result = run("import sys\nprint('half', end='')\nprint('went wrong', file=sys.stderr)\nsys.exit(3)")
    assert result.status is ToolStatus.ok
    assert result.output == "exit status: 3\n--- stdout ---\nhalf\n--- stderr ---\nwent wrong"


@needs_bwrap
def test_an_exception_is_a_traceback_on_stderr_with_status_1() -> None:
    result = run("1 / 0")
    assert result.output.startswith("exit status: 1\n--- stderr ---\nTraceback")
    assert "ZeroDivisionError" in result.output


@needs_bwrap
def test_a_silent_program_says_so_briefly() -> None:
    assert run("x = 1").output == "exit status: 0 (no output)"


@needs_bwrap
def test_a_file_written_in_the_temp_dir_works_and_is_gone_afterwards() -> None:
    name = f"judge-sandbox-{uuid.uuid4().hex}.txt"
    first = run(f"from pathlib import Path\nPath('{name}').write_text('kept')\nprint(Path('/tmp/{name}').read_text())")
    assert first.output == "exit status: 0\n--- stdout ---\nkept"
    second = run(f"import os\nprint(os.path.exists('/tmp/{name}'), sorted(os.listdir('/tmp')))")
    assert second.output == "exit status: 0\n--- stdout ---\nFalse ['main.py']"  # a fresh sandbox each call
    assert not (Path(tempfile.gettempdir()) / name).exists()  # the sandbox's /tmp is its own tmpfs


@needs_bwrap
def test_the_standard_library_imports_and_third_party_packages_do_not() -> None:
    program = ("import math, json, fractions, itertools, decimal\n"
               "print(math.comb(10, 3), json.dumps([fractions.Fraction(1, 3) + fractions.Fraction(1, 6)], default=str))\n"
               "try:\n    import pydantic\nexcept ImportError:\n    print('no pydantic')")
    assert run(program).output == "exit status: 0\n--- stdout ---\n120 [\"1/2\"]\nno pydantic"


@needs_bwrap
def test_the_program_sees_a_bare_environment_and_home_in_tmp() -> None:
    result = run("import os, sys\nprint(sorted(os.environ), os.path.expanduser('~'), os.getcwd(), sys.flags.isolated)")
    assert result.output == ("exit status: 0\n--- stdout ---\n"
                             "['HOME', 'LANG', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE'] /tmp /tmp 1")


@needs_bwrap
def test_the_cpu_limit_kills_with_sigxcpu_and_says_so() -> None:
    result = run("while True:\n    pass", wall_seconds=20, cpu_seconds=1)
    assert result.status is ToolStatus.ok
    assert result.output.startswith("killed by signal SIGXCPU (CPU time limit exceeded): it used up its 1 s of CPU time")


@needs_bwrap
def test_the_wall_clock_limit_is_a_timeout() -> None:
    started = time.monotonic()
    result = run("import time\ntime.sleep(60)", wall_seconds=1)
    assert result.status is ToolStatus.timeout
    assert result.output == "killed after the 1 s wall-clock limit"
    assert time.monotonic() - started < 1 + 10


@needs_bwrap
def test_long_output_is_cut_to_output_chars_with_a_note() -> None:
    result = run("print('a' * 5000)\nimport sys\nprint('b' * 50, file=sys.stderr)", output_chars=100)
    assert result.output == ("exit status: 0\n--- stdout ---\n" + "a" * 100 + "\n"
                             "[stdout truncated: 5001 bytes in all, the first 100 characters shown]\n"
                             "--- stderr ---\n" + "b" * 50)


@needs_bwrap
def test_a_file_larger_than_file_size_mb_cannot_be_written() -> None:
    program = ("try:\n    open('big', 'wb').write(b'x' * (2 * 1024 * 1024))\nexcept OSError as exc:\n"
               "    print(type(exc).__name__, exc.errno)")
    assert run(program, file_size_mb=1).output == "exit status: 0\n--- stdout ---\nOSError 27"  # EFBIG


@needs_bwrap
def test_the_python_option_picks_the_interpreter() -> None:
    python = "/usr/bin/python3"
    if not Path(python).exists():
        pytest.skip("no /usr/bin/python3 to name")
    result = run("import sys\nprint(sys.version_info[0])", python=python)
    assert result.output == "exit status: 0\n--- stdout ---\n3"


def test_check_says_how_to_install_bwrap_when_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_module.shutil, "which", lambda name, *a, **k: None)
    assert code_module.check(CodeSettings()) == MISSING_BWRAP
    box = ToolBox(tools={"code": (CODE, CodeSettings())})
    result = asyncio.run(box.call("code", {"code": "print(1)"}))
    assert result.status is ToolStatus.refused
    assert result.output == MISSING_BWRAP


@needs_bwrap
def test_check_names_a_python_option_that_does_not_exist() -> None:
    reason = code_module.check(CodeSettings(python="/nowhere/python9"))
    assert reason == "the python option '/nowhere/python9' is not an executable file nor a command on PATH"


@needs_bwrap
def test_check_says_when_the_python_option_does_not_run_in_the_sandbox(tmp_path: Path) -> None:
    fake = tmp_path / "prefix" / "bin" / "python3"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho this is no python >&2\nexit 3\n")
    fake.chmod(0o755)
    tmp_path.chmod(0o700)
    reason = code_module.check(CodeSettings(python=str(fake)))
    if os.geteuid() == 0:  # the sandbox runs as nobody, who cannot reach a 0700 directory
        assert reason is not None and reason.startswith("bubblewrap cannot make its sandbox here: Can't find source path")
    else:
        assert reason == f"{fake} does not run in the sandbox (this is no python); set the code tool's python option"


@needs_bwrap
def test_check_passes_here_and_its_probe_is_kept() -> None:
    assert code_module.check(CodeSettings()) is None
    assert any(found is None for found in code_module._PROBED.values())


def test_an_interpreter_whose_install_holds_this_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loose = tmp_path / "python3"  # not in a PREFIX/bin: its directory would be bound, and it holds the cwd
    loose.write_text("#!/bin/sh\n")
    loose.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(sandbox.SandboxError, match="would show the sandbox all of"):
        sandbox.find_interpreter(str(loose))


def test_settings_refuse_limits_outside_their_range() -> None:
    with pytest.raises(ValueError):
        CodeSettings(wall_seconds=0)
    with pytest.raises(ValueError):
        CodeSettings(wall_seconds=CODE.time_limit)  # the backstop stays above the sandbox's own limit


def test_describe_names_the_signal_and_the_flood() -> None:
    empty = sandbox.Captured(text="", total_bytes=0, truncated=False)
    segfault = sandbox.Outcome(exit_status=None, signal=11, stdout=empty, stderr=empty, timed_out=False,
                               flooded=False, seconds=0.1)
    assert describe(segfault, CodeSettings()) == "killed by signal SIGSEGV (segmentation fault) (no output)"
    flood = sandbox.Captured(text="y" * 10, total_bytes=20_000_000, truncated=True)
    flooded = sandbox.Outcome(exit_status=None, signal=None, stdout=flood, stderr=empty, timed_out=False,
                              flooded=True, seconds=0.1)
    assert describe(flooded, CodeSettings()) == ("killed after more than 10 MB of output\n--- stdout ---\nyyyyyyyyyy\n"
                                                 "[stdout truncated: 20000000 bytes in all, the first 10 characters shown]")


def test_the_tool_module_imports_light() -> None:
    import subprocess
    import sys

    program = "import sys, judge_tools.code; print('judge_tools.sandbox' in sys.modules, 'sympy' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                           env={"PYTHONPATH": str(Path(code_module.__file__).parent.parent)})
    assert found.stdout.split() == ["False", "False"]


@needs_bwrap
def test_start_up_time_of_a_trivial_run() -> None:
    """Measured, not asserted: what one sandboxed `pass` costs here."""
    run("pass")  # the first call also probes the sandbox
    times = []
    for _ in range(5):
        started = time.perf_counter()
        assert run("pass").status is ToolStatus.ok
        times.append(time.perf_counter() - started)
    print(f"\ncode tool: a trivial run takes {min(times) * 1000:.0f} ms (best of 5), {sorted(times)[2] * 1000:.0f} ms median")
