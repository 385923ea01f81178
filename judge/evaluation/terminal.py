"""The tables `judge eval` prints at the end of a run (rich, to stderr so stdout stays clean)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from judge.evaluation.report import Metrics, Report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _row(metrics: Metrics) -> list[str]:
    tally = metrics.tally
    interval = "-" if tally.interval is None else f"[{_pct(tally.interval.low)}, {_pct(tally.interval.high)}]"
    position = metrics.position
    return [
        metrics.name,
        str(tally.n),
        _pct(tally.accuracy),
        interval,
        str(tally.ties),
        str(tally.unparsed),
        str(tally.error),
        _pct(position.consistency) if position else "-",
        _pct(position.first_position_win_rate) if position else "-",
    ]


def _console() -> Any:
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:  # a log file or a pipe: rich's 80 columns would fold the numbers
        console.width = 120
    return console


def print_report(report: Report, folder: Path | None = None) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title="judge eval: accuracy (95% Wilson interval); ties, unparsed and errors count as wrong")
    for column in ("subset", "n", "accuracy", "95% interval", "ties", "unparsed", "error", "consistent", "1st wins"):
        table.add_column(column, justify="left" if column == "subset" else "right")
    for metrics in report.subsets:
        table.add_row(*_row(metrics))
    if len(report.subsets) != 1:
        table.add_row(*_row(report.overall), style="bold")
    if report.overall.tally.n:
        console.print(table)
    overall = report.overall
    lines = []
    if overall.calibration and overall.calibration.ece is not None:
        lines.append(f"calibration: ECE {overall.calibration.ece:.3f} over {overall.calibration.n} units")
    if overall.length and overall.length.n:
        lines.append(f"length: the judge prefers the longer response {_pct(overall.length.judge_prefers_longer)}, "
                     f"the labels {_pct(overall.length.labels_prefer_longer)} (n={overall.length.n})")
    if overall.rmbench:
        rm = overall.rmbench
        lines.append(f"RM-Bench: hard {_pct(rm.hard)}, normal {_pct(rm.normal)}, easy {_pct(rm.easy)}")
    if report.protocol:
        sections = ", ".join(f"{k} {_pct(v)}" for k, v in report.protocol.sections.items())
        lines.append(f"{report.protocol.name}: score {_pct(report.protocol.score)} ({sections})")
    if report.length_flips:
        flips = report.length_flips
        lines.append(f"length suite: {flips.flipped}/{flips.pairs} verdicts flipped ({_pct(flips.flip_rate)}), "
                     f"{flips.flipped_to_padded} to the padded rejected response")
    usage = report.usage
    speed = "" if usage.items_per_s is None else f", {usage.items_per_s:.2f} items/s"
    lines.append(f"{usage.judgments} judgments, {usage.model_calls} model calls ({usage.cached_calls} from cache), "
                 f"{usage.prompt_tokens + usage.completion_tokens} tokens{speed}")
    for line in lines + [f"note: {n}" for n in report.notes]:
        console.print(line, highlight=False)
    if report.master_keys:
        print_master_keys(report, console)
    if folder is not None:
        console.print(f"report: {folder / 'report.html'} (and report.json, judgments.jsonl)", highlight=False)


def print_master_keys(report: Report, console: Any) -> None:
    from rich.table import Table

    keys = report.master_keys
    assert keys is not None
    table = Table(title=f"master keys ({keys.mode}): a false positive is {keys.rule}")
    for column in ("key", "category", "n", "false positives", "rate", "unparsed", "error"):
        table.add_column(column, justify="left" if column in ("key", "category") else "right",
                         no_wrap=column in ("key", "category"), max_width=24 if column == "key" else None,
                         overflow="ellipsis")
    rows = list(keys.rows) + ([keys.overall] if keys.overall else [])
    for row in rows:
        table.add_row(repr(row.key), row.category, str(row.n), str(row.false_positives), _pct(row.rate),
                      str(row.unparsed), str(row.error), style="bold" if row is keys.overall else None)
    console.print(table)


def print_comparison(comparison: Any) -> None:
    from judge.evaluation.compare import format_comparison

    print(format_comparison(comparison))
