"""Runs a Python program in a bubblewrap sandbox, within limits, and kills all of it when done.

The program sees a read-only /usr (and the interpreter's own install), a fresh size-capped tmpfs
at /tmp as its only writable place, no network, no other process, no environment of ours. Limits
are rlimits set inside the sandbox (so RLIMIT_NPROC counts the sandbox's user namespace only), a
wall clock enforced here by killing bwrap (its pid 1 dies with it, and with it every process in
the pid namespace), and an output ceiling. When we are root, bwrap runs as `nobody`, because the
kernel never applies RLIMIT_NPROC to uid 0. No judge logic here: see judge_tools.code.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534  # the uid and gid bwrap runs as when we are root
FLOOD_BYTES = 10 * 1024 * 1024  # more than this on stdout or stderr ends the run
TMP_MB = 64  # size of the writable /tmp tmpfs
SHM_MB = 16  # size of /dev/shm (multiprocessing's semaphores live there)
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"

# Set inside the sandbox, after bwrap made the user namespace, then exec'd into the program; a
# limit above the hard limit we were given is lowered to it.
_BOOT = (
    "import os,resource as r,sys\n"
    "for n,v in zip(('CPU','AS','NPROC','FSIZE','NOFILE','CORE'),sys.argv[1:7]):\n"
    " k=getattr(r,'RLIMIT_'+n);m=r.getrlimit(k)[1];s,h=map(int,v.split(':'))\n"
    " r.setrlimit(k,(s,h) if m==r.RLIM_INFINITY else (min(s,m),min(h,m)))\n"
    "os.execv(sys.executable,[sys.executable,'-I','-S',*sys.argv[7:]])\n"
)


class SandboxError(Exception):
    """bwrap could not set the sandbox up (the message is its reason)."""


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 5
    memory_mb: int = 512
    processes: int = 32
    file_size_mb: int = 16
    open_files: int = 64
    output_chars: int = 4000


@dataclass(frozen=True)
class Interpreter:
    """A Python the sandbox can run: its real path, the install roots bound read-only beside /usr."""

    executable: str
    roots: tuple[str, ...] = ()
    library_path: str | None = None  # LD_LIBRARY_PATH inside, for a shared-libpython build


@dataclass(frozen=True)
class Captured:
    text: str  # at most output_chars characters
    total_bytes: int
    truncated: bool


@dataclass(frozen=True)
class Outcome:
    exit_status: int | None  # None when killed by a signal, by the wall clock or for flooding
    signal: int | None
    stdout: Captured
    stderr: Captured
    timed_out: bool
    flooded: bool
    seconds: float


def run_python(code: str, limits: Limits, interpreter: Interpreter, bwrap: str) -> Outcome:
    """Run `code` as /tmp/main.py; returns once every process of the sandbox is gone."""
    started = time.monotonic()
    code_fd = os.memfd_create("main.py")
    status_r, status_w = os.pipe()
    try:
        os.write(code_fd, code.encode("utf-8"))
        os.lseek(code_fd, 0, os.SEEK_SET)
        proc = subprocess.Popen(
            bwrap_command(bwrap, interpreter, limits, code_fd, status_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, cwd="/", env={"PATH": "/usr/bin:/bin"},
            start_new_session=True, pass_fds=(code_fd, status_w), **_drop_root())
    except BaseException:
        os.close(status_r)
        raise
    finally:
        os.close(code_fd)
        os.close(status_w)
    try:
        timed_out, flooded, (out, err) = _supervise(proc, started + limits.wall_seconds, limits.output_chars)
    finally:
        if proc.returncode is None:  # supervising failed: leave nothing running
            _kill(proc)
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
        status = _read_status(status_r)
    if not timed_out and not flooded and "exit-code" not in status:  # the sandbox's pid 1 never ran it
        raise SandboxError(_bwrap_reason(err.text, proc.returncode))
    code_seen = status.get("exit-code", -1)
    killed = timed_out or flooded
    signum = code_seen - 128 if not killed and code_seen - 128 in signal.valid_signals() else None
    exit_status = None if killed or signum is not None else code_seen
    return Outcome(exit_status=exit_status, signal=signum, stdout=out, stderr=err, timed_out=timed_out,
                   flooded=flooded, seconds=time.monotonic() - started)


def bwrap_command(bwrap: str, interpreter: Interpreter, limits: Limits, code_fd: int, status_fd: int) -> list[str]:
    """The bwrap argv: namespaces, a read-only system, a tmpfs /tmp with main.py, and the limits."""
    has = _options(bwrap)
    command = [bwrap, "--unshare-all", "--unshare-user", *(["--disable-userns"] if "--disable-userns" in has else []),
               "--die-with-parent", "--new-session",
               "--hostname", "sandbox", "--cap-drop", "ALL", "--clearenv",
               "--setenv", "PATH", SANDBOX_PATH, "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8",
               "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):  # merged /usr: links; else bound
        path = Path("/") / name
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            command += ["--ro-bind", str(path), str(path)]
    for name in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"):
        command += ["--ro-bind-try", name, name]
    for root in interpreter.roots:
        command += ["--ro-bind", root, root]
    if interpreter.library_path:
        command += ["--setenv", "LD_LIBRARY_PATH", interpreter.library_path]
    command += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "01777", *_size(SHM_MB, has), "--tmpfs", "/dev/shm",
                "--perms", "01777", *_size(TMP_MB, has), "--tmpfs", "/tmp",
                "--file", str(code_fd), "/tmp/main.py",
                "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--json-status-fd", str(status_fd)]
    rlimits = [(limits.cpu_seconds, limits.cpu_seconds + 1), (limits.memory_mb << 20,) * 2, (limits.processes,) * 2,
               (limits.file_size_mb << 20,) * 2, (limits.open_files,) * 2, (0, 0)]
    return command + ["--", interpreter.executable, "-I", "-S", "-c", _BOOT, *(f"{s}:{h}" for s, h in rlimits), "main.py"]


_OPTIONS: dict[str, frozenset[str]] = {}


def _options(bwrap: str) -> frozenset[str]:
    """The options this bwrap knows (older ones lack --size and --disable-userns); kept once read."""
    if bwrap not in _OPTIONS:
        try:
            said = subprocess.run([bwrap, "--help"], check=False, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return frozenset()
        _OPTIONS[bwrap] = frozenset(word for word in said.split() if word.startswith("--"))
    return _OPTIONS[bwrap]


def _size(megabytes: int, has: frozenset[str]) -> list[str]:
    return ["--size", str(megabytes << 20)] if "--size" in has else []


def find_interpreter(python: str | None = None) -> Interpreter:
    """The Python to run: `python` (a path or a name on PATH), or the base interpreter of this one.

    An interpreter outside /usr has its install (PREFIX of PREFIX/bin/python) bound read-only. When
    we are root the sandbox runs as nobody, so the default falls back to /usr/bin/python3 when
    nobody cannot reach this interpreter (a pyenv under /root).
    """
    if python is None:
        executable = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
        roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
        if os.geteuid() == 0 and not all(_others_can_reach(p) for p in (executable, *roots)):
            if not os.access("/usr/bin/python3", os.X_OK):
                raise SandboxError(f"the sandbox runs as uid {NOBODY}, which cannot reach {executable}, and there is "
                                   "no /usr/bin/python3: set the code tool's python option to a readable interpreter")
            executable, roots = os.path.realpath("/usr/bin/python3"), set()
    else:
        import shutil

        found = shutil.which(python)
        if found is None:
            raise SandboxError(f"the python option '{python}' is not an executable file nor a command on PATH")
        executable = os.path.realpath(found)
        home = Path(executable).parent
        roots = {str(home.parent if home.name == "bin" else home)}
    roots = {root for root in roots if not _under(root, "/usr")}
    mine = [str(Path(place).resolve()) for place in ("/etc", Path.home(), _cwd())]
    for root in roots:
        if any(_under(place, root) for place in mine):
            raise SandboxError(f"running {executable} would show the sandbox all of {root}, which holds /etc, your home "
                               "or this directory: use an interpreter installed in a PREFIX/bin of its own")
    library = next((f"{root}/lib" for root in sorted(roots) if any(Path(root, "lib").glob("libpython3*.so*"))), None)
    return Interpreter(executable=executable, roots=tuple(sorted(roots)), library_path=library)


def _drop_root() -> dict[str, object]:
    """As root, bwrap runs as nobody: an unprivileged user namespace, rlimits that hold."""
    if os.geteuid() != 0:
        return {}
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


def _supervise(proc: subprocess.Popen[bytes], deadline: float, chars: int) -> tuple[bool, bool, list[Captured]]:
    """Drain stdout and stderr until both close, killing the sandbox at the deadline or past
    FLOOD_BYTES on either; then reap bwrap. Returns (timed out, flooded, [stdout, stderr])."""
    streams = {proc.stdout.fileno(): _Stream(chars), proc.stderr.fileno(): _Stream(chars)}  # type: ignore[union-attr]
    pidfd = os.pidfd_open(proc.pid)
    timed_out = flooded = False
    killed_at: float | None = None
    with selectors.DefaultSelector() as selector:
        for fd in (*streams, pidfd):
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            now = time.monotonic()
            if killed_at is None and now >= deadline:
                timed_out, killed_at = True, _kill(proc)
            elif killed_at is not None and now > killed_at + 5:
                break  # the pid namespace is gone; a pipe still open is not worth waiting for
            for key, _ in selector.select(max(0.0, (deadline if killed_at is None else killed_at + 5) - now)):
                chunk = b"" if key.fd == pidfd else os.read(key.fd, 65536)
                if not chunk:  # bwrap exited, or a stream ended
                    selector.unregister(key.fd)
                    continue
                stream = streams[key.fd]
                stream.add(chunk)
                if stream.total > FLOOD_BYTES and killed_at is None:
                    flooded, killed_at = True, _kill(proc)
    os.close(pidfd)
    proc.wait()
    return timed_out, flooded, [stream.captured() for stream in streams.values()]


def _kill(proc: subprocess.Popen[bytes]) -> float:
    """SIGKILL bwrap's process group (not yet reaped, so it is still ours); the sandbox's pid 1
    dies with bwrap (--die-with-parent), and every process of the pid namespace with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return time.monotonic()


class _Stream:
    """One output stream: its first characters' worth of bytes kept, every byte counted."""

    def __init__(self, chars: int) -> None:
        self.chars, self.keep = chars, chars * 4 + 4  # UTF-8 needs at most 4 bytes a character
        self.kept, self.total = bytearray(), 0

    def add(self, chunk: bytes) -> None:
        if len(self.kept) < self.keep:
            self.kept += chunk[: self.keep - len(self.kept)]
        self.total += len(chunk)

    def captured(self) -> Captured:
        text = self.kept.decode("utf-8", errors="replace")
        truncated = self.total > len(self.kept) or len(text) > self.chars
        return Captured(text=text[: self.chars], total_bytes=self.total, truncated=truncated)


def _read_status(fd: int) -> dict[str, int]:
    """bwrap's JSON lines (child-pid, exit-code), read without blocking once bwrap has exited."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    status: dict[str, int] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            found = json.loads(line)
        except json.JSONDecodeError:
            continue
        status.update({k: v for k, v in found.items() if k in ("child-pid", "exit-code") and isinstance(v, int)})
    return status


def _bwrap_reason(stderr: str, returncode: int | None) -> str:
    said = [line for line in stderr.splitlines() if line.startswith("bwrap:")]
    return said[-1].removeprefix("bwrap:").strip() if said else f"bwrap exited with status {returncode}"


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # removed under us
        return "/etc"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _others_can_reach(path: str) -> bool:
    """Whether any user may traverse to `path` and run (or enter) it: what nobody needs."""
    target = Path(path)
    return all(place.stat().st_mode & stat.S_IXOTH for place in (*target.parents, target))
