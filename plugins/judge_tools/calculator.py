"""The `calculator` tool: exact arithmetic and algebra with sympy, in a worker process it can kill.

The model's text is read by `calc_parse` (a whitelist walk of Python's syntax tree, no eval); the
tree goes to a worker process (`calc_worker.py`) that builds the sympy objects and answers. The
calculation runs under a limit a little below the tool's `time_limit`: past it the worker is
killed (so nothing goes on burning CPU) and the call comes back as a time-out. Workers are
started on first use, kept for the next calls, at most a few at a time, and replaced when killed.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from judge.tools import Tool, ToolRefused, ToolTimeout

TIME_LIMIT = 5.0  # seconds: the ToolBox's backstop
WORK_LIMIT = TIME_LIMIT - 0.5  # seconds the calculation itself may take before its process is killed
WORKER = Path(__file__).with_name("calc_worker.py")
MAX_WORKERS = max(1, min(4, os.cpu_count() or 1))


class CalculatorArgs(BaseModel):
    """What the judge gives the calculator."""

    model_config = ConfigDict(extra="forbid")

    expression: str = Field(description="arithmetic or algebra, e.g. '1/3 + 1/6', 'sqrt(8)', '2^10', 'factor(x^2 - 1)', "
                                        "'solve(x^2 = 4, x)', 'diff(sin(x), x)'")
    compare: str | None = Field(default=None, description="optional second expression: the answer says whether it is "
                                                          "equivalent to `expression`")


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


class _Worker:
    """One worker process and the line protocol to it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, bufsize=0, close_fds=True, start_new_session=True,
            env={"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C.UTF-8"},  # nothing secret goes along
        )
        self.buffer = b""

    def start(self, deadline: float) -> None:
        """Wait for the worker's `ready` line (it has imported sympy)."""
        if "ready" not in self.read(deadline):
            raise _Died()

    def ask(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _Died() from None
        return self.read(deadline)

    def read(self, deadline: float) -> dict[str, Any]:
        """The next JSON line from the worker; _Timeout past the deadline, _Died at end of output."""
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in self.buffer:
                if not selector.select(max(0.0, deadline - time.monotonic())):
                    raise _Timeout()
                chunk = os.read(self.process.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise _Died()
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise _Died() from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


class _Pool:
    """Idle workers for the next calls; at most MAX_WORKERS alive, safe to use from many threads."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.idle: list[_Worker] = []
        self.alive: set[_Worker] = set()
        self.starting = 0

    def take(self, deadline: float) -> _Worker:
        with self.changed:
            while True:
                while self.idle:
                    worker = self.idle.pop()
                    if worker.process.poll() is None:
                        return worker
                    self.alive.discard(worker)  # ended while idle (killed from outside): start another
                    worker.kill()
                if len(self.alive) + self.starting < MAX_WORKERS:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Timeout()
                self.changed.wait(remaining)
            self.starting += 1
        worker = None
        try:
            worker = _Worker()
            worker.start(deadline)
        except BaseException:
            if worker is not None:
                worker.kill()
            raise
        finally:
            with self.changed:
                self.starting -= 1
                if worker is not None and worker.process.poll() is None:
                    self.alive.add(worker)
                self.changed.notify()
        return worker

    def give(self, worker: _Worker) -> None:
        with self.changed:
            self.idle.append(worker)
            self.changed.notify()

    def drop(self, worker: _Worker) -> None:
        worker.kill()
        with self.changed:
            self.alive.discard(worker)
            self.changed.notify()

    def close(self) -> None:
        with self.changed:
            workers, self.idle = list(self.alive), []
            self.alive.clear()
        for worker in workers:
            worker.kill()


_POOL = _Pool()
atexit.register(_POOL.close)


class WorkerTimeout(Exception):
    """No reply by the deadline: no worker was free (`started` False) or it ran past and was killed."""

    def __init__(self, started: bool) -> None:
        super().__init__("ran past the deadline" if started else "no worker was free in time")
        self.started = started


class WorkerDied(Exception):
    """The worker stopped during the request (out of memory, killed from outside)."""


class WorkerUnavailable(Exception):
    """No worker process could start (sympy missing, no processes left)."""


def ask_worker(request: dict[str, Any], deadline: float, start_deadline: float | None = None) -> dict[str, Any]:
    """One request (a parsed tree, see calc_worker) answered by a pooled sympy worker, which is
    killed if it runs past `deadline`; `start_deadline` may give a cold start (the sympy import)
    longer. Shared by the calculator and the math answer verifier."""
    try:
        worker = _POOL.take(start_deadline if start_deadline is not None else deadline)
    except _Timeout:
        raise WorkerTimeout(started=False) from None
    except (_Died, OSError) as exc:
        raise WorkerUnavailable(type(exc).__name__) from None
    if time.monotonic() >= deadline:
        _POOL.give(worker)
        raise WorkerTimeout(started=False)
    try:
        reply = worker.ask(request, deadline)
    except _Timeout:
        _POOL.drop(worker)
        raise WorkerTimeout(started=True) from None
    except _Died:
        _POOL.drop(worker)
        raise WorkerDied() from None
    except BaseException:
        _POOL.drop(worker)
        raise
    _POOL.give(worker)
    return reply


def calculate(args: CalculatorArgs) -> str:
    """Parse here, calculate in a worker, kill the worker if it runs past WORK_LIMIT."""
    deadline = time.monotonic() + WORK_LIMIT
    from judge_tools.calc_parse import parse

    request = {"expression": parse(args.expression), "compare": parse(args.compare, "compare") if args.compare is not None else None}
    try:
        reply = ask_worker(request, deadline)
    except WorkerTimeout as exc:
        if not exc.started:
            raise ToolTimeout(f"no calculator process was ready within {WORK_LIMIT:g} s; try again") from None
        raise ToolTimeout(f"the calculation did not finish within {WORK_LIMIT:g} s and was stopped; "
                          "try a smaller or simpler expression") from None
    except WorkerUnavailable as exc:
        raise ToolRefused(f"the calculator process could not start ({exc}); check that sympy is "
                          f"installed for {sys.executable}") from None
    except WorkerDied:
        raise ToolRefused("the calculator process stopped during the calculation (it may have run out of memory); "
                          "try a smaller expression") from None
    if "ok" in reply:
        return str(reply["ok"])
    if "refused" in reply:
        raise ToolRefused(str(reply["refused"]))
    raise RuntimeError(str(reply.get("error", reply)))


def _check(settings: Any) -> str | None:
    """Why the calculator cannot run here (sympy missing), without importing sympy."""
    if importlib.util.find_spec("sympy") is None:
        return "sympy is not installed: pip install sympy"
    return None


CALCULATOR = Tool(
    name="calculator",
    description=(
        "Exact arithmetic and algebra (sympy). Give `expression`, e.g. 1/3 + 1/6 (gives 1/2), sqrt(8) (gives "
        "2*sqrt(2) ≈ 2.8284271247), 2^10, simplify(...), expand(...), factor(...), solve(x^2 = 4, x), diff(sin(x), x), "
        "integrate(x^2, x, 0, 1). ^ is a power; decimals are exact (0.1 + 0.2 gives 3/10); an equation such as "
        "x^2 = 4 is solved. Give `compare` too to ask whether two expressions are equivalent."
    ),
    function=calculate,
    arguments=CalculatorArgs,
    check=_check,
    deterministic=True,
    time_limit=TIME_LIMIT,
    version="1",
)
