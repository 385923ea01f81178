"""`judge score`'s Ray options on the command line: parsed here, run by `ray_score` (Ray is not
imported until a run asks for it, so `judge --help` stays instant)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from judge.errors import JudgeError

RAY_OPTIONS = ("workers", "batch_size", "batches_in_flight", "cpus_per_worker", "gpus_per_worker", "parts")


def add_ray_options(parser: argparse.ArgumentParser, positive: Callable[[str], int]) -> None:
    """`judge score`'s Ray options (the group is shown in `judge score --help`)."""
    ray = parser.add_argument_group("scale out on Ray (pip install 'judge[ray]'; docs/scale.md)")
    ray.add_argument("--ray", nargs="?", const="", type=_ray_address, metavar="ADDRESS",
                     help="judge on a Ray cluster: ADDRESS is HOST:PORT, ray://HOST:PORT or auto; "
                          "without one, $RAY_ADDRESS or a cluster of this machine started for the run")
    ray.add_argument("--workers", type=positive, metavar="N", help="Ray workers, each with one judge engine (default 2)")
    ray.add_argument("--batch-size", type=positive, metavar="N", help="items a worker is handed at once (default 32)")
    ray.add_argument("--batches-in-flight", type=positive, metavar="N", help="batches a worker judges at once (default 2)")
    ray.add_argument("--cpus-per-worker", type=float, metavar="X", help="CPUs Ray reserves per worker (default 1)")
    ray.add_argument("--gpus-per-worker", type=float, metavar="X",
                     help="GPUs per worker (default 0; 1 for a vLLM judge per GPU, N with -O tensor_parallel_size=N)")
    ray.add_argument("--parts", metavar="DIR",
                     help="where workers write finished blocks until the merge (default: OUTPUT.parts); "
                          "on several machines, a folder every node mounts at the same path")


def ray_options(args: argparse.Namespace) -> Any:
    """The Ray run's options, or None for an ordinary run (refusing Ray options without --ray)."""
    given = {name: getattr(args, name) for name in RAY_OPTIONS if getattr(args, name) is not None}
    if args.ray is None:
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise JudgeError(f"{flags}: options of a Ray run; add --ray")
        return None
    from pydantic import ValidationError

    from judge.errors import first_error
    from judge.integrations.ray_score import RayOptions

    try:
        return RayOptions(address=args.ray or None, **given)
    except ValidationError as exc:
        raise JudgeError(first_error(exc, "option")) from None


def _ray_address(value: str) -> str:
    if value in ("", "auto", "local") or ":" in value:
        return value
    raise argparse.ArgumentTypeError(
        f"'{value}' is not a cluster address (HOST:PORT, ray://HOST:PORT, auto or local); "
        "to join $RAY_ADDRESS or start a local cluster, put --ray after the input file or write --ray=local")
