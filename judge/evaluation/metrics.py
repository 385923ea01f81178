"""Every figure of an evaluation, computed from its judgments alone (so `--from` needs no model).

Judgments become units (one scored question each: a pair, an RM-Bench cell, a best-of-N row);
accuracy is counted over units, position bias over the pairwise judgments themselves. Each
judgment's `EvalInfo` is read once; everything after is a single pass over lists.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import get_args

from judge.evaluation.outcomes import eval_info, judgment_outcome, preferred_index
from judge.evaluation.report import (
    Calibration,
    CalibrationBin,
    DataFormat,
    EvalInfo,
    LengthBias,
    Metrics,
    Mistake,
    Outcome,
    PositionBias,
    RMBenchMatrix,
    Tally,
    Unit,
    UsageReport,
)
from judge.evaluation.stats import wilson
from judge.models import Judgment, Status

MAIN = "main"
FORMAT_ORDER: tuple[str, ...] = get_args(DataFormat)
PAIR_FORMATS = frozenset({"pairs", "judgebench", "engine"})
BIN_EDGES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # written out: 0.5 + 0.1 * k is not 0.6 in floats
MISTAKE_ORDER: dict[str, int] = {"wrong": 0, "tie": 1, "unparsed": 2, "error": 3}
RAW_LIMIT = 2000
RMBENCH_STYLES = 3

Parsed = list[tuple[Judgment, EvalInfo]]


def _main(judgments: Iterable[Judgment]) -> Parsed:
    """The judgments of the benchmark itself (suite "main"), each with its EvalInfo read once."""
    found: Parsed = []
    for judgment in judgments:
        info = eval_info(judgment)
        if info is not None and info.suite == MAIN:
            found.append((judgment, info))
    return found


def _confidence(judgment: Judgment, label: int) -> float | None:
    """P(the labelled response is preferred), only when the judge gave label probabilities."""
    if judgment.mode != "pairwise" or not any(v.probabilities is not None for v in judgment.verdicts):
        return None
    if label >= len(judgment.scores):
        return None
    return judgment.scores[label]


def _group_outcome(outcomes: Sequence[Outcome]) -> Outcome:
    """A best-of-N row judged as pairs: correct only when the chosen one wins every pair."""
    if all(o == "correct" for o in outcomes):
        return "correct"
    for worst in ("error", "unparsed", "wrong"):
        if worst in outcomes:
            return worst  # type: ignore[return-value]
    return "tie"


def _rmbench_cells(judgment: Judgment, info: EvalInfo) -> list[Unit]:
    """A score-mode RM-Bench row (3 chosen then 3 rejected styles): its nine chosen-vs-rejected cells."""
    units = []
    for i in range(RMBENCH_STYLES):
        for j in range(RMBENCH_STYLES):
            among = (i, RMBENCH_STYLES + j)
            short = judgment.status == Status.ok and len(judgment.scores) < 2 * RMBENCH_STYLES
            outcome: Outcome = "error" if short else judgment_outcome(judgment, i, among=among)
            units.append(
                Unit(
                    id=f"{judgment.id}#c{i}r{j}",
                    subset=info.subset,
                    format="rmbench",
                    outcome=outcome,
                    judgments=[judgment.id],
                    responses=2,
                    pair=(i, j),
                )
            )
    return units


def _units(parsed: Parsed) -> list[Unit]:
    units: list[Unit] = []
    groups: dict[str, list[tuple[Judgment, EvalInfo]]] = {}
    group_slot: dict[str, int] = {}  # where each best-of-N group's unit goes, to keep data order
    for judgment, info in parsed:
        fmt = info.format
        pairwise = judgment.mode == "pairwise"
        if fmt == "best_of_n" and pairwise:
            if info.group not in groups:
                groups[info.group] = []
                group_slot[info.group] = len(units)
                units.append(None)  # type: ignore[arg-type]  # filled below
            groups[info.group].append((judgment, info))
        elif fmt == "rmbench" and not pairwise:
            units.extend(_rmbench_cells(judgment, info))
        else:
            units.append(
                Unit(
                    id=judgment.id,
                    subset=info.subset,
                    format=fmt,
                    outcome=judgment_outcome(judgment, info.label),
                    judgments=[judgment.id],
                    responses=len(info.lengths),
                    confidence=_confidence(judgment, info.label) if fmt != "best_of_n" else None,
                    pair=info.pair if fmt == "rmbench" else None,
                )
            )
    for group, members in groups.items():
        units[group_slot[group]] = Unit(
            id=group,
            subset=members[0][1].subset,
            format="best_of_n",
            outcome=_group_outcome([judgment_outcome(j, i.label) for j, i in members]),
            judgments=[j.id for j, _ in members],
            # a pair adds one rejected response; RewardBench 2's 4-way item adds three
            responses=1 + sum(len(i.lengths) - 1 for _, i in members),
        )
    return units


def units_from(judgments: Iterable[Judgment]) -> list[Unit]:
    """The scored questions of the main suite, in data order; see the module docstring."""
    return _units(_main(judgments))


def _tally(units: Sequence[Unit]) -> Tally:
    counts = Counter(u.outcome for u in units)
    n = len(units)
    correct = counts["correct"]
    return Tally(
        n=n,
        correct=correct,
        wrong=counts["wrong"],
        ties=counts["tie"],
        unparsed=counts["unparsed"],
        error=counts["error"],
        accuracy=correct / n if n else None,
        interval=wilson(correct, n),
    )


def _position(parsed: Parsed) -> PositionBias | None:
    """Position consistency (both orders judged) and how often the response shown first wins."""
    pairwise = [j for j, info in parsed if j.mode == "pairwise" and len(info.lengths) == 2]
    if not pairwise:
        return None
    both = consistent = decided = first_wins = ties = 0
    for judgment in pairwise:
        flag = judgment.metadata.get("position_consistent")
        if flag is not None:
            both += 1
            consistent += flag is True
        for verdict in judgment.verdicts:
            if verdict.score is None or verdict.step not in ("pairwise", "pairwise-swapped"):
                continue
            shown_first = 0 if verdict.step == "pairwise" else 1
            if verdict.score == 0.5:
                ties += 1
                continue
            winner = 0 if verdict.score > 0.5 else 1
            decided += 1
            first_wins += winner == shown_first
    return PositionBias(
        judged_both_orders=both,
        consistent=consistent,
        consistency=consistent / both if both else None,
        orders_decided=decided,
        first_position_wins=first_wins,
        first_position_win_rate=first_wins / decided if decided else None,
        order_ties=ties,
    )


def _calibration(units: Sequence[Unit]) -> Calibration | None:
    """Reliability of the judge's probabilities: 5 bins of confidence in its own pick, and ECE."""
    rated = [u for u in units if u.confidence is not None]
    if not rated:
        return None
    counts = [0] * 5
    conf_sums = [0.0] * 5
    hits = [0] * 5
    for unit in rated:
        p = unit.confidence
        conf = max(p, 1.0 - p)  # type: ignore[operator]
        k = max(0, min(bisect_right(BIN_EDGES, conf) - 1, 4))  # 1.0 falls in the last bin
        counts[k] += 1
        conf_sums[k] += conf
        hits[k] += unit.outcome == "correct"
    n = len(rated)
    bins = []
    ece = 0.0
    for k in range(5):
        mean_conf = conf_sums[k] / counts[k] if counts[k] else None
        acc = hits[k] / counts[k] if counts[k] else None
        if counts[k]:
            ece += counts[k] / n * abs(acc - mean_conf)  # type: ignore[operator]
        bins.append(
            CalibrationBin(
                low=BIN_EDGES[k], high=BIN_EDGES[k + 1], count=counts[k], mean_confidence=mean_conf, accuracy=acc
            )
        )
    return Calibration(n=n, ece=ece, bins=bins)


def _length(units: Sequence[Unit], infos: dict[str, EvalInfo]) -> LengthBias | None:
    """How often the judge's pick is the longer response, against how often the label is."""
    n = judge_longer = label_longer = 0
    for unit in units:
        if unit.format not in PAIR_FORMATS or unit.responses != 2 or unit.outcome not in ("correct", "wrong"):
            continue
        info = infos.get(unit.judgments[0])
        if info is None or len(info.lengths) != 2 or info.lengths[0] == info.lengths[1]:
            continue
        longer = 0 if info.lengths[0] > info.lengths[1] else 1
        pick = info.label if unit.outcome == "correct" else 1 - info.label
        n += 1
        judge_longer += pick == longer
        label_longer += info.label == longer
    if not n:
        return None
    return LengthBias(n=n, judge_prefers_longer=judge_longer / n, labels_prefer_longer=label_longer / n)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rmbench(units: Sequence[Unit], infos: dict[str, EvalInfo]) -> RMBenchMatrix | None:
    """RM-Bench's 3x3 matrix of chosen style i against rejected style j, and its hard/normal/easy."""
    cells = [u for u in units if u.format == "rmbench" and u.pair is not None]
    if not cells:
        return None
    count = [[0] * RMBENCH_STYLES for _ in range(RMBENCH_STYLES)]
    right = [[0] * RMBENCH_STYLES for _ in range(RMBENCH_STYLES)]
    groups = set()
    for unit in cells:
        i, j = unit.pair  # type: ignore[misc]
        if not (0 <= i < RMBENCH_STYLES and 0 <= j < RMBENCH_STYLES):
            continue
        count[i][j] += 1
        right[i][j] += unit.outcome == "correct"
        info = infos.get(unit.judgments[0])
        if info is not None:
            groups.add(info.group)
    matrix: list[list[float | None]] = [
        [right[i][j] / count[i][j] if count[i][j] else None for j in range(RMBENCH_STYLES)]
        for i in range(RMBENCH_STYLES)
    ]

    def cells_where(keep: Callable[[int, int], bool]) -> list[float]:
        return [v for i, row in enumerate(matrix) for j, v in enumerate(row) if v is not None and keep(i, j)]

    return RMBenchMatrix(
        groups=len(groups),
        matrix=matrix,
        hard=_mean(cells_where(lambda i, j: i < j)),
        normal=_mean(cells_where(lambda i, j: i == j)),
        easy=_mean(cells_where(lambda i, j: i > j)),
    )


def _metrics(name: str, parsed: Parsed, units: Sequence[Unit]) -> Metrics:
    infos = {j.id: info for j, info in parsed}
    present = {u.format for u in units} | {info.format for _, info in parsed}
    return Metrics(
        name=name,
        formats=[f for f in FORMAT_ORDER if f in present],  # type: ignore[misc]
        tally=_tally(units),
        position=_position(parsed),
        calibration=_calibration(units),
        length=_length(units, infos),
        rmbench=_rmbench(units, infos),
    )


def metrics_for(name: str, judgments: Sequence[Judgment], units: Sequence[Unit]) -> Metrics:
    """The metrics of one slice: `units` for accuracy, the main-suite `judgments` for position bias."""
    return _metrics(name, _main(judgments), units)


def subset_metrics(judgments: Sequence[Judgment], units: Sequence[Unit]) -> list[Metrics]:
    """One Metrics per subset, sorted by name (the overall is `metrics_for("overall", ...)`)."""
    parsed_by: dict[str, Parsed] = {}
    for judgment, info in _main(judgments):
        parsed_by.setdefault(info.subset, []).append((judgment, info))
    units_by: dict[str, list[Unit]] = {}
    for unit in units:
        units_by.setdefault(unit.subset, []).append(unit)
    names = sorted(set(parsed_by) | set(units_by))
    return [_metrics(name, parsed_by.get(name, []), units_by.get(name, [])) for name in names]


def _raw_texts(judgment: Judgment) -> list[str]:
    return [f"[{raw.step}] " + "\n\n".join(raw.texts)[:RAW_LIMIT] for raw in judgment.raw]


def _mistake_key(unit: Unit) -> tuple[int, bool, float]:
    rank = MISTAKE_ORDER.get(unit.outcome, len(MISTAKE_ORDER))
    if unit.outcome != "wrong":
        return rank, False, 0.0
    return rank, unit.confidence is None, unit.confidence if unit.confidence is not None else 0.0


def mistakes(judgments: Sequence[Judgment], units: Sequence[Unit], limit: int = 20) -> list[Mistake]:
    """The worst units: confidently wrong first (lowest P(chosen)), then ties, unparsed, errors."""
    bad = [u for u in units if u.outcome != "correct"]
    bad.sort(key=_mistake_key)  # stable: ties, unparsed and errors keep data order
    bad = bad[: max(limit, 0)]
    wanted = {jid for u in bad for jid in u.judgments}
    found = {j.id: (j, info) for j, info in _main(j for j in judgments if j.id in wanted)}
    result = []
    for unit in bad:
        members = [found[jid] for jid in unit.judgments if jid in found]
        if not members:
            result.append(Mistake(unit=unit.id, subset=unit.subset, outcome=unit.outcome, confidence=unit.confidence))
            continue
        judgment, info = next(
            ((j, i) for j, i in members if judgment_outcome(j, i.label) != "correct"), members[0]
        )
        label = unit.pair[0] if unit.format == "rmbench" and judgment.mode != "pairwise" else info.label
        result.append(
            Mistake(
                unit=unit.id,
                subset=unit.subset,
                outcome=unit.outcome,
                confidence=unit.confidence,
                label=label,
                preferred=preferred_index(judgment),
                scores=list(judgment.scores),
                raw=_raw_texts(judgment),
                error=judgment.error,
            )
        )
    return result


def usage_report(judgments: Sequence[Judgment], wall_s: float | None) -> UsageReport:
    """Tokens, model calls and cache hits over every judgment of the run (robustness suites too)."""
    prompt = completion = calls = cached = 0
    for judgment in judgments:
        usage = judgment.usage
        prompt += usage.prompt_tokens
        completion += usage.completion_tokens
        calls += usage.requests
        cached += usage.cached_requests
    return UsageReport(
        judgments=len(judgments),
        prompt_tokens=prompt,
        completion_tokens=completion,
        model_calls=calls,
        cached_calls=cached,
        wall_s=wall_s,
        items_per_s=len(judgments) / wall_s if wall_s else None,
    )


def outcomes_map(units: Iterable[Unit]) -> dict[str, Outcome]:
    """unit id -> outcome: what `judge eval --compare` pairs two reports by."""
    return {u.id: u.outcome for u in units}
