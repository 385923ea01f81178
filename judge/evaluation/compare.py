"""`judge eval --compare A B`: two reports' units paired by id, with McNemar's test per subset,
so that "B beats A" comes with a p-value rather than two accuracies side by side."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from judge.evaluation.report import Report
from judge.evaluation.stats import mcnemar

ALPHA = 0.05
OVERALL = "overall"
UNKNOWN_SUBSET = "(unknown subset)"


class ComparisonRow(BaseModel):
    """One subset (or the overall): accuracies over the units both reports judged, and the test."""

    subset: str
    n_paired: int = 0
    accuracy_a: float | None = None
    accuracy_b: float | None = None
    diff: float | None = None  # accuracy_b - accuracy_a
    b: int = 0  # A correct, B not
    c: int = 0  # B correct, A not
    p_value: float = 1.0
    method: str = "exact"
    only_a: int = 0
    only_b: int = 0
    verdict: str = ""


class SetupDifference(BaseModel):
    key: str
    a: Any = None
    b: Any = None


class Comparison(BaseModel):
    """Report A against report B; `rows` are the subsets sorted by name, then the overall."""

    a_name: str
    b_name: str
    alpha: float = ALPHA
    rows: list[ComparisonRow] = Field(default_factory=list)
    only_a: int = 0
    only_b: int = 0
    setup_differences: list[SetupDifference] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3g}"


def verdict(row: ComparisonRow, alpha: float = ALPHA) -> str:
    """A one-line reading of a row at level `alpha`."""
    if row.n_paired == 0:
        return "no paired units"
    if row.p_value < alpha and row.b != row.c:
        return f"{'B' if row.c > row.b else 'A'} better, {_p_text(row.p_value)}"
    return f"no significant difference ({_p_text(row.p_value)})"


def _row(subset: str, pairs: list[tuple[bool, bool]], only_a: int, only_b: int) -> ComparisonRow:
    n = len(pairs)
    b = sum(1 for a_ok, b_ok in pairs if a_ok and not b_ok)
    c = sum(1 for a_ok, b_ok in pairs if b_ok and not a_ok)
    acc_a = sum(a_ok for a_ok, _ in pairs) / n if n else None
    acc_b = sum(b_ok for _, b_ok in pairs) / n if n else None
    p, method = mcnemar(b, c)
    row = ComparisonRow(
        subset=subset,
        n_paired=n,
        accuracy_a=acc_a,
        accuracy_b=acc_b,
        diff=acc_b - acc_a if acc_a is not None and acc_b is not None else None,
        b=b,
        c=c,
        p_value=p,
        method=method,
        only_a=only_a,
        only_b=only_b,
    )
    row.verdict = verdict(row)
    return row


def _setup_differences(a: Report, b: Report) -> list[SetupDifference]:
    setup_a, setup_b = a.setup or {}, b.setup or {}
    found = [
        SetupDifference(key=key, a=setup_a.get(key), b=setup_b.get(key))
        for key in sorted(set(setup_a) | set(setup_b))
        if setup_a.get(key) != setup_b.get(key) or (key in setup_a) != (key in setup_b)
    ]
    if a.model != b.model:
        found.append(SetupDifference(key="model", a=a.model, b=b.model))
    return found


def compare_reports(a: Report, b: Report, *, a_name: str, b_name: str) -> Comparison:
    """Pair the units of two reports by id (correct = outcome "correct"; ties, unparsed and errors
    are not correct) and test each subset and the overall with McNemar's test."""
    subsets = {**b.unit_subsets, **a.unit_subsets}  # A's naming wins where both know a unit

    def subset_of(unit: str) -> str:
        return subsets.get(unit, UNKNOWN_SUBSET)

    pairs: dict[str, list[tuple[bool, bool]]] = {}
    only_a: dict[str, int] = {}
    only_b: dict[str, int] = {}
    for unit, outcome in a.outcomes.items():
        other = b.outcomes.get(unit)
        if other is None:
            only_a[subset_of(unit)] = only_a.get(subset_of(unit), 0) + 1
            continue
        pairs.setdefault(subset_of(unit), []).append((outcome == "correct", other == "correct"))
    for unit in b.outcomes.keys() - a.outcomes.keys():
        only_b[subset_of(unit)] = only_b.get(subset_of(unit), 0) + 1

    names = sorted(set(pairs) | set(only_a) | set(only_b))
    rows = [_row(name, pairs.get(name, []), only_a.get(name, 0), only_b.get(name, 0)) for name in names]
    total_a, total_b = sum(only_a.values()), sum(only_b.values())
    everything = [pair for name in names for pair in pairs.get(name, [])]
    rows.append(_row(OVERALL, everything, total_a, total_b))

    notes = []
    if total_a:
        notes.append(f"{total_a} unit(s) only in A ({a_name}): not compared")
    if total_b:
        notes.append(f"{total_b} unit(s) only in B ({b_name}): not compared")
    if not a.unit_subsets and not b.unit_subsets:
        notes.append("neither report maps units to subsets: only the overall row is meaningful")
    if a.seed != b.seed:
        notes.append(f"seeds differ (A {a.seed}, B {b.seed}): responses may sit in other positions")
    return Comparison(
        a_name=a_name,
        b_name=b_name,
        rows=rows,
        only_a=total_a,
        only_b=total_b,
        setup_differences=_setup_differences(a, b),
        notes=notes,
    )


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}"


def format_comparison(comparison: Comparison) -> str:
    """Plain text for a terminal or a CI log: one fixed-width row per subset, then the setup."""
    headers = ["subset", "paired", "acc A %", "acc B %", "diff", "b (A>B)", "c (B>A)", "p", "test"]
    headers += ["only A", "only B", "verdict"]
    table = [
        [
            row.subset,
            str(row.n_paired),
            _pct(row.accuracy_a),
            _pct(row.accuracy_b),
            _pct(row.diff, signed=True),
            str(row.b),
            str(row.c),
            f"{row.p_value:.3g}",
            row.method,
            str(row.only_a),
            str(row.only_b),
            row.verdict,
        ]
        for row in comparison.rows
    ]
    widths = [max(len(r[k]) for r in [headers, *table]) for k in range(len(headers))]

    def line(cells: list[str]) -> str:
        out = [cells[0].ljust(widths[0])]
        out += [cell.rjust(widths[k]) for k, cell in enumerate(cells[1:-1], start=1)]
        out.append(cells[-1])
        return "  ".join(out).rstrip()

    lines = [f"A: {comparison.a_name}", f"B: {comparison.b_name}", ""]
    lines.append(line(headers))
    lines.append(line(["-" * w for w in widths]))
    lines += [line(cells) for cells in table]
    lines.append("")
    lines.append(
        f"McNemar's test on the paired units, two-sided, alpha {comparison.alpha:g}: b = A correct and B not,"
        " c = B correct and A not; exact binomial for b + c <= 25, else chi-squared with continuity correction."
        " Ties, unparsed and errors count as not correct; units in one report only are not compared."
    )
    if comparison.setup_differences:
        lines.append("Setup differences:")
        lines += [f"  {d.key}: A={d.a!r}  B={d.b!r}" for d in comparison.setup_differences]
    else:
        lines.append("Setup differences: none")
    lines += [f"Note: {note}" for note in comparison.notes]
    return "\n".join(lines)
