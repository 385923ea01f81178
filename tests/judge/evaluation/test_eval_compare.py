"""`judge eval --compare`: units paired by id, McNemar per subset, setup differences, the text table."""

from __future__ import annotations

from typing import Any

import pytest
from judge.evaluation.compare import compare_reports, format_comparison
from judge.evaluation.report import Metrics, Outcome, Report

def report(
    outcomes: dict[str, Outcome],
    subsets: dict[str, str],
    *,
    setup: dict[str, Any] | None = None,
    model: str | None = "m",
    seed: int | None = 0,
) -> Report:
    return Report(
        created="2025-01-01T00:00:00Z",
        judgments="judgments.jsonl",
        overall=Metrics(name="overall"),
        outcomes=outcomes,
        unit_subsets=subsets,
        setup=setup,
        model=model,
        seed=seed,
    )


def _pairs(prefix: str, spec: list[tuple[Outcome, Outcome, int]]) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    """`count` units of each (A outcome, B outcome)."""
    a: dict[str, Outcome] = {}
    b: dict[str, Outcome] = {}
    k = 0
    for out_a, out_b, count in spec:
        for _ in range(count):
            a[f"{prefix}{k}"] = out_a
            b[f"{prefix}{k}"] = out_b
            k += 1
    return a, b


def test_compare_per_subset_and_overall() -> None:
    # subset "x": 10 both right, 1 A-only right (b), 6 B-only right (c), 3 both wrong -> 20 paired
    xa, xb = _pairs(
        "x", [("correct", "correct", 10), ("correct", "wrong", 1), ("tie", "correct", 6), ("wrong", "unparsed", 3)]
    )
    # subset "y": 30 B-only right, 0 A-only right, 0 agreeing -> chi2 branch
    ya, yb = _pairs("y", [("error", "correct", 30)])
    subsets = {**{u: "x" for u in xa}, **{u: "y" for u in ya}}
    a = report(
        {**xa, **ya, "gone": "correct"},
        {**subsets, "gone": "x"},
        setup={"mode": "pairwise", "both_orders": False},
    )
    b = report(
        {**xb, **yb, "new1": "wrong", "new2": "correct"},
        {**subsets, "new1": "y", "new2": "y"},
        setup={"mode": "pairwise", "both_orders": True, "strategy": "direct"},
        model="m2",
    )
    comparison = compare_reports(a, b, a_name="base", b_name="both-orders")

    rows = {r.subset: r for r in comparison.rows}
    assert [r.subset for r in comparison.rows] == ["x", "y", "overall"]

    x = rows["x"]
    # A right on 10 + 1 = 11 of 20 = 0.55; B right on 10 + 6 = 16 of 20 = 0.8; diff 0.25
    assert (x.n_paired, x.b, x.c) == (20, 1, 6)
    assert x.accuracy_a == pytest.approx(0.55) and x.accuracy_b == pytest.approx(0.8)
    assert x.diff == pytest.approx(0.25)
    # exact: 2 * (C(7,0) + C(7,1)) / 2^7 = 2 * 8 / 128 = 0.125
    assert (x.p_value, x.method) == (pytest.approx(0.125), "exact")
    assert x.verdict == "no significant difference (p=0.125)"
    assert (x.only_a, x.only_b) == (1, 0)

    y = rows["y"]
    # b = 0, c = 30 > 25 -> chi2: x = (30 - 1)^2 / 30 = 28.033; p = erfc(sqrt(14.017)) = 1.19e-7
    assert (y.n_paired, y.b, y.c, y.method) == (30, 0, 30, "chi2")
    assert y.p_value == pytest.approx(1.1924e-7, rel=1e-3)
    assert y.accuracy_a == 0.0 and y.accuracy_b == 1.0
    assert y.verdict == "B better, p<0.001"
    assert (y.only_a, y.only_b) == (0, 2)

    overall = rows["overall"]
    # 50 paired: b = 1, c = 36; A right 11/50, B right 46/50
    assert (overall.n_paired, overall.b, overall.c, overall.method) == (50, 1, 36, "chi2")
    assert overall.accuracy_a == pytest.approx(0.22) and overall.accuracy_b == pytest.approx(0.92)
    assert (overall.only_a, overall.only_b) == (1, 2)
    assert (comparison.only_a, comparison.only_b) == (1, 2)
    assert any("1 unit(s) only in A (base)" in n for n in comparison.notes)
    assert any("2 unit(s) only in B (both-orders)" in n for n in comparison.notes)

    diffs = {d.key: (d.a, d.b) for d in comparison.setup_differences}
    assert diffs == {"both_orders": (False, True), "strategy": (None, "direct"), "model": ("m", "m2")}


def test_compare_a_better_significant() -> None:
    # b = 8, c = 0: exact, 2 * P(X <= 0) = 2 / 2^8 = 0.0078125
    a_out, b_out = _pairs("u", [("correct", "wrong", 8), ("correct", "correct", 2)])
    subsets = {u: "s" for u in a_out}
    comparison = compare_reports(report(a_out, subsets), report(b_out, subsets), a_name="A", b_name="B")
    row = comparison.rows[0]
    assert (row.subset, row.b, row.c) == ("s", 8, 0)
    assert row.p_value == pytest.approx(2 / 256)
    assert row.verdict == "A better, p=0.00781"
    assert row.diff == pytest.approx(-0.8)  # 2/10 - 10/10
    assert comparison.setup_differences == []


def test_compare_without_subset_map_pairs_overall() -> None:
    a_out, b_out = _pairs("u", [("correct", "correct", 3), ("wrong", "correct", 1)])
    comparison = compare_reports(report(a_out, {}), report(b_out, {}), a_name="A", b_name="B")
    assert [r.subset for r in comparison.rows] == ["(unknown subset)", "overall"]
    assert comparison.rows[-1].n_paired == 4 and comparison.rows[-1].c == 1
    # b = 0, c = 1: 2 * P(X <= 0) = 2 * 1/2 = 1
    assert comparison.rows[-1].p_value == 1.0
    assert any("neither report maps units to subsets" in n for n in comparison.notes)


def test_compare_notes_seed_difference() -> None:
    a, b = report({"u": "correct"}, {}, seed=1), report({"u": "correct"}, {}, seed=2)
    comparison = compare_reports(a, b, a_name="A", b_name="B")
    assert any("seeds differ" in n for n in comparison.notes)


def test_format_comparison_table() -> None:
    xa, xb = _pairs("x", [("correct", "correct", 10), ("correct", "wrong", 1), ("wrong", "correct", 6)])
    ya, yb = _pairs("y", [("wrong", "correct", 30)])
    subsets = {**{u: "x" for u in xa}, **{u: "long-subset-name" for u in ya}}
    a = report({**xa, **ya}, subsets, setup={"strategy": "direct"})
    b = report({**xb, **yb}, subsets, setup={"strategy": "rethink"})
    text = format_comparison(compare_reports(a, b, a_name="run-a", b_name="run-b"))
    lines = text.splitlines()
    assert lines[0] == "A: run-a" and lines[1] == "B: run-b"
    header = next(line for line in lines if line.startswith("subset"))
    body = [line for line in lines if line.startswith(("x ", "long-subset-name", "overall"))]
    assert len(body) == 3
    # fixed width: every row's verdict starts in the same column as the header's
    column = header.index("verdict")
    assert all(len(line) > column and line[column - 2 : column] == "  " for line in body)
    x_line = next(line for line in body if line.startswith("x "))
    # x: A 11/17 = 64.7 %, B 16/17 = 94.1 %, diff +29.4; b = 1, c = 6; p = 0.125
    assert "64.7" in x_line and "94.1" in x_line and "+29.4" in x_line
    assert x_line.endswith("no significant difference (p=0.125)")
    assert next(line for line in body if line.startswith("long")).endswith("B better, p<0.001")
    assert "  strategy: A='direct'  B='rethink'" in lines
