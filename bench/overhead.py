"""The engine's own cost, measured side by side against the least any script could do.

    .venv/bin/python bench/overhead.py [--rows 10000] [--judgments 5000] [--repeats 3] [--only a,b,c]

(a) `judge score -b fake` (judge.scoring.run_score: read rows, render, dispatch, parse,
    aggregate, write) over ROWS rows with the 5-criterion `helpfulness` rubric, against a bare
    loop that renders the same templates with plain jinja2 and writes the same JSON lines:
    printed as engine time / bare time                                   target <= 2x
(b) the engine's own cost per judgment on an instant fake backend (Judge.score minus the
    fake's own time on the same requests), for a principle judgment (1 step: the RL-reward
    case) and a pointwise helpfulness judgment (5 steps)               target <= 100 us per judgment
(c) `judge --help` and `judge score --help` wall time against a bare `python -c pass`
                                                                         target < 3x

Every ratio is measured in this one run, the two sides alternating, and the round with the
median ratio is shown, so the machine's speed and drift cancel out. Nothing here asserts a
time: the numbers are for people (and the issue's note), not for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch import scratch_dir  # noqa: E402  (bench scripts run as files, not as a package)

ROOT = Path(__file__).resolve().parent.parent
PRINCIPLE = "The response follows the instruction exactly and is correct."


def paired(engine: Callable[[], Any], reference: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(engine_s, reference_s) of the alternating round whose ratio is the median."""
    rounds = []
    for _ in range(repeats):
        started = time.perf_counter()
        reference()
        reference_s = time.perf_counter() - started
        started = time.perf_counter()
        engine()
        engine_s = time.perf_counter() - started
        rounds.append((engine_s / reference_s, engine_s, reference_s))
    _, engine_s, reference_s = sorted(rounds)[len(rounds) // 2]
    return engine_s, reference_s


# -- (a) the `judge score -b fake` job against a bare render-and-write loop -------------------------


def write_rows(folder: Path, count: int) -> Path:
    """Distinct pointwise rows (no two alike, so nothing is deduplicated away)."""
    path = folder / "rows.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for k in range(count):
            row = {
                "id": f"r{k}",
                "prompt": f"Explain fact number {k} about the sea, in two sentences.",
                "response": f"The sea is salty. Fact {k}: it covers most of the planet and holds most of its water.",
            }
            handle.write(json.dumps(row) + "\n")
    return path


def engine_job(rows: Path, output: Path) -> Callable[[], Any]:
    from judge.scoring import ScoreRequest, run_score

    request = ScoreRequest(input=str(rows), output=str(output), rubric="helpfulness", backend="fake", quiet=True, overwrite=True)
    return lambda: run_score(request)


def bare_job(rows: Path, output: Path, prototype: dict[str, Any]) -> Callable[[], None]:
    """What a hand-written script does: plain jinja2 over the same templates, one JSON line per row.

    It writes the engine's own judgment line (taken from a real run) with each row's id, so both
    sides write the same bytes; it parses and aggregates nothing, which is the point of a floor.
    Undefined variables render empty rather than fail, so a variable a template gains later does
    not break the bench (the floor then skips that bit of work, which only flatters the bare side).
    """
    import jinja2
    import yaml

    from judge.rubric import shipped_rubrics
    from judge.templates import shipped_prompts_dir

    prompts = shipped_prompts_dir()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(prompts / "default"), str(prompts)]),
        undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    template = env.get_template("pointwise.j2")
    rubric = yaml.safe_load(shipped_rubrics()["helpfulness"].read_text(encoding="utf-8"))
    criteria = [
        (c, c["scale"] == "binary", [] if c["scale"] == "binary" else [str(p) for p in range(c["scale"]["min"], c["scale"]["max"] + 1)])
        for c in rubric["criteria"]
    ]
    helpers = {"turn": lambda role: f"\n<|{role}|>\n", "content": lambda value: value, "chat": lambda messages: str(messages)}

    def run() -> None:
        with rows.open(encoding="utf-8") as source, output.open("w", encoding="utf-8") as sink:
            for line in source:
                row = json.loads(line)
                messages = [{"role": "user", "content": row["prompt"]}]
                base = {"prompt": row["prompt"], "prompt_messages": messages, "conversation": messages,
                        "system_prompt": None, "reference": None, "context": [], "rubric": rubric, "yes": "Yes", "no": "No",
                        "labels": ("A", "B"), "response": row["response"], **helpers}
                for criterion, binary, points in criteria:
                    template.render(base, criterion=criterion, binary=binary, points=points)
                sink.write(json.dumps(prototype | {"id": row["id"]}) + "\n")
                sink.flush()

    return run


def bench_job(rows_count: int, repeats: int) -> dict[str, Any]:
    folder = scratch_dir(prefix="judge-bench-")
    rows = write_rows(folder, rows_count)
    engine = engine_job(rows, folder / "engine.jsonl")
    engine()  # warm: imports, plugin registry, compiled templates
    prototype = json.loads((folder / "engine.jsonl").open(encoding="utf-8").readline())
    bare = bare_job(rows, folder / "bare.jsonl", prototype)
    engine_s, bare_s = paired(engine, bare, repeats)
    ratio = engine_s / bare_s
    print(f"(a) judge score -b fake, {rows_count} rows x 5 criteria (helpfulness)", flush=True)
    print(f"    engine {engine_s:7.2f} s ({1e6 * engine_s / rows_count:6.0f} us/row)   "
          f"bare jinja2 + json loop {bare_s:7.2f} s ({1e6 * bare_s / rows_count:6.0f} us/row)   "
          f"ratio {ratio:4.2f}x  (target <= 2x)", flush=True)
    return {"measure": "a", "rows": rows_count, "engine_s": engine_s, "bare_s": bare_s, "ratio": ratio}


# -- (b) the engine's own cost per judgment --------------------------------------------------------


def fake_alone(fake: Any, requests: list[Any], batch: int = 64) -> Callable[[], None]:
    """The fake backend answering exactly `requests`, in batches, with no engine around it."""

    def alone() -> None:
        async def run() -> None:
            for start in range(0, len(requests), batch):
                await fake.complete(requests[start : start + batch])

        asyncio.run(run())

    return alone


def make_items(count: int) -> list[Any]:
    from judge.models import Item

    return [
        Item(id=f"i{k}", prompt=f"Explain fact number {k} about the sea.", responses=[f"It is salty; fact {k} holds."])
        for k in range(count)
    ]


def bench_cost(mode: str, count: int, repeats: int) -> dict[str, Any]:
    from judge.engine import Judge
    from judge.rubric import Rubric, load_rubric
    from judge_fake.backend import FakeBackend

    rubric = Rubric.from_principles([PRINCIPLE]) if mode == "principle" else load_rubric("helpfulness")
    batch = make_items(count)
    judge = Judge(rubric, mode=mode, backend=FakeBackend(batch_size=64, record=False))
    judge.score(make_items(50))  # warm: imports, templates
    recorder = FakeBackend(batch_size=64)
    Judge(rubric, mode=mode, backend=recorder).score(batch)  # the very requests the engine sends
    requests = list(recorder.requests)
    steps = len(requests) // count
    engine_s, fake_s = paired(lambda: judge.score(batch), fake_alone(FakeBackend(batch_size=64), requests), repeats)
    per_judgment = 1e6 * (engine_s - fake_s) / count
    label = f"{mode}, {steps} step{'s' if steps > 1 else ''} per judgment"
    print(f"(b) engine's own cost, {label}, {count} judgments on an instant fake backend", flush=True)
    print(f"    engine {count / engine_s:8.0f} judgments/s   the fake alone {count / fake_s:8.0f}/s   "
          f"engine cost {per_judgment:5.0f} us per judgment ({per_judgment / steps:4.0f} us per step)"
          f"{'  (target <= 100 us)' if mode == 'principle' else ''}", flush=True)
    return {"measure": "b", "mode": mode, "steps": steps, "judgments": count, "engine_s": engine_s,
            "fake_s": fake_s, "us_per_judgment": per_judgment}


# -- (c) start-up of the command line --------------------------------------------------------------


def judge_command() -> list[str]:
    script = Path(sys.executable).parent / "judge"
    return [str(script)] if script.exists() else [sys.executable, "-m", "judge.cli"]


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def bench_startup(repeats: int) -> list[dict[str, Any]]:
    bare = [sys.executable, "-c", "pass"]
    commands = {"judge --help": judge_command() + ["--help"], "judge score --help": judge_command() + ["score", "--help"]}
    for argv in [bare, *commands.values()]:
        wall(argv)  # warm the file cache
    times: dict[str, list[float]] = {"python -c pass": []} | {name: [] for name in commands}
    for _ in range(repeats):  # interleaved, so drift hits every command alike
        times["python -c pass"].append(wall(bare))
        for name, argv in commands.items():
            times[name].append(wall(argv))
    reference = statistics.median(times["python -c pass"])
    rows = []
    for name in commands:
        median = statistics.median(times[name])
        print(f"(c) {name:<20} {1000 * median:6.0f} ms   python -c pass {1000 * reference:5.0f} ms   "
              f"ratio {median / reference:4.2f}x  (target < 3x)", flush=True)
        rows.append({"measure": "c", "command": name, "median_s": median, "python_s": reference, "ratio": median / reference})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="rows for (a) (default 10000)")
    parser.add_argument("--judgments", type=int, default=5_000, help="judgments for (b) (default 5000)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds per ratio, median shown (default 3; 9 for (c))")
    parser.add_argument("--only", default="a,b,c", help="which measurements (default a,b,c)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(","))
    os.environ.setdefault("JUDGE_CACHE_DIR", str(scratch_dir(prefix="judge-bench-cache-")))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}", flush=True)
    rows: list[dict[str, Any]] = []
    if "a" in wanted:
        rows.append(bench_job(args.rows, args.repeats))
    if "b" in wanted:
        rows.append(bench_cost("principle", args.judgments, args.repeats))
        rows.append(bench_cost("pointwise", max(1, args.judgments // 5), args.repeats))
    if "c" in wanted:
        rows += bench_startup(max(args.repeats, 9))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
