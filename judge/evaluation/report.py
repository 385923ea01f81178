"""The shapes of an evaluation: what each judged item is measured against, and the report.

Everything here is computed from a judgments file alone: an item's `metadata["eval"]` (an
`EvalInfo`) travels into its judgment, so `judge eval --from judgments.jsonl` needs no model,
no data files and no items.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DataFormat = Literal["pairs", "rmbench", "judgebench", "best_of_n", "engine"]
Outcome = Literal["correct", "wrong", "tie", "unparsed", "error"]
REPORT_VERSION = 1


class EvalInfo(BaseModel):
    """What an evaluation item is measured against; stored in `Item.metadata["eval"]`.

    `label` is the index in the item's `responses` of the chosen (correct) one. Items that
    expand one benchmark row (RM-Bench's 3x3 pairs, best-of-N's chosen-vs-each-rejected pairs)
    share the row's `group`, and `pair` says which cell: (chosen variant, rejected variant).
    """

    model_config = ConfigDict(extra="forbid")

    format: DataFormat
    source: str
    line: int
    group: str
    subset: str
    label: int
    lengths: list[int]
    pair: tuple[int, int] | None = None
    suite: str = "main"
    key: str | None = None
    key_category: str | None = None
    seed: int | None = None  # the seed that placed the responses (so --from can state it)


class Unit(BaseModel):
    """One scored question of an evaluation: a pair, an RM-Bench cell, a best-of-N row.

    `id` is stable across runs of the same data and seed, so two reports pair their units
    for McNemar's test. `judgments` are the ids of the judgments it was computed from.
    """

    id: str
    subset: str
    format: DataFormat
    outcome: Outcome
    judgments: list[str]
    responses: int = 2
    confidence: float | None = None  # P(the chosen one is preferred), when the judge gave probabilities
    pair: tuple[int, int] | None = None


class Interval(BaseModel):
    low: float
    high: float
    method: Literal["wilson"] = "wilson"
    level: float = 0.95


class Tally(BaseModel):
    """Outcomes counted; ties, unparsed and errors count as wrong in `accuracy` and are shown apart."""

    n: int = 0
    correct: int = 0
    wrong: int = 0
    ties: int = 0
    unparsed: int = 0
    error: int = 0
    accuracy: float | None = None
    interval: Interval | None = None


class PositionBias(BaseModel):
    """From pairwise judgments: `consistency` needs both orders; first-position wins count every order judged."""

    judged_both_orders: int = 0
    consistent: int = 0
    consistency: float | None = None
    orders_decided: int = 0
    first_position_wins: int = 0
    first_position_win_rate: float | None = None
    order_ties: int = 0


class CalibrationBin(BaseModel):
    low: float
    high: float
    count: int = 0
    mean_confidence: float | None = None
    accuracy: float | None = None


class Calibration(BaseModel):
    """Confidence = max(p, 1 - p) for p = P(chosen preferred); 5 equal bins over [0.5, 1]."""

    n: int = 0
    ece: float | None = None
    bins: list[CalibrationBin] = Field(default_factory=list)


class LengthBias(BaseModel):
    """Over two-response units whose responses differ in length (characters) and the judge decided."""

    n: int = 0
    judge_prefers_longer: float | None = None
    labels_prefer_longer: float | None = None


class RMBenchMatrix(BaseModel):
    """RM-Bench's 3x3 matrix: cell [i][j] = accuracy of chosen style i against rejected style j
    (styles: 0 concise, 1 detailed, 2 detailed with markdown). hard = mean of the upper-right
    triangle (i < j), normal = the diagonal, easy = the lower-left triangle (i > j)."""

    groups: int = 0
    matrix: list[list[float | None]] = Field(default_factory=list)
    hard: float | None = None
    normal: float | None = None
    easy: float | None = None


class Metrics(BaseModel):
    """The metrics of one subset, or of the whole run (`name` "overall")."""

    name: str
    formats: list[DataFormat] = Field(default_factory=list)
    tally: Tally = Field(default_factory=Tally)
    position: PositionBias | None = None
    calibration: Calibration | None = None
    length: LengthBias | None = None
    rmbench: RMBenchMatrix | None = None


class UsageReport(BaseModel):
    judgments: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    cached_calls: int = 0
    wall_s: float | None = None
    items_per_s: float | None = None


class Mistake(BaseModel):
    """A unit the judge got wrong (or could not decide), with the judge's own words."""

    unit: str
    subset: str
    outcome: Outcome
    confidence: float | None = None
    label: int | None = None
    preferred: int | None = None
    scores: list[float | None] = Field(default_factory=list)
    raw: list[str] = Field(default_factory=list)
    error: str | None = None


class KeyRow(BaseModel):
    key: str
    category: str
    n: int = 0
    false_positives: int = 0
    rate: float | None = None
    unparsed: int = 0
    error: int = 0


class MasterKeyReport(BaseModel):
    """One Token to Fool LLM-as-a-Judge: how often a content-free response is credited."""

    mode: str
    rule: str
    rows: list[KeyRow] = Field(default_factory=list)
    overall: KeyRow | None = None


class LengthFlipReport(BaseModel):
    """Rejected responses padded with neutral filler: how often the verdict changes."""

    pairs: int = 0
    flipped: int = 0
    flipped_to_padded: int = 0
    flip_rate: float | None = None
    padded_win_rate_before: float | None = None
    padded_win_rate_after: float | None = None


class ProtocolReport(BaseModel):
    """A published protocol's own numbers (e.g. RewardBench's), beside the engine's stricter ones."""

    name: str
    description: str
    subsets: dict[str, float] = Field(default_factory=dict)
    sections: dict[str, float] = Field(default_factory=dict)
    score: float | None = None
    notes: list[str] = Field(default_factory=list)


class Report(BaseModel):
    """`report.json`: every figure of an evaluation, recomputable from `judgments`."""

    version: int = REPORT_VERSION
    created: str
    judgments: str
    data: list[str] = Field(default_factory=list)
    seed: int | None = None
    setup: dict[str, Any] | None = None
    model: str | None = None
    overall: Metrics
    subsets: list[Metrics] = Field(default_factory=list)
    usage: UsageReport = Field(default_factory=UsageReport)
    protocol: ProtocolReport | None = None
    master_keys: MasterKeyReport | None = None
    length_flips: LengthFlipReport | None = None
    mistakes: list[Mistake] = Field(default_factory=list)
    outcomes: dict[str, Outcome] = Field(default_factory=dict)
    unit_subsets: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
