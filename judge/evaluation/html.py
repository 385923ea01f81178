"""The HTML report of `judge eval`: one self-contained file that opens with no network.

Inline CSS and inline SVG (shapes from `judge.evaluation.charts`), no script and no URL of any
kind; a Content-Security-Policy in the page forbids both anyway. The raw judge text shown for
mistakes is untrusted model output, so the template environment autoescapes everything.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from judge.files import replace_atomically
from judge.evaluation.charts import accuracy_chart, calibration_chart, position_chart
from judge.evaluation.report import Interval, Metrics, Report

TEMPLATES = Path(__file__).parent / "templates"
RMBENCH_STYLES = ("concise", "detailed", "detailed + markdown")


def pct(value: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage: 0.7251 -> "72.5%"; None -> "—"."""
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def interval(value: Interval | None) -> str:
    """A 95% interval as "[65.1%, 79.0%]"; None -> "—"."""
    return "—" if value is None else f"[{pct(value.low)}, {pct(value.high)}]"


def num(value: float | int | None, digits: int = 2) -> str:
    """Counts with thousands separators, other numbers to `digits` decimals; None -> "—"."""
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"


def score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def visible(text: str) -> str:
    """A master key as a JSON string literal, so that whitespace and empty keys can be seen."""
    return json.dumps(text, ensure_ascii=False)


def compact(value: Any) -> str:
    """A setup value as one line: strings as they are, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The compiled report template, kept between runs: compiling it costs more than rendering."""
    from judge.cache import cache_root

    folder = cache_root() / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: compile every time
    return jinja2.FileSystemBytecodeCache(str(folder))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,  # judge text is model output: never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=pct, interval=interval, num=num, score=score, visible=visible, compact=compact)
    return env


def _why_no_position(report: Report) -> str:
    modes = {str(report.setup.get("mode"))} if report.setup and report.setup.get("mode") else set()
    if modes and modes != {"pairwise"}:
        return f"position bias: not measured (mode {', '.join(sorted(modes))}: it needs pairwise judgments)"
    return "position bias: not measured (no pairwise judgment was decided)"


def _context(report: Report) -> dict[str, Any]:
    rows: list[Metrics] = [report.overall, *report.subsets]
    position_rows = [m for m in rows if m.position is not None
                     and (m.position.first_position_win_rate is not None or m.position.consistency is not None)]
    calibration = report.overall.calibration
    calibrated = calibration is not None and calibration.n > 0 and calibration.ece is not None
    return {
        "report": report,
        "rows": rows,
        "accuracy_chart": accuracy_chart(rows) if report.overall.tally.n else None,
        "position_chart": position_chart(position_rows) if position_rows else None,
        "why_no_position": _why_no_position(report),
        "consistency_measured": any(m.position.consistency is not None for m in position_rows if m.position),
        "calibration": calibration if calibrated else None,
        "calibration_chart": calibration_chart(calibration) if calibrated and calibration else None,
        "subset_calibration": [m for m in report.subsets if m.calibration is not None and m.calibration.n],
        "rmbench_rows": [m for m in rows if m.rmbench is not None and m.rmbench.groups],
        "rmbench_styles": RMBENCH_STYLES,
        "length_rows": [m for m in rows if m.length is not None and m.length.n],
    }


def render_html(report: Report) -> str:
    """The whole report as one HTML document (a str), ready to write."""
    return _environment().get_template("report.html.j2").render(**_context(report))


def write_html(report: Report, path: Path) -> None:
    """Render and write atomically (temp file beside `path`, then os.replace): a reader never
    sees half a report, and an interrupted run leaves the previous one whole."""
    text = render_html(report)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, text)
