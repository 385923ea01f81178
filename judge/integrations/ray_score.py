"""`judge score --ray`: the `judge score` job on a Ray cluster, one judge engine per worker.

The driver checks everything a run can fail on (rubric, input, output, setup of a resumed run,
the cluster and what its nodes can see) before any worker starts; the workers write each
finished block as a part file beside the output; the driver merges the parts into one file with
every id exactly once. An interrupted run (a killed driver or worker) continues with --resume.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import re
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from judge.errors import Interrupted, JudgeError
from judge.output import OutputLock, check_output
from judge.parts import Merged, Parts, parts_folder_for
from judge.scoring import ScoreRequest, check_same_setup, judge_for, progress_bar, rubric_for


class RayOptions(BaseModel):
    """Where and how wide a `judge score --ray` run goes."""

    address: str | None = None  # None: $RAY_ADDRESS, else a cluster of this machine started for the run
    workers: int = Field(default=2, ge=1)
    batch_size: int = Field(default=32, ge=1)
    batches_in_flight: int = Field(default=2, ge=1)
    cpus_per_worker: float = Field(default=1.0, ge=0)
    gpus_per_worker: float = Field(default=0.0, ge=0)
    parts: str | None = None  # default: OUTPUT.parts beside the output


def check_input(source: str) -> bool:
    """True for JSON lines, False for Parquet (a file, or a folder of them)."""
    if source == "-":
        raise JudgeError("--ray reads a file (JSONL or Parquet) that every node can read, not stdin")
    path = Path(source)
    if not path.exists():
        raise JudgeError(f"{source}: no such file")
    if path.is_dir():
        if not any(path.glob("*.parquet")):
            raise JudgeError(f"{source}: a folder input is a Parquet dataset, and it has no *.parquet file")
        return False
    if path.suffix == ".parquet":
        return False
    if path.suffix == ".json":
        raise JudgeError(f"{source}: --ray reads JSON lines (.jsonl) or Parquet, not a .json array")
    return True


def run_score_on_ray(request: ScoreRequest, cluster: RayOptions, counts: Counter[str] | None = None) -> Counter[str]:
    """Judge every row not judged yet on Ray; returns counts by status, as `run_score` does."""
    rubric_for(request)
    lines = check_input(request.input)
    if request.output == "-":
        raise JudgeError("--ray writes its judgments to a file: give -o FILE")
    plan = check_output(request.output, source=request.input, resume=request.resume, overwrite=request.overwrite)
    parts = Parts(cluster.parts or parts_folder_for(request.output))
    if parts.folder.exists() and not parts.folder.is_dir():
        raise JudgeError(f"--parts {parts.folder}: not a folder")
    judge = judge_for(request)  # built, not started: its setup, and a clear error for a bad option
    setup = judge.setup
    asyncio.run(judge.aclose())
    counts = Counter() if counts is None else counts
    output = Path(request.output)
    with OutputLock(plan):
        if parts.exists() and not (request.resume or request.overwrite):
            raise JudgeError(f"{parts.folder} holds the judgments of an interrupted run; pass --resume to continue it "
                             "or --overwrite to start over")
        if request.overwrite:
            parts.remove()
        parquet = output.suffix == ".parquet"
        if parquet and request.resume and plan.exists:
            from judge.integrations.parquet import parquet_judgment_lines

            parts.add_earlier(parquet_judgment_lines(output))
        earlier = output if request.resume and not parquet else None
        resumed = parts.scan(also=earlier)
        check_same_setup(resumed, setup, request.output)
        connect(cluster.address, cluster.workers * cluster.cpus_per_worker, verbose=bool(os.environ.get("JUDGE_VERBOSE")))
        parts.folder.mkdir(parents=True, exist_ok=True)
        check_nodes_see([Path(request.input).resolve(), parts.folder.resolve()])
        warn_if_short(cluster)
        import ray.exceptions

        try:
            _judge_on_ray(request, cluster, lines, parts, resumed.done, counts)
        except KeyboardInterrupt:
            raise Interrupted(f"{len(parts.scan().done)} judgments kept in {parts.folder}; "
                              "run the same command with --resume to continue") from None
        except ray.exceptions.RayError as exc:
            kept = "nothing was judged"
            if parts.exists():
                kept = f"the judgments finished are kept in {parts.folder}: run the same command with --resume to continue"
            else:
                parts.remove()
            raise JudgeError(f"the Ray run failed: {root_cause(exc)}; {kept}") from None
        merged = merge(parts, output, earlier)
    if not request.quiet:
        from judge.cli import summary_line

        print(summary_line(counts, request.output) + merge_note(merged), file=sys.stderr)
    return counts


def _judge_on_ray(request: ScoreRequest, cluster: RayOptions, lines: bool, parts: Parts, done: set[str],
                  counts: Counter[str]) -> None:
    import ray.data

    from judge.integrations.ray import judge_dataset

    source = str(Path(request.input).resolve())
    items = ray.data.read_text(source) if lines else ray.data.read_parquet(source)
    if request.limit is not None:
        items = items.limit(request.limit)
    total = _count(request, lines, items)
    judgments = judge_dataset(
        items, make_judge=functools.partial(judge_for, request), workers=cluster.workers,
        batch_size=cluster.batch_size, batches_in_flight=cluster.batches_in_flight, num_cpus=cluster.cpus_per_worker,
        num_gpus=cluster.gpus_per_worker, lines=lines, parts=parts.folder.resolve(), done=done,
    )
    started = time.perf_counter_ns()
    with progress_bar(total, request.quiet, already=len(done)) as bar:
        for block in judgments.iter_batches(batch_format="pyarrow", batch_size=None):
            statuses = Counter(block.column("status").to_pylist())
            counts.update(statuses)
            counts["written"] += block.num_rows
            counts["model_calls"] += sum(block.column("requests").to_pylist())
            counts["cached_calls"] += sum(block.column("cached_requests").to_pylist())
            bar.update(block.num_rows)
    counts["judging_ms"] = (time.perf_counter_ns() - started) // 1_000_000


def _count(request: ScoreRequest, lines: bool, items: Any) -> int | None:
    """Rows for the progress bar: a line count for JSONL (cheap), Parquet's own metadata."""
    from judge.inputs import count_rows

    total = count_rows(request.input) if lines else items.count()
    if total is not None and request.limit is not None:
        total = min(total, request.limit)
    return total


def merge(parts: Parts, output: Path, earlier: Path | None) -> Merged:
    """Merge the parts into the output, as JSON lines or, for `-o X.parquet`, one Parquet file;
    the parts go only once the output is whole."""
    if output.suffix != ".parquet":
        return parts.merge_into(output, keep=earlier)
    from judge.integrations.parquet import jsonl_to_parquet

    lines = parts.folder / "merged.jsonl.partial"  # not a part: a resume would not read it
    merged = parts.merge_into(lines, remove=False)
    jsonl_to_parquet(lines, output)
    parts.remove()
    return merged


def root_cause(exc: BaseException) -> str:
    """The line that says what went wrong in a worker (a judge error, else the last exception
    line), out of Ray's wrapped traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("judge.errors.")]
    raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b.*:", line)]
    found = (ours or raised or lines or [type(exc).__name__])[-1]
    return found.removeprefix("judge.errors.")


def merge_note(merged: Merged) -> str:
    if not merged.duplicates:
        return ""
    return f" ({merged.duplicates} extra judgments of an id already judged were dropped: retried blocks, or duplicate ids)"


def connect(address: str | None, cpus: float, *, verbose: bool = False) -> None:
    """Join the cluster at `address` (or $RAY_ADDRESS), or start one on this machine for the run."""
    import ray
    import ray.data

    if not ray.is_initialized():
        quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": verbose,
                                 "logging_level": logging.INFO if verbose else logging.WARNING}
        address = address or os.environ.get("RAY_ADDRESS") or None
        try:
            if address in (None, "local"):
                # A cluster judge starts for one run sends no usage report to ray.io (Ray's default).
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                # Logical CPUs for the workers and one more for reading, even on a small machine:
                # a worker mostly waits on its model, and a read that waits for a CPU stalls the run.
                ray.init(num_cpus=max(os.cpu_count() or 1, math.ceil(cpus) + 1), **quiet)
            else:
                ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise JudgeError(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = verbose  # judge draws its own bar
    context.print_on_execution_start = verbose
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)  # judge warns of what matters


def check_nodes_see(paths: list[Path]) -> None:
    """On a cluster of several machines, every node must see the input and the parts folder:
    a worker that wrote its parts to its own disk would leave them out of the merge."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    if len(nodes) < 2:
        return
    marker = paths[-1] / f".visible-{secrets.token_hex(4)}"
    marker.write_text("", encoding="utf-8")
    wanted = [str(p) for p in paths[:-1]] + [str(marker)]
    try:
        sees = ray.remote(num_cpus=0)(_missing)
        checks = {node["NodeManagerAddress"]: sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
            node["NodeID"], soft=False)).remote(wanted) for node in nodes}
        blind = {where: missing for where, ref in checks.items() if (missing := ray.get(ref, timeout=120))}
    finally:
        marker.unlink(missing_ok=True)
    if blind:
        where, missing = next(iter(blind.items()))
        raise JudgeError(f"node {where} cannot see {missing[0]}: on a cluster of several machines the input and the "
                         "parts folder (--parts) must be on storage every node mounts at the same path (NFS, a shared disk)")


def _missing(paths: list[str]) -> list[str]:
    return [path for path in paths if not os.path.exists(path)]


def warn_if_short(cluster: RayOptions) -> None:
    """Say so when the cluster cannot hold every worker at once (it waits, or an autoscaler adds nodes)."""
    import ray

    have = ray.cluster_resources()
    for name, each in (("CPU", cluster.cpus_per_worker), ("GPU", cluster.gpus_per_worker)):
        if each and have.get(name, 0) < each * cluster.workers:
            print(f"judge: warning: {cluster.workers} workers need {each * cluster.workers:g} {name}s and the cluster "
                  f"has {have.get(name, 0):g}; workers start as resources free up", file=sys.stderr)
