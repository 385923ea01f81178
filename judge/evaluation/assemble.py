"""A report from judgments (every part computed from the judgments file alone), and its files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from judge.errors import InputError, JudgeError
from judge.evaluation.outcomes import eval_info
from judge.evaluation.report import Report
from judge.files import replace_atomically
from judge.models import Judgment

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
RUNS = "runs.jsonl"


def read_judgments(path: Path) -> list[Judgment]:
    """Every judgment of a file; a torn or foreign line names its line, an empty file is an error."""
    if not path.is_file():
        raise InputError(str(path), 0, "no such file" if not path.exists() else "not a file")
    found: list[Judgment] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                found.append(Judgment.model_validate_json(raw))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "line"
                raise InputError(str(path), number, f"not a judgment ({where}: {first['msg']})") from None
    if not found:
        raise JudgeError(f"{path}: no judgments: there is nothing to compute a report from")
    if not any(eval_info(j) is not None for j in found):
        raise JudgeError(
            f"{path}: no judgment carries evaluation labels (metadata.eval); judgments of `judge eval` do — "
            "`judge score` output has no labels to measure against"
        )
    return found


def build_report(judgments: list[Judgment], *, source: str, data: list[str], seed: int | None,
                 protocol: str | None = None, wall_s: float | None = None) -> Report:
    """Accuracy by subset, biases, calibration, suites and mistakes, from judgments with eval labels."""
    from judge.evaluation import metrics, robustness

    main = [j for j in judgments if (info := eval_info(j)) is not None and info.suite == "main"]
    units = metrics.units_from(main)
    suites = {info.suite for j in judgments if (info := eval_info(j)) is not None}
    notes: list[str] = []
    first = main[0] if main else judgments[0]
    if seed is None:  # --from: the seed the items themselves record
        seeds = {info.seed for j in judgments if (info := eval_info(j)) is not None and info.seed is not None}
        seed = seeds.pop() if len(seeds) == 1 else None
    report = Report(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        judgments=source,
        data=data or sorted({info.source for j in main if (info := eval_info(j)) is not None}),
        seed=seed,
        setup=first.setup,
        model=first.model,
        overall=metrics.metrics_for("overall", main, units),
        subsets=metrics.subset_metrics(main, units),
        usage=metrics.usage_report(judgments, wall_s),
        mistakes=metrics.mistakes(main, units),
        outcomes=metrics.outcomes_map(units),
        unit_subsets={unit.id: unit.subset for unit in units},
        notes=notes,
    )
    if protocol == "rewardbench" or (first.setup or {}).get("format_pack") == "rewardbench":
        from judge.evaluation.rewardbench import protocol_report

        report.protocol = protocol_report(units)
    if "master-keys" in suites:
        report.master_keys = robustness.master_key_report(
            [j for j in judgments if (i := eval_info(j)) is not None and i.suite == "master-keys"], first.mode
        )
    if "length" in suites:
        report.length_flips = robustness.length_flip_report(judgments)
    setups = {json.dumps(j.setup, sort_keys=True) for j in judgments if j.setup is not None}
    if len(setups) > 1:
        notes.append(f"the judgments come from {len(setups)} different setups; figures mix them")
    if not main:
        notes.append("no benchmark judgments (suite 'main'): only the robustness suites were run")
    return report


def judging_time(judgments: Path) -> tuple[int, float] | None:
    """(judgments written, seconds judging) over the sessions recorded beside a judgments file."""
    runs = judgments.parent / RUNS
    if not runs.exists():
        return None
    written, seconds = 0, 0.0
    for line in runs.read_text(encoding="utf-8").splitlines():
        if line.strip():
            session = json.loads(line)
            written += int(session.get("written", 0))
            seconds += float(session.get("judging_s", 0.0))
    return (written, seconds) if seconds > 0 else None


def report_from(judgments: Path, *, data: list[str] | None = None, seed: int | None = None,
                protocol: str | None = None) -> Report:
    """The report of a judgments file, with no model: what `judge eval --from` prints."""
    found = read_judgments(judgments)
    timing = judging_time(judgments)
    report = build_report(found, source=str(judgments), data=data or [], seed=seed, protocol=protocol,
                          wall_s=timing[1] if timing else None)
    if timing:  # the sessions' own rate: a resumed file holds judgments of sessions before
        report.usage.items_per_s = timing[0] / timing[1]
    return report


def write_report(report: Report, folder: Path) -> None:
    from judge.evaluation.html import write_html

    folder.mkdir(parents=True, exist_ok=True)
    replace_atomically(folder / REPORT_JSON, report.model_dump_json(indent=2))
    write_html(report, folder / REPORT_HTML)


def load_report(path: str) -> Report:
    """A report by its folder or its report.json."""
    where = Path(path)
    if where.is_dir():
        where = where / REPORT_JSON
    if not where.is_file():
        raise JudgeError(f"{path}: no report here (expected a report folder or its {REPORT_JSON})")
    try:
        return Report.model_validate_json(where.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise JudgeError(f"{where}: not a judge eval report ({str(exc).splitlines()[0]})") from None
