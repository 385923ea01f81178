"""RewardBench's own figures (`--protocol rewardbench`), beside the engine's stricter metrics.

The rules are those of the `rewardbench` package's generative-judge scripts (github.com/
allenai/reward-bench at 05a9005: scripts/run_generative.py, scripts/run_generative_v2.py,
rewardbench/utils.py), so that a judge model's figure is comparable with the leaderboard:

- a question scores 1 when the verdict names the chosen response, 0 when it names another, and
  1/N when there is no verdict (unparsed, error, or a tie): 0.5 for a pair (RewardBench 1), 0.25
  for best of 4 (RewardBench 2). The engine's accuracy counts those as wrong instead;
- a subset's figure is the mean over its questions;
- RewardBench 1's four sections weight their subsets by the fixed EXAMPLE_COUNTS
  (`calculate_scores_per_section`), and its score is the mean of the sections;
- RewardBench 2's score is the mean of its subsets.

The tables (EXAMPLE_COUNTS, SUBSET_MAPPING, the RewardBench 2 subsets, LLMBar's names) are data:
data/rewardbench.json, with their source and commit.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, ConfigDict

from judge.errors import JudgeError
from judge.evaluation.report import ProtocolReport, Unit

NAME = "rewardbench"
DESCRIPTION = (
    "RewardBench's generative-judge protocol (github.com/allenai/reward-bench at 05a9005): one judgment per "
    "question, responses in a random order, the verdict the first [[X]] of the reply; 1 when it names the chosen "
    "response, 0 when another, 0.5 (pairs, RewardBench 1) or 0.25 (best of 4, RewardBench 2) when there is none; "
    "subsets are means, RewardBench 1's sections weight them by its example counts"
)
# A question without a verdict scores as a uniform guess among the responses shown.
NO_VERDICT = {2: 0.5, 4: 0.25}


class Tables(BaseModel):
    """data/rewardbench.json: RewardBench's constants, as published at `commit`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    commit: str
    files: dict[str, str]
    example_counts: dict[str, int]
    subset_mapping: dict[str, list[str]]
    rewardbench2_subsets: list[str]
    rewardbench2_refused: list[str]
    llmbar_names: dict[str, str]
    remarks: list[str] = []


@lru_cache(maxsize=1)
def tables() -> Tables:
    """RewardBench's tables, read once from the package data."""
    text = (resources.files("judge.evaluation") / "data" / "rewardbench.json").read_text(encoding="utf-8")
    return Tables.model_validate_json(text)


def subset_name(subset: str) -> str:
    """RewardBench's name for a subset: LLMBar's names become RewardBench 1's, any other is kept."""
    return tables().llmbar_names.get(subset.lower(), subset)


def check_subset(subset: str) -> None:
    """Refuse a subset the protocol does not reproduce (RewardBench 2's Ties); call it before judging."""
    refused = {name.lower() for name in tables().rewardbench2_refused}
    if subset.lower() in refused:
        raise JudgeError(
            f"subset '{subset}': RewardBench 2's Ties subset is scored by rating every response on its own (1-10) "
            "and its own ties metric, not by the 4-way prompt, and --protocol rewardbench does not reproduce that; "
            "leave its rows out"
        )


def unit_score(unit: Unit) -> float:
    """1 correct, 0 wrong, 1/N without a verdict (0.5 for 2 responses, 0.25 for 4)."""
    if unit.responses not in NO_VERDICT:
        raise JudgeError(f"unit '{unit.id}': RewardBench compares 2 or 4 responses, this one has {unit.responses}")
    if unit.outcome == "correct":
        return 1.0
    if unit.outcome == "wrong":
        return 0.0
    return NO_VERDICT[unit.responses]


def protocol_report(units: list[Unit]) -> ProtocolReport:
    """RewardBench's per-subset figures, RewardBench 1's sections and the score, with what differs in `notes`.

    Units of a refused subset (Ties) raise; units of neither 2 nor 4 responses are left out and counted
    in the notes. Subsets outside RewardBench are reported but left out of sections and score.
    """
    t = tables()
    report = ProtocolReport(name=NAME, description=DESCRIPTION)
    notes = report.notes
    notes.append("a question without a verdict (unparsed, error or tie) scores 0.5 in a pair and 0.25 in a best of 4, "
                 "as rewardbench scores a parse failure; the engine's accuracy counts it as wrong")
    for unit in units:
        check_subset(unit.subset)
    counted = [unit for unit in units if unit.responses in NO_VERDICT]
    if len(counted) < len(units):
        shapes = sorted({unit.responses for unit in units if unit.responses not in NO_VERDICT})
        notes.append(f"{len(units) - len(counted)} question(s) with {', '.join(map(str, shapes))} responses left out: "
                     "RewardBench compares 2 (RewardBench 1) or 4 (RewardBench 2)")
    if not counted:
        notes.append("no question to score")
        return report

    scores: dict[str, list[float]] = {}
    renamed: dict[str, str] = {}
    for unit in counted:
        name = subset_name(unit.subset)
        if name != unit.subset:
            renamed[unit.subset] = name
        scores.setdefault(name, []).append(unit_score(unit))
    report.subsets = {name: sum(values) / len(values) for name, values in sorted(scores.items())}
    if renamed:
        notes.append("subsets renamed to RewardBench's: " + ", ".join(f"{a} -> {b}" for a, b in sorted(renamed.items())))

    first = [name for name in report.subsets if name in t.example_counts]
    second = [name for name in report.subsets if name in t.rewardbench2_subsets]
    outside = [name for name in report.subsets if name not in first and name not in second]
    if first:
        report.sections = _sections(report.subsets, t, notes)
    if outside:
        notes.append("subsets outside any RewardBench section (reported, not in the score): " + ", ".join(outside))
    if first and second:
        notes.append("RewardBench 1 and 2 subsets are mixed: no single score")
    elif first:
        report.score = sum(report.sections.values()) / len(report.sections)
        if len(report.sections) < len(t.subset_mapping):
            notes.append(f"the score is the mean of {len(report.sections)} of RewardBench 1's {len(t.subset_mapping)} "
                         f"sections ({', '.join(report.sections)}): not the leaderboard's figure, which averages all "
                         f"{len(t.subset_mapping)}")
    elif second:
        report.score = sum(report.subsets[name] for name in second) / len(second)
        missing = [name for name in t.rewardbench2_subsets if name not in second]
        notes.append(f"the score is the mean of {len(second)} RewardBench 2 subset(s) ({', '.join(second)}); the "
                     "leaderboard's also averages Ties (rated, not judged 4-way), which is not reproduced"
                     + (f", and {', '.join(missing)}" if missing else ""))
    else:
        notes.append("no RewardBench subset: no score comparable with the leaderboard")
    return report


def _sections(subsets: dict[str, float], t: Tables, notes: list[str]) -> dict[str, float]:
    """`calculate_scores_per_section` over the subsets present; a section with none is left out (it says 0)."""
    sections: dict[str, float] = {}
    partial: list[str] = []
    for section, members in t.subset_mapping.items():
        present = [name for name in members if name in subsets]
        if not present:
            continue
        total = sum(t.example_counts[name] for name in present)
        sections[section] = sum(subsets[name] * t.example_counts[name] for name in present) / total
        if len(present) < len(members):
            partial.append(f"{section} ({len(present)} of {len(members)} subsets)")
    left_out = [section for section in t.subset_mapping if section not in sections]
    if left_out:
        notes.append("sections with no subset present are left out (rewardbench's calculate_scores_per_section "
                     "would report them as 0): " + ", ".join(left_out))
    if partial:
        notes.append("sections weighted over the subsets present only: " + ", ".join(partial))
    return sections
