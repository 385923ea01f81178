"""The code tool's sandbox holds against programs that attack it.

Each attack goes through the ToolBox as a judge's call would, and each test checks that the call
came back within its limit (with generous slack), said what happened, left nothing behind on the
host (no file, no process: every attack re-execs itself with a unique marker in its argv, which
the test then looks for in /proc), and that a normal call works afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from judge_tools.code import CODE, CodeSettings

from judge.tools import ToolBox, ToolResult, ToolStatus

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed: "
                                "apt-get install bubblewrap, or run scripts/setup.sh as root")

WALL = 5.0
SLACK = 10.0  # containment, not speed: a loaded machine may start the sandbox slowly
PROJECT = Path(__file__).resolve().parents[3]


def settings(**changes: object) -> CodeSettings:
    return CodeSettings(**{"wall_seconds": WALL, "cpu_seconds": 3, "memory_mb": 256, "processes": 16, **changes})


def call(code: str, **changes: object) -> ToolResult:
    box = ToolBox(tools={"code": (CODE, settings(**changes))})
    started = time.monotonic()
    result = asyncio.run(box.call("code", {"code": code}))
    assert time.monotonic() - started < WALL + SLACK, result
    return result


def marked(code: str, marker: str) -> str:
    """The attack, re-exec'd first so that it and every process it forks carry `marker` in argv."""
    return (f"import os, sys\nif {marker!r} not in sys.argv:\n"
            f"    os.execv(sys.executable, [sys.executable, '-I', '-S', 'main.py', {marker!r}])\n{code}")


def survivors(marker: str) -> list[int]:
    """Processes whose command line holds `marker`, after a short grace for the kernel to reap."""
    found: list[int] = []
    for _ in range(20):
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker.encode() in (entry / "cmdline").read_bytes():
                        found.append(int(entry.name))
                except OSError:
                    continue
        if not found:
            return []
        time.sleep(0.1)
    return found


def attack(code: str, **changes: object) -> tuple[ToolResult, str]:
    """Run one marked attack; assert no process of it survives and a normal call works after."""
    marker = f"judge-sandbox-attack-{secrets.token_hex(8)}"
    result = call(marked(code, marker), **changes)
    assert survivors(marker) == [], f"processes of the attack survived the call: {result}"
    assert call("print(6 * 7)").output == "exit status: 0\n--- stdout ---\n42"
    return result, marker


@pytest.fixture
def marker_files() -> Iterator[tuple[str, list[Path]]]:
    """A secret in a file in the user's home and one in the project; removed afterwards."""
    secret = f"judge-sandbox-secret-{secrets.token_hex(8)}"
    paths = [Path.home() / f".{secret}", PROJECT / f".{secret}"]
    for path in paths:
        path.write_text(secret)
    yield secret, paths
    for path in paths:
        path.unlink(missing_ok=True)


def test_an_infinite_loop_is_stopped_by_the_cpu_or_wall_limit() -> None:
    result, _ = attack("while True:\n    pass")
    if result.status is ToolStatus.timeout:  # a busy machine may reach the wall before 3 s of CPU
        assert result.output == f"killed after the {WALL:g} s wall-clock limit"
    else:
        assert result.status is ToolStatus.ok
        assert result.output.startswith("killed by signal SIGXCPU")


@pytest.mark.parametrize("bomb", [
    "while True:\n    os.fork()",
    "import time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)",
], ids=["fork-until-it-fails", "fork-forever"])
def test_a_fork_bomb_is_contained(bomb: str) -> None:
    result, _ = attack(bomb)
    assert result.status in (ToolStatus.ok, ToolStatus.timeout)
    if result.status is ToolStatus.ok:
        assert "BlockingIOError" in result.output or result.output.startswith("killed")
    assert subprocess.run(["true"], check=False).returncode == 0  # the host still forks


def test_the_process_limit_holds() -> None:
    program = ("import time\nn = 0\ntry:\n    for _ in range(100):\n        if os.fork() == 0:\n"
               "            time.sleep(30)\n            os._exit(0)\n        n += 1\nexcept OSError:\n    pass\nprint(n)")
    result, _ = attack(program, processes=10)
    assert result.output == "exit status: 0\n--- stdout ---\n8"  # 10 less the sandbox's pid 1 and the program


@pytest.mark.parametrize("bomb", ["x = bytearray(10 ** 10)", "x = []\nwhile True:\n    x.append(bytearray(10 ** 6))"],
                         ids=["10-GB-at-once", "growing-list"])
def test_a_memory_bomb_ends_in_a_memory_error(bomb: str) -> None:
    result, _ = attack(bomb)
    assert result.status is ToolStatus.ok
    assert "MemoryError" in result.output or result.output.startswith("killed by signal")


def test_files_in_the_home_and_the_project_cannot_be_read(marker_files: tuple[str, list[Path]]) -> None:
    secret, paths = marker_files
    program = (f"for path in {[str(p) for p in paths]!r} + ['/etc/passwd', '/etc/shadow']:\n"
               "    try:\n        print(open(path).read())\n    except OSError as exc:\n"
               "        print(type(exc).__name__)\n"
               "for top in ['/root', '/home', '/work', '/run', '/var', '/etc']:\n"
               "    print(top, os.listdir(top) if os.path.isdir(top) else 'absent')")
    result, _ = attack(program)
    assert result.status is ToolStatus.ok
    assert secret not in result.output
    assert "FileNotFoundError" in result.output


def test_nothing_can_be_written_outside_its_own_tmp() -> None:
    name = f"judge-sandbox-write-{secrets.token_hex(8)}"
    targets = [f"/usr/{name}", f"/etc/{name}", f"/{name}", f"/dev/{name}", str(Path.home() / name),
               str(PROJECT / name), str(Path(tempfile.gettempdir()) / name)]
    program = (f"for path in {targets!r}:\n    try:\n        open(path, 'w').write('x')\n        print('wrote', path)\n"
               "    except OSError as exc:\n        print('refused', path, type(exc).__name__)")
    result, _ = attack(program)
    assert result.status is ToolStatus.ok
    for target in targets:
        assert not Path(target).exists(), f"the sandbox created {target} on the host"
    for target in targets[:6]:  # the last is the sandbox's own /tmp in there
        assert f"refused {target}" in result.output


def test_no_connection_leaves_the_sandbox() -> None:
    accepted: list[object] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    program = ("import socket\n"
               f"for host, port in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)]:\n"
               "    try:\n        socket.create_connection((host, port), timeout=1).close()\n        print('CONNECTED', host)\n"
               "    except OSError as exc:\n        print('no', host, type(exc).__name__)\n"
               "try:\n    print('RESOLVED', socket.getaddrinfo('example.com', 80))\nexcept OSError as exc:\n"
               "    print('no dns', type(exc).__name__)")
    try:
        result, _ = attack(program)
    finally:
        stop.set()
        thread.join(2)
        server.close()
    assert result.status is ToolStatus.ok
    assert "CONNECTED" not in result.output and "RESOLVED" not in result.output
    assert "no dns" in result.output
    assert accepted == []


@pytest.mark.parametrize("escape", [
    ("if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
     "        os.execv('/bin/sleep', ['sleep-' + sys.argv[-1], '30'])\n    os._exit(0)\nprint('parent done')"),
    ("import subprocess\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', sys.argv[-1]],\n"
     "                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\nprint('parent done')"),
], ids=["double-fork-setsid-sleep", "popen-new-session"])
def test_a_detached_process_does_not_outlive_the_call(escape: str) -> None:
    result, _ = attack(escape)  # attack() asserts that no process with the marker is left
    assert result.output == "exit status: 0\n--- stdout ---\nparent done"


def test_the_environment_of_the_caller_is_not_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_hex(16)
    monkeypatch.setenv("JUDGE_SANDBOX_SECRET", secret)
    program = ("import glob\nprint(dict(os.environ))\n"
               "for path in glob.glob('/proc/*/environ'):\n    try:\n        print(open(path, 'rb').read())\n"
               "    except OSError as exc:\n        print(path, type(exc).__name__)")
    result, _ = attack(program)
    assert result.status is ToolStatus.ok
    assert secret not in result.output and "JUDGE_SANDBOX_SECRET" not in result.output


@pytest.mark.parametrize("flood", ["while True:\n    print('x' * 1000)", "sys.stdout.write('y' * 100_000_000)",
                                   "while True:\n    sys.stderr.write('z' * 65536)"],
                         ids=["print-forever", "100-MB-at-once", "stderr-forever"])
def test_a_flood_of_output_is_capped(flood: str) -> None:
    result, _ = attack(flood, output_chars=1000)
    assert result.status is ToolStatus.ok
    assert len(result.output) < 2 * 1000 + 500
    assert "truncated" in result.output


@pytest.mark.parametrize("kill", ["os.kill(os.getppid(), 9)", "os.kill(-1, 9)", "os.killpg(0, 9)",
                                  "os.kill(1, 9)\nimport signal\nos.kill(0, signal.SIGTERM)"],
                         ids=["its-parent", "everything", "its-group", "pid-1-then-its-group"])
def test_killing_its_parents_harms_only_itself(kill: str) -> None:
    result, _ = attack(kill + "\nprint('still here')")
    assert result.status is ToolStatus.ok  # the call came back with a status, and this process lives on
    assert result.output.startswith(("exit status:", "killed by signal"))


def test_a_segfault_is_reported_as_such() -> None:
    result, _ = attack("import ctypes\nctypes.string_at(0)")
    assert result.status is ToolStatus.ok
    assert result.output.startswith("killed by signal SIGSEGV (segmentation fault)")


@pytest.mark.parametrize("bomb", ["while True:\n    pass", ("while True:\n    try:\n        os.fork()\n"
                                                          "    except OSError:\n        pass"), "x = bytearray(10 ** 10)"],
                         ids=["busy-loop", "fork-bomb", "memory-bomb"])
def test_the_engine_goes_on_with_other_calls_during_an_attack(bomb: str) -> None:
    marker = f"judge-sandbox-attack-{secrets.token_hex(8)}"
    normal = ("import subprocess, sys\n"
              "print(subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True).stdout, end='')")
    attacked_box = ToolBox(tools={"code": (CODE, settings())})
    normal_box = ToolBox(tools={"code": (CODE, settings(wall_seconds=30))})  # it may share the CPU with the attack

    async def both() -> list[ToolResult]:
        return await asyncio.gather(attacked_box.call("code", {"code": marked(bomb, marker)}),
                                    normal_box.call("code", {"code": normal}))

    started = time.monotonic()
    attacked, fine = asyncio.run(both())
    assert time.monotonic() - started < 30 + SLACK
    assert fine.output == "exit status: 0\n--- stdout ---\n42"
    assert attacked.status in (ToolStatus.ok, ToolStatus.timeout)
    assert survivors(marker) == []


def test_the_sandbox_cannot_see_other_processes_or_gain_privileges() -> None:
    program = ("import ctypes\n"
               "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
               "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
               "try:\n    os.setuid(0)\n    print('allowed setuid')\nexcept OSError as exc:\n    print('refused', type(exc).__name__)\n"
               "libc = ctypes.CDLL(None, use_errno=True)\n"
               "print('unshare', libc.unshare(0x10000000), ctypes.get_errno())  # CLONE_NEWUSER")
    result, _ = attack(program)
    lines = result.output.splitlines()
    assert lines[0] == "exit status: 0"
    pids = [int(pid) for pid in lines[2].strip("[]").split(", ")]
    assert max(pids) < 10  # its own pid namespace: its pid 1, itself, and nothing of the host
    assert lines[3] == "0000000000000000"  # no capabilities
    assert lines[4].startswith("refused")  # EINVAL: no uid 0 in its user namespace, or EPERM
    assert lines[5].startswith("unshare -1 ")  # --disable-userns: no user namespace within
