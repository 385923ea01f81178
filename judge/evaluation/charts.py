"""The HTML report's charts as plain shapes: Python computes every coordinate, one Jinja macro
draws them as inline SVG. Labels stay data (never markup), so Jinja's autoescape covers them.

No chart library and no script: the report must open with no network and run nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from judge.evaluation.report import Calibration, Metrics

ShapeKind = Literal["rect", "line", "circle", "text"]


@dataclass(frozen=True)
class Shape:
    """One SVG element: `attrs` become its attributes (numbers already rounded), `text` its
    content (for "text"), `title` its tooltip."""

    kind: ShapeKind
    cls: str
    attrs: dict[str, str]
    text: str = ""
    title: str = ""


@dataclass
class Chart:
    id: str
    label: str  # aria-label: what the chart shows, in words
    width: int
    height: int
    shapes: list[Shape] = field(default_factory=list)

    def add(self, kind: ShapeKind, cls: str, text: str = "", title: str = "", **attrs: float | str) -> None:
        self.shapes.append(Shape(kind, cls, {k.replace("_", "-"): _fmt(v) for k, v in attrs.items()}, text, title))


def _fmt(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.1f}".removesuffix(".0")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _short(name: str, limit: int = 26) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


# Horizontal charts share one layout: labels left, a 0..1 axis, values right.
_LABEL_W, _PLOT_W, _VALUE_W, _ROW_H, _TOP, _BOTTOM = 190, 420, 210, 26, 30, 30


def _axis(chart: Chart, rows: int) -> None:
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = _LABEL_W + tick * _PLOT_W
        chart.add("line", "grid", x1=x, y1=_TOP - 4, x2=x, y2=_TOP + rows * _ROW_H)
        chart.add("text", "tick", f"{tick:.0%}", x=x, y=_TOP - 10, text_anchor="middle")


def _reference(chart: Chart, rows: int, reference: float, reference_label: str) -> None:
    """Drawn after the bars, so that it stays visible across them."""
    bottom = _TOP + rows * _ROW_H
    x = _LABEL_W + reference * _PLOT_W
    chart.add("line", "reference", x1=x, y1=_TOP - 4, x2=x, y2=bottom + 4)
    chart.add("text", "reference-label", reference_label, x=x, y=bottom + 18, text_anchor="middle")


def _row_label(chart: Chart, row: int, name: str) -> float:
    y = _TOP + row * _ROW_H
    shown = _short(name)  # the full name as a tooltip only when cut (a title is part of textContent)
    chart.add("text", "row-label", shown, title="" if shown == name else name, x=_LABEL_W - 8, y=y + _ROW_H / 2 + 4, text_anchor="end")
    return y


def accuracy_chart(rows: list[Metrics]) -> Chart:
    """Accuracy per subset: a bar from 0, the Wilson interval as a whisker, chance (0.5) as a line."""
    chart = Chart("chart-accuracy", "Accuracy by subset with 95% intervals; the dashed line is chance (50%)",
                  _LABEL_W + _PLOT_W + _VALUE_W, _TOP + len(rows) * _ROW_H + _BOTTOM)
    _axis(chart, len(rows))
    for i, metrics in enumerate(rows):
        y = _row_label(chart, i, metrics.name)
        tally, mid = metrics.tally, y + _ROW_H / 2
        value_x = _LABEL_W + _PLOT_W + 10
        if tally.accuracy is None:
            chart.add("text", "value muted", f"not measured (n={tally.n})", x=value_x, y=mid + 4)
            continue
        cls = "bar overall" if metrics.name == "overall" else "bar"
        chart.add("rect", cls, title=f"{metrics.name}: {_pct(tally.accuracy)} of {tally.n}",
                  x=_LABEL_W, y=y + 5, width=tally.accuracy * _PLOT_W, height=_ROW_H - 10)
        text = f"{_pct(tally.accuracy)}  n={tally.n}"
        if tally.interval is not None:
            low, high = (_LABEL_W + v * _PLOT_W for v in (tally.interval.low, tally.interval.high))
            chart.add("line", "whisker", x1=low, y1=mid, x2=high, y2=mid)
            for x in (low, high):
                chart.add("line", "whisker", x1=x, y1=mid - 5, x2=x, y2=mid + 5)
            text = f"{_pct(tally.accuracy)} [{_pct(tally.interval.low)}, {_pct(tally.interval.high)}]  n={tally.n}"
        chart.add("text", "value", text, x=value_x, y=mid + 4)
    _reference(chart, len(rows), 0.5, "chance")
    return chart


def position_chart(rows: list[Metrics]) -> Chart:
    """First-position win rate as a bar leaving the 0.5 line (its length is the bias), and
    position consistency (both orders agree) as a dot on the same 0..1 axis."""
    chart = Chart("chart-position", "First-position win rate per subset against 50% (no bias), "
                  "and position consistency where both orders were judged",
                  _LABEL_W + _PLOT_W + _VALUE_W, _TOP + len(rows) * _ROW_H + _BOTTOM + 18)
    _axis(chart, len(rows))
    for i, metrics in enumerate(rows):
        y = _row_label(chart, i, metrics.name)
        position, mid = metrics.position, y + _ROW_H / 2
        if position is None:  # the caller passes measured rows only; nothing to draw otherwise
            continue
        parts = []
        rate = position.first_position_win_rate
        if rate is not None:
            left, right = sorted((0.5, rate))
            chart.add("rect", "first-bar", title=f"{metrics.name}: first position won {_pct(rate)} of "
                      f"{position.orders_decided} decided orders",
                      x=_LABEL_W + left * _PLOT_W, y=y + 6, width=max((right - left) * _PLOT_W, 1.5), height=_ROW_H - 12)
            parts.append(f"first {_pct(rate)}")
        if position.consistency is not None:
            chart.add("circle", "consistency", title=f"{metrics.name}: consistent in {position.consistent} "
                      f"of {position.judged_both_orders} pairs judged both ways",
                      cx=_LABEL_W + position.consistency * _PLOT_W, cy=mid, r=5)
            parts.append(f"consistent {_pct(position.consistency)}")
        chart.add("text", "value", " · ".join(parts) or "not measured", x=_LABEL_W + _PLOT_W + 10, y=mid + 4)
    _reference(chart, len(rows), 0.5, "no position bias")
    legend_y = chart.height - 8
    chart.add("rect", "first-bar", x=_LABEL_W, y=legend_y - 9, width=14, height=10)
    chart.add("text", "legend", "first-position win rate", x=_LABEL_W + 20, y=legend_y)
    chart.add("circle", "consistency", cx=_LABEL_W + 200, cy=legend_y - 4, r=5)
    chart.add("text", "legend", "position consistency", x=_LABEL_W + 210, y=legend_y)
    return chart


def calibration_chart(calibration: Calibration) -> Chart:
    """Reliability diagram: each bin's accuracy against its mean confidence (x over [0.5, 1],
    since confidence = max(p, 1 - p)), the diagonal of perfect calibration, dot area by count."""
    left, top, size = 56, 24, 300
    chart = Chart("chart-calibration", "Reliability diagram: accuracy against mean confidence per bin; "
                  "the diagonal is perfect calibration", left + size + 24, top + size + 48)

    def at(confidence: float, accuracy: float) -> tuple[float, float]:
        return left + (confidence - 0.5) * 2 * size, top + (1 - accuracy) * size

    chart.add("rect", "plot-area", x=left, y=top, width=size, height=size)
    for tick in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        x, _ = at(tick, 0)
        chart.add("line", "grid", x1=x, y1=top, x2=x, y2=top + size)
        chart.add("text", "tick", f"{tick:.0%}", x=x, y=top + size + 16, text_anchor="middle")
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        _, y = at(0.5, tick)
        chart.add("line", "grid", x1=left, y1=y, x2=left + size, y2=y)
        chart.add("text", "tick", f"{tick:.0%}", x=left - 6, y=y + 4, text_anchor="end")
    (x1, y1), (x2, y2) = at(0.5, 0.5), at(1, 1)
    chart.add("line", "diagonal", x1=x1, y1=y1, x2=x2, y2=y2)
    chart.add("text", "axis-label", "mean confidence", x=left + size / 2, y=top + size + 36, text_anchor="middle")
    chart.add("text", "axis-label", "accuracy", x=14, y=top + size / 2, text_anchor="middle",
              transform=f"rotate(-90 14 {top + size / 2:.1f})")
    bins = [b for b in calibration.bins if b.count and b.mean_confidence is not None and b.accuracy is not None]
    most = max((b.count for b in bins), default=1)
    points = [at(b.mean_confidence, b.accuracy) for b in bins]  # type: ignore[arg-type]
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        chart.add("line", "curve", x1=ax, y1=ay, x2=bx, y2=by)
    for b, (x, y) in zip(bins, points):
        chart.add("circle", "bin", title=f"confidence {b.low:.2f}–{b.high:.2f}: {b.count} units, mean confidence "
                  f"{_pct(b.mean_confidence)}, accuracy {_pct(b.accuracy)}",
                  cx=x, cy=y, r=3 + 9 * math.sqrt(b.count / most))
    chart.add("text", "ece", f"ECE {_pct(calibration.ece)}  (n={calibration.n})", x=left + 8, y=top + 18)
    return chart
