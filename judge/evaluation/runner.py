"""The `judge eval` job: benchmark rows in, a report folder out, through `judge score`'s own path.

The data become an items file in the report folder and are judged by `run_score`, so an
evaluation has the same cache, the same resume and the same safety rules as `judge score`.
Every figure is then computed from the judgments file alone.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from judge.errors import JudgeError
from judge.evaluation.assemble import RUNS, report_from, write_report
from judge.evaluation.report import Report
from judge.files import replace_atomically
from judge.models import Item
from judge.scoring import ScoreRequest, run_score

ITEMS = "items.jsonl"
JUDGMENTS = "judgments.jsonl"
DEFAULT_RUBRIC = "helpfulness"


class EvalRequest(BaseModel):
    """Everything `judge eval` was asked to do; `score` carries the options shared with `judge score`."""

    data: list[str]
    output_dir: str
    score: ScoreRequest
    data_format: str | None = None
    seed: int = 0
    limit: int | None = None
    protocol: str | None = None
    master_keys: bool = False
    master_key_prompts: int = 20
    length: bool = False
    suites_only: bool = False
    command: list[str] = Field(default_factory=list)


def settle(request: EvalRequest) -> EvalRequest:
    """Fill the evaluation defaults: pairwise by the helpfulness rubric, the protocol's own pack."""
    score = request.score.model_copy()
    if not score.rubric and not score.principles:
        score.rubric = DEFAULT_RUBRIC
    if score.mode is None and not score.principles:
        score.mode = "pairwise"
    if request.protocol == "rewardbench":
        if score.principles or (score.mode not in (None, "pairwise")):
            raise JudgeError("--protocol rewardbench judges pairs (pairwise mode); drop --mode/--principle")
        if score.format_pack not in ("default", "rewardbench"):
            raise JudgeError("--protocol rewardbench uses its own prompt (format pack 'rewardbench'); drop --format-pack")
        score.mode, score.format_pack, score.score_from = "pairwise", "rewardbench", "text"
    elif request.protocol is not None:
        raise JudgeError(f"unknown --protocol '{request.protocol}' (known: rewardbench)")
    return request.model_copy(update={"score": score})


def evaluation_items(request: EvalRequest) -> list[Item]:
    """The benchmark's items and the robustness suites' items, in a fixed order."""
    from judge.evaluation.datasets import load_eval_items
    from judge.evaluation.robustness import length_items, master_key_items

    mode = request.score.mode or ("principle" if request.score.principles else "pointwise")
    main = load_eval_items(request.data, mode=mode, data_format=request.data_format, seed=request.seed,
                           limit=request.limit, protocol=request.protocol)
    if request.protocol == "rewardbench":
        from judge.evaluation.outcomes import eval_info
        from judge.evaluation.rewardbench import check_subset

        for subset in sorted({info.subset for item in main if (info := eval_info(item)) is not None}):
            check_subset(subset)  # RewardBench 2's Ties are rated, not judged 4-way: refused before judging
    items = [] if request.suites_only else list(main)
    if request.master_keys:
        items += master_key_items(main, mode=mode, prompts=request.master_key_prompts, seed=request.seed)
    if request.length:
        if request.suites_only:
            items = list(main)  # a flip is measured against the unpadded verdict
        items += length_items(main, seed=request.seed)
    if not items:
        raise JudgeError("nothing to judge: the data gave no items for the suites asked for")
    return items


def run_eval(request: EvalRequest) -> tuple[Report, Counter[str]]:
    """Judge what is not judged yet, then compute and write the report. Raises JudgeError on bad setup."""
    request = settle(request)
    folder = Path(request.output_dir)
    if folder.exists() and not folder.is_dir():
        raise JudgeError(f"-o {folder}: exists and is not a folder (a report is a folder)")
    items = evaluation_items(request)  # bad data fails here, before the folder is touched
    folder.mkdir(parents=True, exist_ok=True)
    items_path, judgments_path = folder / ITEMS, folder / JUDGMENTS
    _write_items(items, items_path, judgments_path, request.score)
    score = request.score.model_copy(update={"input": str(items_path), "output": str(judgments_path), "limit": None})
    started = time.time()
    counts: Counter[str] = Counter()
    try:
        run_score(score, counts)
    finally:  # an interrupted session's judgments and time count toward items/s too
        if counts.get("written") or counts.get("judging_ms"):
            _record_run(folder / RUNS, request, counts, started)
    report = report_from(judgments_path, data=request.data, seed=request.seed, protocol=request.protocol)
    write_report(report, folder)
    return report, counts


def _write_items(items: list[Item], path: Path, judgments: Path, score: ScoreRequest) -> None:
    """The items file is derived from the data and the seed; a resumed run must derive the same one."""
    text = "".join(item.model_dump_json(exclude_defaults=True) + "\n" for item in items)
    if path.exists() and score.resume and judgments.exists() and path.read_text(encoding="utf-8") != text:
        raise JudgeError(
            f"--resume: {path} was made from other data, --seed, --limit, --data-format or suites; resume with the "
            "same ones, or start again with --overwrite"
        )
    if judgments.exists() and not (score.resume or score.overwrite):
        raise JudgeError(f"{judgments} exists; add --resume to continue that evaluation or --overwrite to redo it")
    replace_atomically(path, text)


def _record_run(path: Path, request: EvalRequest, counts: Counter[str], started: float) -> None:
    """One line per session: how many judgments it wrote and how long judging took (for items/s)."""
    line = {
        "started": round(started, 3),
        "written": counts.get("written", 0),
        "judging_s": counts.get("judging_ms", 0) / 1000,
        "model_calls": counts.get("model_calls", 0),
        "cached_calls": counts.get("cached_calls", 0),
        "command": request.command,
    }
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
