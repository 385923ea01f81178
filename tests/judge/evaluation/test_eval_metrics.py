"""Every metric of `judge eval` against hand-computed values on small, hand-built judgments."""

from __future__ import annotations

from typing import Any

import pytest

from judge.evaluation.metrics import (
    metrics_for,
    mistakes,
    outcomes_map,
    subset_metrics,
    units_from,
    usage_report,
)
from judge.evaluation.report import EvalInfo
from judge.models import Judgment, RawOutput, Status, Usage, Verdict

# ---------------------------------------------------------------- builders


def _meta(
    fmt: str = "pairs",
    *,
    label: int = 0,
    lengths: tuple[int, ...] = (10, 20),
    subset: str = "s",
    group: str = "g",
    pair: tuple[int, int] | None = None,
    suite: str = "main",
) -> dict[str, Any]:
    info = EvalInfo(
        format=fmt,  # type: ignore[arg-type]
        source="data.jsonl",
        line=1,
        group=group,
        subset=subset,
        label=label,
        lengths=list(lengths),
        pair=pair,
        suite=suite,
    )
    return {"eval": info.model_dump()}


def pairwise(
    jid: str,
    *,
    label: int = 0,
    preferred: int | None = 0,
    status: str = "ok",
    orders: tuple[float | None, ...] = (),
    swapped: tuple[float | None, ...] = (),
    probs: bool = False,
    scores: list[float | None] | None = None,
    consistent: bool | None = None,
    raw: list[RawOutput] | None = None,
    error: str | None = None,
    **meta: Any,
) -> Judgment:
    """A pairwise judgment; `orders` are verdict scores (P(response 0 wins)) of the "pairwise" step,
    `swapped` those of "pairwise-swapped"."""
    verdicts = [
        Verdict(criterion="preference", score=s, step="pairwise", probabilities={"A": 0.5} if probs else None)
        for s in orders
    ] + [
        Verdict(criterion="preference", score=s, step="pairwise-swapped", probabilities={"A": 0.5} if probs else None)
        for s in swapped
    ]
    metadata = _meta(label=label, **meta)
    if consistent is not None:
        metadata["position_consistent"] = consistent
    if scores is None:
        scores = [0.5, 0.5] if preferred is None else [1.0 - preferred, float(preferred)]
    return Judgment(
        id=jid,
        status=status,
        mode="pairwise",
        scores=scores,
        verdicts=verdicts,
        preferred=preferred if status == "ok" else None,
        raw=raw or [],
        error=error,
        metadata=metadata,
    )


def scored(
    jid: str, scores: list[float | None], *, status: str = "ok", mode: str = "pointwise", **meta: Any
) -> Judgment:
    return Judgment(id=jid, status=status, mode=mode, scores=scores, metadata=_meta(**meta))


# ---------------------------------------------------------------- units and tallies


def test_pairs_tally_counts_ties_unparsed_and_errors_as_not_correct() -> None:
    judgments = [
        pairwise("a", label=1, preferred=1),  # correct
        pairwise("b", label=0, preferred=1),  # wrong
        pairwise("c", label=0, preferred=None),  # tie
        pairwise("d", status="unparsed", preferred=None),  # unparsed
        pairwise("e", status="error", preferred=None),  # error
        pairwise("mk:f", suite="master-keys"),  # robustness suite: not in accuracy
        Judgment(id="plain", status="ok", mode="pairwise", scores=[1.0, 0.0], preferred=0),  # no eval info
    ]
    units = units_from(judgments)
    assert [u.id for u in units] == ["a", "b", "c", "d", "e"]
    assert outcomes_map(units) == {"a": "correct", "b": "wrong", "c": "tie", "d": "unparsed", "e": "error"}
    assert all(u.responses == 2 and u.confidence is None and u.format == "pairs" for u in units)

    tally = metrics_for("overall", judgments, units).tally
    assert (tally.n, tally.correct, tally.wrong, tally.ties, tally.unparsed, tally.error) == (5, 1, 1, 1, 1, 1)
    # accuracy = 1/5 = 0.2 (ties, unparsed and errors count as wrong)
    assert tally.accuracy == pytest.approx(0.2)
    # Wilson, k=1, n=5: d = 1 + 3.841459/5 = 1.768292; centre = (0.2 + 0.384146)/1.768292 = 0.330343
    # half = 1.959964 * sqrt(0.032 + 0.038415) / 1.768292 = 1.959964 * 0.265358 / 1.768292 = 0.294121
    # -> (0.036222, 0.624464)
    assert tally.interval is not None
    assert tally.interval.low == pytest.approx(0.036222, abs=1e-5)
    assert tally.interval.high == pytest.approx(0.624464, abs=1e-5)


def test_empty_slice_has_no_accuracy() -> None:
    metrics = metrics_for("overall", [], [])
    assert metrics.tally.n == 0 and metrics.tally.accuracy is None and metrics.tally.interval is None
    assert metrics.position is None and metrics.calibration is None
    assert metrics.length is None and metrics.rmbench is None


def test_engine_rows_with_more_responses() -> None:
    judgments = [scored("e1", [0.2, 0.9, 0.4], fmt="engine", label=1, lengths=(3, 4, 5))]
    (unit,) = units_from(judgments)
    assert (unit.outcome, unit.responses, unit.format) == ("correct", 3, "engine")


# ---------------------------------------------------------------- position bias


def test_position_bias_with_both_orders() -> None:
    judgments = [
        # shown first wins both times: "pairwise" 1.0 (orig 0 wins, 0 shown first), swapped 0.0 (orig 1, shown first)
        pairwise("j1", orders=(1.0,), swapped=(0.0,), preferred=None, consistent=False),
        # "pairwise" 1.0 first wins; swapped 1.0: orig 0 wins but 1 was shown first -> first loses
        pairwise("j2", orders=(1.0,), swapped=(1.0,), preferred=0, consistent=True),
        # "pairwise" 0.5 is an order tie; swapped 0.0: orig 1 wins, shown first -> first wins
        pairwise("j3", orders=(0.5,), swapped=(0.0,), preferred=1, label=1, consistent=True),
        # one order only: "pairwise" 0.0: orig 1 wins, 0 shown first -> first loses; no consistency flag
        pairwise("j4", orders=(0.0,), preferred=1),
        # an unread verdict (score None) counts nowhere
        pairwise("j5", status="unparsed", orders=(None,), swapped=(None,), preferred=None, consistent=False),
        # a 3-response pairwise item is not a pair: left out entirely
        pairwise("j6", orders=(1.0,), swapped=(1.0,), lengths=(1, 2, 3), consistent=True),
        # another suite is left out
        pairwise("mk:j7", orders=(1.0,), suite="master-keys", consistent=True),
    ]
    position = metrics_for("overall", judgments, units_from(judgments)).position
    assert position is not None
    # judged both orders: j1, j2, j3, j5 = 4; consistent: j2, j3 = 2 -> 0.5
    assert (position.judged_both_orders, position.consistent) == (4, 2)
    assert position.consistency == pytest.approx(0.5)
    # decided orders: j1 2 + j2 2 + j3 1 + j4 1 = 6; first wins: j1 2 + j2 1 + j3 1 + j4 0 = 4 -> 4/6
    assert (position.orders_decided, position.first_position_wins, position.order_ties) == (6, 4, 1)
    assert position.first_position_win_rate == pytest.approx(4 / 6)


def test_position_bias_absent_without_pairwise_judgments() -> None:
    judgments = [scored("p1", [0.9, 0.1])]
    assert metrics_for("overall", judgments, units_from(judgments)).position is None


def test_position_bias_one_order_only_has_no_consistency() -> None:
    judgments = [pairwise("j", orders=(0.7,))]
    position = metrics_for("overall", judgments, units_from(judgments)).position
    assert position is not None
    assert position.judged_both_orders == 0 and position.consistency is None
    assert position.first_position_win_rate == 1.0


# ---------------------------------------------------------------- calibration


def test_calibration_bins_and_ece() -> None:
    judgments = [
        pairwise("u1", label=0, preferred=0, scores=[0.95, 0.05], orders=(0.95,), probs=True),  # conf .95 hit
        pairwise("u2", label=1, preferred=1, scores=[0.15, 0.85], orders=(0.15,), probs=True),  # conf .85 hit
        pairwise("u3", label=0, preferred=1, scores=[0.2, 0.8], orders=(0.2,), probs=True),  # p .2 -> conf .8 miss
        pairwise("u4", label=0, preferred=0, scores=[0.55, 0.45], orders=(0.55,), probs=True),  # conf .55 hit
        pairwise("u5", label=0, preferred=0, scores=[1.0, 0.0], orders=(1.0,), probs=True),  # conf 1.0 hit
        pairwise("u6", label=0, preferred=0, scores=[0.6, 0.4], orders=(0.6,), probs=True),  # conf .6 (edge) hit
        pairwise("u7", label=1, preferred=0, scores=[0.6, 0.4], orders=(0.6,), probs=True),  # p .4 -> conf .6 miss
        pairwise("text", label=0, preferred=0, orders=(1.0,)),  # verdict read from text: no confidence
        scored("point", [0.9, 0.1]),  # score mode: no confidence
    ]
    units = units_from(judgments)
    confidences = {u.id: u.confidence for u in units}
    assert confidences["u3"] == pytest.approx(0.2) and confidences["u7"] == pytest.approx(0.4)
    assert confidences["text"] is None and confidences["point"] is None

    calibration = metrics_for("overall", judgments, units).calibration
    assert calibration is not None
    assert calibration.n == 7
    bins = calibration.bins
    assert [(b.low, b.high) for b in bins] == [(0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0)]
    # [0.5,0.6): u4 (.55, hit)          -> mean .55,  acc 1.0, |gap| .45
    # [0.6,0.7): u6 (.6 hit), u7 (.6 miss) -> mean .6, acc .5, |gap| .1
    # [0.7,0.8): empty
    # [0.8,0.9): u2 (.85 hit), u3 (.8 miss) -> mean .825, acc .5, |gap| .325
    # [0.9,1.0]: u1 (.95 hit), u5 (1.0 hit) -> mean .975, acc 1.0, |gap| .025
    assert [b.count for b in bins] == [1, 2, 0, 2, 2]
    assert bins[0].mean_confidence == pytest.approx(0.55) and bins[0].accuracy == 1.0
    assert bins[1].mean_confidence == pytest.approx(0.6) and bins[1].accuracy == 0.5
    assert bins[2].mean_confidence is None and bins[2].accuracy is None
    assert bins[3].mean_confidence == pytest.approx(0.825) and bins[3].accuracy == 0.5
    assert bins[4].mean_confidence == pytest.approx(0.975) and bins[4].accuracy == 1.0
    # ECE = (1*.45 + 2*.1 + 2*.325 + 2*.025) / 7 = (.45 + .2 + .65 + .05) / 7 = 1.35 / 7
    assert calibration.ece == pytest.approx(1.35 / 7)


def test_no_calibration_without_probabilities() -> None:
    judgments = [pairwise("a", orders=(1.0,)), pairwise("b", orders=(0.0,), preferred=1)]
    assert metrics_for("overall", judgments, units_from(judgments)).calibration is None


# ---------------------------------------------------------------- length bias


def test_length_bias() -> None:
    judgments = [
        pairwise("A", lengths=(10, 20), label=1, preferred=1),  # correct: pick 1 longer; label longer
        pairwise("B", lengths=(30, 5), label=1, preferred=0),  # wrong: pick 0 longer; label shorter
        pairwise("C", lengths=(30, 5), label=0, preferred=0),  # correct: pick 0 longer; label longer
        scored("F", [0.9, 0.1], fmt="judgebench", lengths=(1, 2), label=0),  # correct: pick 0 shorter; label shorter
        pairwise("D", lengths=(7, 7), label=0, preferred=0),  # equal lengths: out
        pairwise("E", lengths=(10, 20), label=0, preferred=None),  # tie: out
        pairwise("U", lengths=(10, 20), label=0, status="unparsed", preferred=None),  # unparsed: out
        scored("G", [0.1, 0.2, 0.9], fmt="engine", lengths=(1, 2, 3), label=2),  # 3 responses: out
        pairwise("H", fmt="rmbench", lengths=(10, 20), label=1, preferred=1, pair=(0, 0)),  # not a pair format
    ]
    length = metrics_for("overall", judgments, units_from(judgments)).length
    assert length is not None
    # n = A, B, C, F = 4; judge picks the longer in A, B, C = 3/4; the label is the longer in A, C = 2/4
    assert length.n == 4
    assert length.judge_prefers_longer == pytest.approx(0.75)
    assert length.labels_prefer_longer == pytest.approx(0.5)


def test_no_length_bias_when_nothing_qualifies() -> None:
    judgments = [pairwise("D", lengths=(7, 7))]
    assert metrics_for("overall", judgments, units_from(judgments)).length is None


# ---------------------------------------------------------------- RM-Bench


RMBENCH_R1 = {  # (chosen style i, rejected style j) -> outcome wanted
    (0, 0): "correct",
    (0, 1): "wrong",
    (0, 2): "tie",
    (1, 0): "correct",
    (1, 1): "correct",
    (1, 2): "wrong",
    (2, 0): "correct",
    (2, 1): "correct",
    (2, 2): "unparsed",
}


def _rm_pair(row: str, cell: tuple[int, int], outcome: str, label: int) -> Judgment:
    i, j = cell
    preferred = {"correct": label, "wrong": 1 - label, "tie": None, "unparsed": None}[outcome]
    return pairwise(
        f"{row}#c{i}r{j}",
        fmt="rmbench",
        label=label,
        preferred=preferred,
        status="unparsed" if outcome == "unparsed" else "ok",
        pair=cell,
        group=row,
    )


def test_rmbench_pairwise_matrix() -> None:
    judgments = [_rm_pair("r1", cell, outcome, label=(k % 2)) for k, (cell, outcome) in enumerate(RMBENCH_R1.items())]
    judgments += [_rm_pair("r2", (0, 1), "correct", 0), _rm_pair("r2", (2, 0), "wrong", 1)]
    units = units_from(judgments)
    assert len(units) == 11
    assert units[1].id == "r1#c0r1" and units[1].pair == (0, 1) and units[1].outcome == "wrong"
    rm = metrics_for("overall", judgments, units).rmbench
    assert rm is not None
    assert rm.groups == 2
    # cells: [0][1] = (r1 wrong, r2 correct) = 1/2; [2][0] = (r1 correct, r2 wrong) = 1/2; others r1 alone
    assert rm.matrix == [[1.0, 0.5, 0.0], [1.0, 1.0, 0.0], [0.5, 1.0, 0.0]]
    # hard (i<j): mean(.5, 0, 0) = 1/6; normal: mean(1, 1, 0) = 2/3; easy (i>j): mean(1, .5, 1) = 5/6
    assert rm.hard == pytest.approx(1 / 6)
    assert rm.normal == pytest.approx(2 / 3)
    assert rm.easy == pytest.approx(5 / 6)


def test_rmbench_score_mode_cells() -> None:
    # chosen styles score [0.9, 0.5, 0.3]; rejected styles score [0.4, 0.5, 0.8]
    row = scored("row", [0.9, 0.5, 0.3, 0.4, 0.5, 0.8], fmt="rmbench", lengths=(1, 2, 3, 4, 5, 6), group="row")
    units = units_from([row])
    assert [u.id for u in units] == [f"row#c{i}r{j}" for i in range(3) for j in range(3)]
    assert [u.pair for u in units] == [(i, j) for i in range(3) for j in range(3)]
    # i=0 (.9) vs .4 .5 .8: c c c; i=1 (.5): c tie w; i=2 (.3): w w w
    assert [u.outcome for u in units] == ["correct"] * 3 + ["correct", "tie", "wrong"] + ["wrong"] * 3
    metrics = metrics_for("overall", [row], units)
    assert (metrics.tally.n, metrics.tally.correct, metrics.tally.ties, metrics.tally.wrong) == (9, 4, 1, 4)
    rm = metrics.rmbench
    assert rm is not None and rm.groups == 1
    assert rm.matrix == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    # hard: [0][1], [0][2], [1][2] = (1 + 1 + 0)/3; normal: (1 + 0 + 0)/3; easy: [1][0], [2][0], [2][1] = (1+0+0)/3
    assert rm.hard == pytest.approx(2 / 3)
    assert rm.normal == pytest.approx(1 / 3)
    assert rm.easy == pytest.approx(1 / 3)
    assert metrics.length is None  # RM-Bench cells are not length-bias pairs


def test_rmbench_score_mode_unparsed_and_short() -> None:
    unread = scored("u", [None] * 6, status="unparsed", fmt="rmbench", lengths=(1,) * 6)
    short = scored("s", [0.5, 0.5], fmt="rmbench", lengths=(1,) * 6)
    units = units_from([unread, short])
    assert [u.outcome for u in units] == ["unparsed"] * 9 + ["error"] * 9


# ---------------------------------------------------------------- best-of-N


def _bon(row: str, k: int, outcome: str, status: str = "ok") -> Judgment:
    label = k % 2  # the coin flip
    preferred = {"correct": label, "wrong": 1 - label, "tie": None}.get(outcome)
    return pairwise(
        f"{row}#r{k}",
        fmt="best_of_n",
        label=label,
        preferred=preferred,
        status=status,
        pair=(0, k),
        group=row,
        subset="bon",
    )


def test_best_of_n_pairwise_groups() -> None:
    judgments = [
        _bon("g1", 1, "correct"),
        _bon("g2", 1, "correct"),
        _bon("g1", 2, "correct"),
        _bon("g2", 2, "wrong"),
        _bon("g1", 3, "correct"),
        _bon("g2", 3, "unparsed", status="unparsed"),
        _bon("g3", 1, "correct"),
        _bon("g3", 2, "tie"),
        _bon("g4", 1, "tie"),
        _bon("g4", 2, "wrong"),
        _bon("g5", 1, "wrong"),
        _bon("g5", 2, "error", status="error"),
        _bon("g5", 3, "unparsed", status="unparsed"),
        # RewardBench 2 under --protocol rewardbench: one 4-response pairwise item
        pairwise("g6", fmt="best_of_n", label=2, preferred=2, lengths=(1, 2, 3, 4), group="g6", scores=[0, 0, 1, 0]),
    ]
    units = units_from(judgments)
    assert [u.id for u in units] == ["g1", "g2", "g3", "g4", "g5", "g6"]
    # g1 all correct; g2 wrong + unparsed -> unparsed; g3 tie; g4 tie + wrong -> wrong; g5 error first
    assert [u.outcome for u in units] == ["correct", "unparsed", "tie", "wrong", "error", "correct"]
    assert units[0].judgments == ["g1#r1", "g1#r2", "g1#r3"]
    assert [u.responses for u in units] == [4, 4, 3, 3, 4, 4]
    assert all(u.subset == "bon" for u in units[:5])
    tally = metrics_for("overall", judgments, units).tally
    # n = 6 rows (not 14 judgments); correct = g1, g6
    assert (tally.n, tally.correct, tally.wrong, tally.ties, tally.unparsed, tally.error) == (6, 2, 1, 1, 1, 1)
    # g2's mistake shows its first non-correct judgment, g2#r2 (label 0, picked 1), not the correct
    # g2#r1 (label 1, picked 1) nor the unparsed g2#r3 (label 1, no pick)
    found = {m.unit: m for m in mistakes(judgments, units)}
    assert (found["g2"].label, found["g2"].preferred, found["g2"].outcome) == (0, 1, "unparsed")


def test_best_of_n_score_mode() -> None:
    judgments = [
        scored("b1", [0.1, 0.2, 0.9, 0.3], fmt="best_of_n", label=2, lengths=(1, 1, 1, 1)),  # strictly highest
        scored("b2", [0.9, 0.2, 0.9, 0.1], fmt="best_of_n", label=2, lengths=(1, 1, 1, 1)),  # shares the top
        scored("b3", [0.9, 0.2, 0.5, 0.1], fmt="best_of_n", label=2, lengths=(1, 1, 1, 1)),  # beaten
    ]
    units = units_from(judgments)
    assert [(u.id, u.outcome, u.responses) for u in units] == [
        ("b1", "correct", 4),
        ("b2", "tie", 4),
        ("b3", "wrong", 4),
    ]


# ---------------------------------------------------------------- subsets, mistakes, usage


def test_subset_metrics_sorted_and_separate() -> None:
    judgments = [
        pairwise("z1", subset="zeta", preferred=0, orders=(1.0,)),
        pairwise("z2", subset="zeta", preferred=1, orders=(0.0,)),
        pairwise("a1", subset="alpha", preferred=0),
        scored("r", [0.9, 0.5, 0.3, 0.4, 0.5, 0.8], fmt="rmbench", subset="alpha", lengths=(1,) * 6),
    ]
    units = units_from(judgments)
    subsets = subset_metrics(judgments, units)
    assert [m.name for m in subsets] == ["alpha", "zeta"]
    alpha, zeta = subsets
    # alpha: a1 correct + 9 RM-Bench cells (4 correct) = 5/10
    assert (alpha.tally.n, alpha.tally.correct) == (10, 5)
    assert alpha.formats == ["pairs", "rmbench"]
    assert alpha.position is not None and alpha.position.orders_decided == 0
    # zeta: z1 correct, z2 wrong; orders: z1 first wins (1.0 shown-first 0), z2 first loses
    assert (zeta.tally.n, zeta.tally.correct) == (2, 1)
    assert zeta.position is not None and zeta.position.first_position_win_rate == 0.5
    assert zeta.rmbench is None
    overall = metrics_for("overall", judgments, units)
    assert overall.tally.n == 12 and overall.formats == ["pairs", "rmbench"]


def test_mistakes_order_and_content() -> None:
    long_text = "x" * 3000
    judgments = [
        pairwise("w30", preferred=1, scores=[0.3, 0.7], orders=(0.3,), probs=True),
        pairwise("tie", preferred=None, orders=(0.5,)),
        pairwise("w10", preferred=1, scores=[0.1, 0.9], orders=(0.1,), probs=True),
        pairwise("err", status="error", preferred=None, error="backend down"),
        pairwise("wnone", preferred=1),
        pairwise("unp", status="unparsed", preferred=None),
        pairwise("ok", preferred=0),
        pairwise(
            "w45",
            preferred=1,
            scores=[0.45, 0.55],
            orders=(0.45,),
            probs=True,
            raw=[
                RawOutput(step="pairwise", texts=[long_text, "tail"]),
                RawOutput(step="pairwise-swapped", texts=["B"]),
            ],
        ),
    ]
    units = units_from(judgments)
    found = mistakes(judgments, units)
    # wrong by confidence ascending, None last; then tie, unparsed, error; the correct one never
    assert [m.unit for m in found] == ["w10", "w30", "w45", "wnone", "tie", "unp", "err"]
    assert [m.outcome for m in found] == ["wrong"] * 4 + ["tie", "unparsed", "error"]
    w45 = found[2]
    assert w45.confidence == pytest.approx(0.45) and w45.label == 0 and w45.preferred == 1
    assert w45.scores == [0.45, 0.55]
    # one string per raw step, its texts joined and cut to 2000 characters
    assert len(w45.raw) == 2
    assert w45.raw[0] == "[pairwise] " + "x" * 2000
    assert w45.raw[1] == "[pairwise-swapped] B"
    assert found[-1].error == "backend down"
    assert [m.unit for m in mistakes(judgments, units, limit=2)] == ["w10", "w30"]


def test_mistakes_of_score_mode_rmbench_cells() -> None:
    row = scored("row", [0.9, 0.5, 0.3, 0.4, 0.5, 0.8], fmt="rmbench", lengths=(1,) * 6)
    found = mistakes([row], units_from([row]))
    # wrong cells: (1,2), (2,0), (2,1), (2,2) in data order (no confidence), then the tie (1,1)
    assert [m.unit for m in found] == ["row#c1r2", "row#c2r0", "row#c2r1", "row#c2r2", "row#c1r1"]
    assert found[0].label == 1 and found[1].label == 2  # the chosen style compared
    assert found[0].preferred == 0  # response 0 has the strictly highest score of the six


def test_usage_report_counts_every_suite() -> None:
    judgments = [
        pairwise("a"),
        pairwise("mk:b", suite="master-keys"),
        Judgment(id="c", status="ok", mode="pairwise"),
    ]
    judgments[0].usage = Usage(prompt_tokens=10, completion_tokens=2, requests=2, cached_requests=1)
    judgments[1].usage = Usage(prompt_tokens=5, completion_tokens=1, requests=1, cached_requests=0)
    judgments[2].usage = Usage(prompt_tokens=1, completion_tokens=1, requests=1, cached_requests=1)
    usage = usage_report(judgments, wall_s=2.0)
    assert (usage.judgments, usage.prompt_tokens, usage.completion_tokens) == (3, 16, 4)
    assert (usage.model_calls, usage.cached_calls) == (4, 2)
    assert usage.wall_s == 2.0 and usage.items_per_s == pytest.approx(1.5)  # 3 judgments / 2 s
    assert usage_report(judgments, wall_s=None).items_per_s is None


# ---------------------------------------------------------------- scale


def test_ten_thousand_rows() -> None:
    """`--from` on a large run: 10,000 judgments built without validation, every count checked."""
    judgments = []
    for k in range(10_000):
        label = k % 2
        kind = k % 4  # 0, 3 correct; 1 wrong; 2 tie
        preferred = {0: label, 1: 1 - label, 2: None, 3: label}[kind]
        p0 = {0: 1.0, 1: 0.0, None: 0.5}[preferred]
        metadata = _meta(label=label, lengths=(10 + label, 20 - label), subset=f"s{k % 10}", group=str(k))
        metadata["position_consistent"] = kind != 2
        judgments.append(
            Judgment.model_construct(
                id=str(k),
                status=Status.ok,
                mode="pairwise",
                scores=[p0, 1.0 - p0],
                verdicts=[
                    Verdict.model_construct(criterion="preference", score=p0, step="pairwise", probabilities=None),
                    Verdict.model_construct(
                        criterion="preference", score=p0, step="pairwise-swapped", probabilities=None
                    ),
                ],
                preferred=preferred,
                raw=[],
                usage=Usage(prompt_tokens=3, completion_tokens=1, requests=2, cached_requests=1),
                metadata=metadata,
            )
        )
    units = units_from(judgments)
    overall = metrics_for("overall", judgments, units)
    subsets = subset_metrics(judgments, units)
    worst = mistakes(judgments, units)
    usage = usage_report(judgments, wall_s=4.0)
    tally = overall.tally
    assert (tally.n, tally.correct, tally.wrong, tally.ties) == (10_000, 5_000, 2_500, 2_500)
    assert [m.name for m in subsets] == [f"s{k}" for k in range(10)]
    assert sum(m.tally.n for m in subsets) == 10_000
    position = overall.position
    assert position is not None
    assert (position.judged_both_orders, position.consistent) == (10_000, 7_500)
    # per decided judgment one order is won by the response shown first: 7,500 of 15,000 orders
    assert (position.orders_decided, position.first_position_wins, position.order_ties) == (15_000, 7_500, 5_000)
    assert len(worst) == 20 and all(m.outcome == "wrong" for m in worst)
    assert usage.model_calls == 20_000 and usage.items_per_s == 2_500
    assert len(outcomes_map(units)) == 10_000
