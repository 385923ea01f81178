"""Ray scale-out: the integration's own cost per item, side by side with one in-process engine.

In one run, on the same items:

  (a) the in-process fake backend (FAKE: instant scripted answers, no model), so only the engine
      and the integration cost anything: `Judge.score` in this process against `judge_dataset` on
      a local Ray cluster with W workers, at two sizes; the difference between the sizes gives
      the cost per item apart from the fixed cost of starting the actors
  (b) the embedded model (SmolLM2-135M on CPU), principle mode: the same, one size
  (c) the merge of the workers' part files into one output, per judgment
  (d) a written estimate of throughput on N GPUs, from (a) and (c) and a stated per-GPU rate

    .venv/bin/python bench/ray_scale.py                      # the figures quoted in docs/scale.md
    .venv/bin/python bench/ray_scale.py --fake-items 200 --model-items 4   # a quick check

Nothing here is asserted; the ratios are for people. On a 2-core machine the W workers and the
driver share the cores, so (a) shows overhead, not speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch import scratch_dir  # noqa: E402

PRINCIPLE = "The response answers the question that was asked."


def items(n: int) -> list[dict]:
    return [{"id": f"item-{k}", "prompt": f"What is {k} + {k}?", "response": f"It is {2 * k}."} for k in range(n)]


def in_process(rows: list[dict], **judge_options) -> tuple[float, float]:
    """(seconds to start: build the judge, load the model; seconds judging) in this process."""
    import asyncio

    from judge import Judge
    from judge.integrations.ray import row_item
    from judge.rubric import Rubric

    started = time.perf_counter()
    judge = Judge(Rubric.from_principles([PRINCIPLE]), mode="principle", **judge_options)
    asyncio.run(judge.prepare())
    ready = time.perf_counter()
    judgments = judge.score([row_item(row) for row in rows])
    assert len(judgments) == len(rows)
    return ready - started, time.perf_counter() - ready


class RayRun:
    """One judge_dataset run, each block one batch, so judgments stream back: wall time, when
    the first block came back (actors started, model loaded), and the steady cost per item: the
    slope of rows returned against time over the last three quarters of the run."""

    def __init__(self, rows: list[dict], workers: int, batch_size: int = 32, parts: Path | None = None,
                 **judge_options) -> None:
        import ray.data

        from judge.integrations.ray import judge_dataset
        from judge.rubric import Rubric

        dataset = ray.data.from_items(rows, override_num_blocks=max(2, len(rows) // batch_size))
        started, cpu = time.perf_counter(), time.process_time()
        judged = judge_dataset(dataset, Rubric.from_principles([PRINCIPLE]), mode="principle", workers=workers,
                               batch_size=batch_size, parts=parts, **judge_options)
        self.statuses: dict[str, int] = {}
        self.arrivals: list[tuple[float, int, float]] = []  # (seconds, rows so far, driver CPU so far)
        done = 0
        for block in judged.iter_batches(batch_format="pyarrow", batch_size=None):
            done += block.num_rows
            self.arrivals.append((time.perf_counter() - started, done, time.process_time() - cpu))
            for status in block.column("status").to_pylist():
                self.statuses[status] = self.statuses.get(status, 0) + 1
        self.wall = time.perf_counter() - started
        self.first = self.arrivals[0][0]
        steady = [a for a in self.arrivals if a[1] >= len(rows) / 4]
        self.per_item = _slope([a[1] for a in steady], [a[0] for a in steady])
        self.driver_per_item = _slope([a[1] for a in steady], [a[2] for a in steady])


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    if len(xs) < 2 or max(xs) == min(xs):
        return float("nan")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fake-items", type=int, default=4000, help="items for (a) and (c)")
    parser.add_argument("--model-items", type=int, default=24, help="items for (b)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gpu-rate", type=float, default=50.0,
                        help="(d) verdicts/s one GPU gives (ASSUMED, not measured here: an 8B judge on vLLM, "
                             "~600-token prompts, one-token verdicts; put your own `judge eval` items/s)")
    args = parser.parse_args()

    import ray

    folder = scratch_dir("judge-bench-ray-")
    os.environ.setdefault("JUDGE_CACHE_DIR", str(folder / "cache"))
    os.environ["RAY_TMPDIR"] = str(folder)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import logging

    started = time.perf_counter()
    ray.init(num_cpus=args.workers + 1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    print(f"local Ray cluster started in {time.perf_counter() - started:.1f} s ({os.cpu_count()} cores here, "
          f"{args.workers} workers)\n")

    fake = {"backend": "fake", "backend_options": {"text": "Yes"}}
    n = args.fake_items
    print(f"(a) fake backend, principle mode, 1 step per item: {n} items")
    load, local = in_process(items(n), **fake)
    remote = fake_run = RayRun(items(n), args.workers, **fake)
    print(f"    in-process: {local:6.2f} s judging ({local / n * 1e6:5.0f} us per item), {load:4.1f} s to start")
    print(f"    ray:        {remote.wall:6.2f} s in all; first block back after {remote.first:4.1f} s (actors started), "
          f"then {remote.per_item * 1e6:5.0f} us per item   statuses {json.dumps(remote.statuses)}")
    print(f"    ratio per item, ray / in-process: {remote.per_item / (local / n):5.2f};  "
          f"integration's own cost: {(remote.per_item - local / n) * 1e6:+.0f} us per item")
    driver_per = remote.driver_per_item
    print(f"    driver CPU per item on ray: {driver_per * 1e6:.0f} us\n")

    n = args.model_items
    print(f"(b) embedded model (SmolLM2-135M, CPU), principle mode: {n} items")
    load, local = in_process(items(n))
    remote = RayRun(items(n), args.workers, batch_size=2)
    print(f"    in-process: {local:6.2f} s judging ({n / local:5.2f} items/s), {load:4.1f} s to load the model")
    print(f"    ray:        {remote.wall:6.2f} s in all; first block back after {remote.first:4.1f} s (actors started, "
          f"model loaded in each), then {1 / remote.per_item:5.2f} items/s   statuses {json.dumps(remote.statuses)}")
    print(f"    ratio of items/s once started, ray / in-process: {1 / remote.per_item / (n / local):5.2f}\n")

    from judge.parts import Parts

    parts = Parts(folder / "merge.parts")
    RayRun(items(args.fake_items), args.workers, parts=parts.folder, **fake)
    started = time.perf_counter()
    merged = parts.merge_into(folder / "merged.jsonl")
    merge_per = (time.perf_counter() - started) / merged.judgments
    print(f"(c) merge of {merged.judgments} judgments from the workers' parts: {merge_per * 1e6:.0f} us per judgment\n")

    worker_ceiling = 1 / (fake_run.per_item * args.workers)  # each worker's engine and integration, on its own core
    driver_ceiling = 1 / (driver_per + merge_per)
    print(f"(d) estimate on N GPUs, one vLLM judge per GPU, at an ASSUMED {args.gpu_rate:g} verdicts/s per GPU:")
    print(f"    a worker's CPU side caps it at {worker_ceiling:,.0f} items/s; the driver (rows + merge) at "
          f"{driver_ceiling:,.0f} items/s")
    for gpus in (1, 8, 64, 512):
        rate = min(gpus * min(args.gpu_rate, worker_ceiling), driver_ceiling)
        print(f"    N = {gpus:>3}: ~{rate:,.0f} items/s  ({rate * 3600 / 1e6:.2f} M items/hour)")
    ray.shutdown()
    time.sleep(2)  # the cluster's own processes write their last logs into the scratch folder as they stop
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
