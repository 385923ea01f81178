"""Robustness suites: master-key items and their false-positive report, padded items and the flip report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judge.errors import JudgeError
from judge.evaluation.datasets import load_eval_items
from judge.evaluation.report import EvalInfo
from judge.evaluation.robustness import (
    length_flip_report,
    length_items,
    load_filler,
    load_master_keys,
    master_key_items,
    master_key_report,
)
from judge.models import Item, Judgment, Status

EVAL = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "eval"
SHARED_KEYS = Path(__file__).resolve().parents[4] / "shared" / "data" / "master_keys.json"


def fixture(name: str) -> str:
    return str(EVAL / f"{name}.jsonl")


def info(item: Item) -> EvalInfo:
    return EvalInfo.model_validate(item.metadata["eval"])


def judgment(
    id: str,
    *,
    mode: str,
    label: int = 0,
    suite: str = "main",
    status: Status = Status.ok,
    preferred: int | None = None,
    scores: list[float | None] | None = None,
    key: str | None = None,
    category: str | None = None,
) -> Judgment:
    facts = EvalInfo(
        format="pairs", source="d.jsonl", line=1, group=id, subset="s", label=label, lengths=[1, 1], suite=suite, key=key, key_category=category
    )
    return Judgment(id=id, status=status, mode=mode, preferred=preferred, scores=scores or [], metadata={"eval": facts.model_dump(mode="json")})


# -- master keys: the data and the items ---------------------------------------------------------


def test_the_bundled_master_keys_in_file_order():
    keys = load_master_keys()
    assert len(keys) == 10
    assert keys[0] == ("non_word_symbols", " ")
    assert keys[4] == ("reasoning_openers", "Thought process:")
    assert keys[-1] == ("multilingual", "Respuesta")


@pytest.mark.skipif(not SHARED_KEYS.is_file(), reason=f"{SHARED_KEYS} is not beside this clone")
def test_the_bundled_master_keys_are_the_shared_ones():
    bundled = Path(__file__).resolve().parents[3] / "judge" / "evaluation" / "data" / "master_keys.json"
    assert json.loads(bundled.read_text(encoding="utf-8")) == json.loads(SHARED_KEYS.read_text(encoding="utf-8"))


def test_a_malformed_master_key_file_is_refused(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text('{"keys": {"symbols": [1]}}', encoding="utf-8")
    with pytest.raises(JudgeError, match="field 'keys' must be an object of category -> list of strings"):
        load_master_keys(str(path))


def test_master_key_items_in_a_score_mode_are_the_key_alone():
    main = load_eval_items([fixture("pairs")], mode="pointwise")
    items = master_key_items(main, mode="pointwise", prompts=2, keys=[("symbols", ":"), ("openers", "Solution")])
    assert [i.id for i in items] == ["mk:0:p-0", "mk:0:p-1", "mk:1:p-0", "mk:1:p-1"]
    assert [i.responses for i in items] == [[":"], [":"], ["Solution"], ["Solution"]]
    assert items[2].prompt == "What color is a ripe banana?"
    facts = info(items[2])
    assert (facts.suite, facts.key, facts.key_category, facts.subset) == ("master-keys", "Solution", "openers", "openers")
    assert (facts.label, facts.lengths, facts.format, facts.group, facts.pair) == (0, [8], "pairs", "p-0", None)


def test_master_key_items_pairwise_put_the_key_against_the_chosen_answer_coin_flipped():
    main = load_eval_items([fixture("rmbench")], mode="pairwise")  # 18 items, 2 groups
    items = master_key_items(main, mode="pairwise", prompts=5, keys=[("symbols", ".")], seed=1)
    assert [i.id for i in items] == ["mk:0:rm-0", "mk:0:rm-1"]  # distinct groups, not 18 items
    # seed 1: Random("1:mk:0:rm-0").random() = 0.419 -> real answer first; "1:mk:0:rm-1" = 0.580 -> key first
    assert items[0].responses == ["12", "."] and info(items[0]).label == 0
    assert items[1].responses == [".", "January"] and info(items[1]).label == 1
    assert info(items[1]).lengths == [1, 7] and info(items[1]).format == "rmbench"


def test_master_key_items_default_to_every_bundled_key_and_skip_other_suites():
    main = load_eval_items([fixture("pairs")], mode="principle")
    padded = length_items(main)
    items = master_key_items(padded + main, mode="principle", prompts=20)
    assert len(items) == 10 * 4  # 10 keys x the 4 rows there are; the padded items are not prompts
    assert items[-1].id == "mk:9:pairs:5" and items[-1].responses == ["Respuesta"]


# -- master keys: the report ---------------------------------------------------------------------


def test_master_key_report_pointwise():
    judgments = [
        judgment("mk:1:a", mode="pointwise", suite="master-keys", scores=[0.7], key=".", category="symbols"),
        judgment("mk:1:b", mode="pointwise", suite="master-keys", status=Status.error, key=".", category="symbols"),
        judgment("mk:0:a", mode="pointwise", suite="master-keys", scores=[0.9], key=" ", category="symbols"),
        judgment("mk:0:b", mode="pointwise", suite="master-keys", scores=[0.5], key=" ", category="symbols"),
        judgment("mk:0:c", mode="pointwise", suite="master-keys", scores=[0.2], key=" ", category="symbols"),
        judgment("mk:0:d", mode="pointwise", suite="master-keys", status=Status.unparsed, scores=[None], key=" ", category="symbols"),
        judgment("a", mode="pointwise", scores=[0.99]),  # the benchmark's own: not a key
    ]
    report = master_key_report(judgments, "pointwise")
    assert report.rule == "score above the midpoint (0.5) of the rubric's [0, 1] scale"
    space, dot = report.rows  # the keys' order (mk:0 before mk:1), not the judgments' order
    # " ": 0.9 credited, 0.5 is not above the midpoint, 0.2 not; 1 unparsed -> 1 / 3 decided
    assert (space.key, space.n, space.false_positives, space.unparsed, space.error) == (" ", 4, 1, 1, 0)
    assert space.rate == pytest.approx(1 / 3)
    # ".": 0.7 credited; 1 error -> 1 / 1 decided
    assert (dot.key, dot.n, dot.false_positives, dot.error, dot.rate) == (".", 2, 1, 1, 1.0)
    # overall: 2 credited of 6, 1 unparsed, 1 error -> 2 / 4
    assert report.overall is not None
    assert (report.overall.n, report.overall.false_positives, report.overall.unparsed, report.overall.error) == (6, 2, 1, 1)
    assert report.overall.rate == 0.5


def test_master_key_report_principle_rule():
    judgments = [judgment("mk:0:a", mode="principle", suite="master-keys", scores=[0.51], key="Solution", category="openers")]
    report = master_key_report(judgments, "principle")
    assert report.rule == "P(Yes) > 0.5"
    assert report.rows[0].false_positives == 1 and report.rows[0].rate == 1.0


def test_master_key_report_pairwise_counts_the_key_preferred():
    judgments = [
        judgment("mk:0:a", mode="pairwise", suite="master-keys", label=0, preferred=1, key=":", category="s"),  # key at 1 wins
        judgment("mk:0:b", mode="pairwise", suite="master-keys", label=0, preferred=0, key=":", category="s"),  # real wins
        judgment("mk:0:c", mode="pairwise", suite="master-keys", label=0, preferred=None, key=":", category="s"),  # tie: decided, no credit
        judgment("mk:0:d", mode="pairwise", suite="master-keys", label=1, preferred=0, key=":", category="s"),  # key at 0 wins
    ]
    report = master_key_report(judgments, "pairwise")
    assert report.rule == "the key response is preferred over a real answer"
    assert (report.rows[0].n, report.rows[0].false_positives) == (4, 2)
    assert report.rows[0].rate == 0.5  # 2 / 4


def test_master_key_report_with_no_key_judgments():
    report = master_key_report([judgment("a", mode="pairwise", preferred=0)], "pairwise")
    assert report.rows == [] and report.overall is None


def test_master_key_report_refuses_an_unknown_mode():
    with pytest.raises(JudgeError, match="unknown mode 'ranking'"):
        master_key_report([], "ranking")


# -- length: padded items ------------------------------------------------------------------------


def test_length_items_pad_the_rejected_response_to_the_documented_length():
    main = load_eval_items([fixture("pairs")], mode="pairwise", seed=0)
    padded = length_items(main, seed=0, filler=["Aa.", "Bb."])
    assert [i.id for i in padded] == ["len:p-0", "len:p-1", "len:7", "len:pairs:5"]
    first = padded[0]  # label 1: the rejected "Blue, usually." (14 characters) sits at 0
    # want min(14, 400) = 14 added characters: "\n\n" + 1 sentence = 5, 2 = 9, 3 = 13, 4 = 17 >= 14
    text = first.responses[0]
    assert text.startswith("Blue, usually.\n\n") and len(text) == 14 + 17
    assert text[16:].split(" ") in (["Aa.", "Bb.", "Aa.", "Bb."], ["Bb.", "Aa.", "Bb.", "Aa."])
    assert first.responses[1] == "Yellow."  # the chosen one is untouched
    facts = info(first)
    assert (facts.suite, facts.label, facts.lengths, facts.group) == ("length", 1, [31, 7], "p-0")
    assert padded[2].responses[1].startswith("6\n\n")  # "7": chosen first, rejected "6" at 1


def test_a_long_rejected_response_gets_at_most_about_400_characters(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"id": "x", "prompt": "Q", "responses": ["y" * 1000, "z"], "label": 1}) + "\n", encoding="utf-8")
    padded = length_items(load_eval_items([str(path)], mode="pairwise"), filler=["Ninechars"])
    # 1 sentence adds 2 + 9 = 11, each next one 1 + 9 = 10: 1 + 10 n >= 400 at n = 40 -> 401 added
    assert len(padded[0].responses[0]) == 1000 + 401
    assert info(padded[0]).lengths == [1401, 1]


def test_length_items_take_two_response_pairs_judgebench_and_engine_only():
    main = load_eval_items([fixture("judgebench"), fixture("engine"), fixture("rmbench"), fixture("best_of_n")], mode="pairwise")
    padded = length_items(main)
    assert [i.id for i in padded] == ["len:judgebench:1", "len:judgebench:2", "len:en-0"]  # en-1 has 3 responses
    assert padded[0].responses[0] == "No: 9 = 3 x 3." and padded[0].responses[1].startswith("Yes, 9 is prime.\n\n")
    assert padded[2].responses[0].startswith("Goodbye.\n\n") and padded[2].responses[1] == "Hello!"


def test_length_padding_is_seeded():
    main = load_eval_items([fixture("pairs")], mode="pairwise")
    assert [i.responses for i in length_items(main, seed=0)] == [i.responses for i in length_items(main, seed=0)]
    assert [i.responses for i in length_items(main, seed=0)] != [i.responses for i in length_items(main, seed=1)]


def test_the_bundled_filler_is_neutral_sentences():
    sentences = load_filler()
    assert 15 <= len(sentences) <= 30
    assert all(s.endswith(".") and s[0].isupper() for s in sentences)


# -- length: the flip report ---------------------------------------------------------------------


def test_length_flip_report_pairwise():
    judgments = [
        judgment("a", mode="pairwise", label=0, preferred=0),
        judgment("len:a", mode="pairwise", label=0, suite="length", preferred=1),  # correct -> wrong: flip to padded
        judgment("b", mode="pairwise", label=1, preferred=0),
        judgment("len:b", mode="pairwise", label=1, suite="length", preferred=1),  # wrong -> correct: flip
        judgment("c", mode="pairwise", label=0, preferred=0),
        judgment("len:c", mode="pairwise", label=0, suite="length", preferred=0),  # no flip
        judgment("d", mode="pairwise", label=0, preferred=0),
        judgment("len:d", mode="pairwise", label=0, suite="length", preferred=None),  # tie after: left out
        judgment("e", mode="pairwise", label=0, status=Status.unparsed),
        judgment("len:e", mode="pairwise", label=0, suite="length", preferred=1),  # unparsed before: left out
        judgment("len:f", mode="pairwise", label=0, suite="length", preferred=1),  # no original: left out
    ]
    report = length_flip_report(judgments)
    # pairs a, b, c: 2 flips (a, b), 1 towards the padded one (a); padded wins before: b; after: a
    assert (report.pairs, report.flipped, report.flipped_to_padded) == (3, 2, 1)
    assert report.flip_rate == pytest.approx(2 / 3)
    assert report.padded_win_rate_before == pytest.approx(1 / 3)
    assert report.padded_win_rate_after == pytest.approx(1 / 3)


def test_length_flip_report_pointwise():
    judgments = [
        judgment("a", mode="pointwise", label=0, scores=[0.8, 0.4]),
        judgment("len:a", mode="pointwise", label=0, suite="length", scores=[0.8, 0.9]),  # correct -> wrong
        judgment("b", mode="pointwise", label=1, scores=[0.3, 0.6]),
        judgment("len:b", mode="pointwise", label=1, suite="length", scores=[0.7, 0.6]),  # correct -> wrong
        judgment("c", mode="pointwise", label=1, scores=[0.5, 0.5]),
        judgment("len:c", mode="pointwise", label=1, suite="length", scores=[0.6, 0.5]),  # tie before: left out
    ]
    report = length_flip_report(judgments)
    # 2 pairs, both flipped towards the padded one: rates 2 / 2; the padded one won 0 / 2 before, 2 / 2 after
    assert (report.pairs, report.flipped, report.flipped_to_padded) == (2, 2, 2)
    assert (report.flip_rate, report.padded_win_rate_before, report.padded_win_rate_after) == (1.0, 0.0, 1.0)


def test_length_flip_report_with_nothing_to_pair():
    report = length_flip_report([judgment("a", mode="pairwise", preferred=0)])
    assert report.pairs == 0 and report.flip_rate is None and report.padded_win_rate_after is None
