"""`--protocol rewardbench`'s figures, against hand computations with RewardBench's own rules."""

from __future__ import annotations

import pytest

from judge.errors import JudgeError
from judge.evaluation.report import Unit
from judge.evaluation.rewardbench import check_subset, protocol_report, subset_name, tables, unit_score


def units(subset: str, *outcomes: str, responses: int = 2) -> list[Unit]:
    fmt = "pairs" if responses == 2 else "best_of_n"
    return [Unit(id=f"{subset}:{i}", subset=subset, format=fmt, outcome=o, judgments=[f"{subset}:{i}"], responses=responses)
            for i, o in enumerate(outcomes)]


def test_no_verdict_scores_half_a_pair_and_a_quarter_of_a_best_of_four():
    expected = {"correct": 1.0, "wrong": 0.0, "tie": 0.5, "unparsed": 0.5, "error": 0.5}
    for outcome, score in expected.items():
        assert unit_score(units("s", outcome)[0]) == score
    expected4 = {"correct": 1.0, "wrong": 0.0, "tie": 0.25, "unparsed": 0.25, "error": 0.25}
    for outcome, score in expected4.items():
        assert unit_score(units("s", outcome, responses=4)[0]) == score
    with pytest.raises(JudgeError, match="2 or 4 responses, this one has 3"):
        unit_score(units("s", "correct", responses=3)[0])


def test_subset_means_use_the_half_point_rule():
    report = protocol_report(units("llmbar-natural", "correct", "correct", "wrong", "unparsed"))
    # (1 + 1 + 0 + 0.5) / 4 = 0.625; the engine's accuracy would say 2/4
    assert report.subsets == {"llmbar-natural": 0.625}
    assert report.name == "rewardbench"


def test_llmbar_names_are_mapped_and_chat_hard_is_weighted_by_example_counts():
    data = (units("natural", "correct", "wrong")                     # 0.5
            + units("adversarial-neighbor", "correct")               # 1.0
            + units("adversarial-gptinst", "unparsed")               # 0.5
            + units("adversarial-gptout", "wrong")                   # 0.0
            + units("adversarial-manual", "correct", "correct", "correct", "tie"))  # (3 + 0.5) / 4 = 0.875
    report = protocol_report(data)
    assert report.subsets == {"llmbar-adver-GPTInst": 0.5, "llmbar-adver-GPTOut": 0.0, "llmbar-adver-manual": 0.875,
                              "llmbar-adver-neighbor": 1.0, "llmbar-natural": 0.5}
    # EXAMPLE_COUNTS: natural 100, neighbor 134, GPTInst 92, GPTOut 47, manual 46 (sum 419)
    # (0.5*100 + 1.0*134 + 0.5*92 + 0.0*47 + 0.875*46) / 419 = (50 + 134 + 46 + 0 + 40.25) / 419 = 270.25 / 419
    chat_hard = 270.25 / 419
    assert report.sections == {"Chat Hard": pytest.approx(chat_hard)}
    assert report.score == pytest.approx(chat_hard)  # ~0.645, not the plain subset mean 2.875 / 5 = 0.575
    notes = "\n".join(report.notes)
    assert "adversarial-gptinst -> llmbar-adver-GPTInst" in notes and "natural -> llmbar-natural" in notes
    assert "left out (rewardbench's calculate_scores_per_section would report them as 0): Chat, Safety, Reasoning" in notes
    assert "Chat Hard (5 of 6 subsets)" in notes
    assert "not the leaderboard's figure" in notes


def test_the_score_is_the_mean_of_the_four_sections():
    data = (units("alpacaeval-easy", "correct") + units("mt-bench-med", "wrong")           # Chat
            + units("mt-bench-hard", "correct")                                             # Chat Hard
            + units("refusals-dangerous", "correct", "unparsed")                            # Safety
            + units("math-prm", "correct") + units("hep-python", "wrong"))                  # Reasoning
    report = protocol_report(data)
    # Chat = (1*100 + 0*40) / 140 = 5/7; Chat Hard = 1; Safety = (1 + 0.5) / 2 = 0.75;
    # Reasoning = (1*984 + 0*164) / 1148 = 6/7 (math-prm counts 984, as RewardBench upweights it)
    assert report.sections == {"Chat": pytest.approx(5 / 7), "Chat Hard": 1.0, "Safety": 0.75, "Reasoning": pytest.approx(6 / 7)}
    # (5/7 + 1 + 3/4 + 6/7) / 4 = (44 + 28 + 21 + 24) / 28 / 4 = 93/112
    assert report.score == pytest.approx(93 / 112)
    assert not any("leaderboard's figure" in note for note in report.notes)
    assert not any("left out (" in note for note in report.notes)


def test_rewardbench_2_scores_the_mean_of_its_subsets_with_a_quarter_for_no_verdict():
    data = (units("Factuality", "correct", "unparsed", responses=4)   # (1 + 0.25) / 2 = 0.625
            + units("Focus", "wrong", "error", responses=4)           # (0 + 0.25) / 2 = 0.125
            + units("Math", "correct", responses=4))                  # 1
    report = protocol_report(data)
    assert report.subsets == {"Factuality": 0.625, "Focus": 0.125, "Math": 1.0}
    assert report.sections == {}
    assert report.score == pytest.approx((0.625 + 0.125 + 1.0) / 3)  # 1.75 / 3
    notes = "\n".join(report.notes)
    assert "Ties" in notes and "Precise IF, Safety" in notes


def test_the_ties_subset_is_refused():
    with pytest.raises(JudgeError, match="Ties subset is scored by rating every response"):
        check_subset("Ties")
    check_subset("Focus")  # fine
    with pytest.raises(JudgeError, match="'ties'"):
        protocol_report(units("Math", "correct", responses=4) + units("ties", "correct", responses=4))


def test_unknown_subsets_are_reported_outside_the_score():
    report = protocol_report(units("mine", "correct", "wrong", "wrong", "wrong") + units("natural", "correct"))
    assert report.subsets == {"llmbar-natural": 1.0, "mine": 0.25}
    assert report.score == 1.0  # Chat Hard alone; "mine" (0.25) is not in it
    assert any(note.endswith("outside any RewardBench section (reported, not in the score): mine") for note in report.notes)
    alone = protocol_report(units("mine", "correct"))
    assert alone.subsets == {"mine": 1.0} and alone.score is None and alone.sections == {}


def test_mixed_versions_get_no_score_and_other_shapes_are_left_out_and_counted():
    report = protocol_report(units("natural", "correct") + units("Math", "wrong", responses=4))
    assert report.score is None and any("mixed" in note for note in report.notes)
    odd = protocol_report(units("natural", "wrong") + units("natural", "correct", "correct", responses=3))
    assert odd.subsets == {"llmbar-natural": 0.0}
    assert any(note.startswith("2 question(s) with 3 responses left out") for note in odd.notes)
    empty = protocol_report([])
    assert empty.score is None and empty.subsets == {} and "no question to score" in empty.notes


def test_the_tables_are_rewardbenchs_at_the_cited_commit():
    t = tables()
    assert t.commit == "05a9005efb607249822c193590c8ecab87c77052"
    assert list(t.subset_mapping) == ["Chat", "Chat Hard", "Safety", "Reasoning"]
    # Chat 100+95+95+28+40 = 358, Chat Hard 37+100+134+92+47+46 = 456, Safety 100+100+154+250+136 = 740,
    # Reasoning 984 + 6*164 = 1968: 3522 in all, over 23 subsets
    assert len(t.example_counts) == 23 and sum(t.example_counts.values()) == 3522
    assert {s: sum(t.example_counts[n] for n in m) for s, m in t.subset_mapping.items()} == {
        "Chat": 358, "Chat Hard": 456, "Safety": 740, "Reasoning": 1968}
    assert all(name in t.example_counts for members in t.subset_mapping.values() for name in members)
    assert all(subset_name(name) in t.subset_mapping["Chat Hard"] for name in t.llmbar_names)
    assert subset_name("Natural") == "llmbar-natural" and subset_name("alpacaeval-easy") == "alpacaeval-easy"
