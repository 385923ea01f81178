"""Reading evaluation data: every format's layout, the seeded coin flip, and every refusal with its file:line."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from judge.errors import InputError, JudgeError
from judge.evaluation.datasets import FORMATS, chosen_first, detect_format, load_eval_items
from judge.evaluation.report import EvalInfo
from judge.models import Item, Message

EVAL = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "eval"
LLMBAR = Path(__file__).resolve().parents[4] / "shared" / "data" / "llmbar"


def fixture(name: str) -> str:
    return str(EVAL / f"{name}.jsonl")


def info(item: Item) -> EvalInfo:
    return EvalInfo.model_validate(item.metadata["eval"])


def write(tmp_path: Path, lines: list, name: str = "data.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines), encoding="utf-8")
    return str(path)


def message(call) -> str:
    with pytest.raises(InputError) as caught:
        call()
    return str(caught.value)


PAIR = {"prompt": "Q?", "chosen": "good", "rejected": "bad"}


# -- detection -----------------------------------------------------------------------------------


def test_formats_are_the_five_named():
    assert FORMATS == ("pairs", "rmbench", "judgebench", "best_of_n", "engine")


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (PAIR, "pairs"),
        ({"prompt": "Q", "chosen": ["a", "b", "c"], "rejected": ["d", "e", "f"]}, "rmbench"),
        ({"question": "Q", "response_A": "a", "response_B": "b", "label": "A>B"}, "judgebench"),
        ({"prompt": "Q", "chosen": "a", "rejected": ["b", "c"]}, "best_of_n"),
        ({"prompt": "Q", "chosen": ["a"], "rejected": ["b", "c", "d"]}, "best_of_n"),
        ({"prompt": "Q", "responses": ["a", "b"], "label": 1}, "engine"),
        ({"prompt": "Q", "answer": "a"}, None),
        ({"prompt": "Q", "chosen": ["a"], "rejected": "b"}, None),
        (["not", "an", "object"], None),
    ],
)
def test_detect_format(row, expected):
    assert detect_format(row) == expected


# -- each format's layout (seed 0; placements checked by hand against the coin flip) -------------


def test_pairs_are_coin_flipped_and_keep_their_fields():
    items = load_eval_items([fixture("pairs")], mode="pairwise", seed=0)
    assert [i.id for i in items] == ["p-0", "p-1", "7", "pairs:5"]  # an int id is text; no id: file stem:line
    # seed 0: Random("0:p-0").random() = 0.862 -> rejected first; Random("0:7").random() = 0.471 -> chosen first
    assert [info(i).label for i in items] == [1, 1, 0, 1]
    assert items[0].responses == ["Blue, usually.", "Yellow."]
    assert items[2].responses == ["5", "6"]
    first = info(items[0])
    assert (first.format, first.source, first.line, first.group, first.subset) == ("pairs", fixture("pairs"), 1, "p-0", "colors")
    assert first.lengths == [14, 7] and first.pair is None and first.suite == "main"
    last = info(items[3])
    assert last.line == 5 and last.subset == "pairs"  # line 4 is blank; no subset field: the file stem
    assert items[3].prompt == [Message(role="system", content="Answer briefly."), Message(role="user", content="Name a large ocean.")]


def test_the_coin_flip_is_the_documented_generator():
    items = load_eval_items([fixture("pairs")], mode="pairwise", seed=5)
    for item in items:
        heads = random.Random(f"5:{item.id}").random() < 0.5
        assert info(item).label == (0 if heads else 1)


def test_same_seed_same_placement_other_seed_changes_some():
    first = [info(i).label for i in load_eval_items([fixture("pairs")], mode="pairwise", seed=0)]
    again = [info(i).label for i in load_eval_items([fixture("pairs")], mode="pairwise", seed=0)]
    other = [info(i).label for i in load_eval_items([fixture("pairs")], mode="pairwise", seed=1)]
    assert first == again
    assert other == [1, 0, 1, 0]  # seed 1, by hand from the same generator
    assert other != first


def test_about_half_of_200_rows_put_the_chosen_one_first(tmp_path):
    path = write(tmp_path, [{"id": f"r{n}", **PAIR} for n in range(200)])
    items = load_eval_items([path], mode="pairwise", seed=0)
    firsts = sum(info(i).label == 0 for i in items)
    assert 80 <= firsts <= 120  # Binomial(200, 0.5): mean 100, sd 7.1; this band is +-2.8 sd
    assert all(i.responses[info(i).label] == "good" for i in items)


def test_pairs_in_a_score_mode_are_one_flipped_item_each():
    items = load_eval_items([fixture("pairs")], mode="pointwise", seed=0)
    assert [info(i).label for i in items] == [1, 1, 0, 1]  # the same flip as pairwise
    assert all(len(i.responses) == 2 for i in items)


def test_rmbench_pairwise_is_nine_flipped_cells_per_row():
    items = load_eval_items([fixture("rmbench")], mode="pairwise", seed=0)
    assert len(items) == 18
    row = items[:9]
    assert [i.id for i in row][:4] == ["rm-0#c0r0", "rm-0#c0r1", "rm-0#c0r2", "rm-0#c1r0"]
    assert [info(i).pair for i in row] == [(c, r) for c in range(3) for r in range(3)]
    assert [info(i).label for i in row] == [0, 0, 0, 1, 0, 1, 0, 1, 0]  # Random("0:rm-0:k"), k = 3c + r
    cell = items[5]  # c1r2: chosen detailed against rejected markdown, rejected first
    assert cell.responses == ["**Answer:** 13\n\n- 4 + 4 + 4 = 13", "Three times four is twelve, since 4 + 4 + 4 = 12."]
    assert info(cell).group == "rm-0" and info(cell).lengths == [32, 49]
    assert info(items[9]).subset == "rmbench"


def test_rmbench_in_a_score_mode_is_one_six_response_item_unshuffled():
    items = load_eval_items([fixture("rmbench")], mode="principle", seed=3)
    assert [i.id for i in items] == ["rm-0", "rm-1"]
    assert items[0].responses[0] == "12" and items[0].responses[3] == "13" and items[0].responses[5].startswith("**Answer:** 13")
    assert info(items[0]).label == 0 and info(items[0]).pair is None


def test_judgebench_keeps_its_order_and_reads_the_label():
    for seed in (0, 1):
        items = load_eval_items([fixture("judgebench")], mode="pairwise", seed=seed)
        assert [i.id for i in items] == ["judgebench:1", "judgebench:2"]  # pair_id is not an id
        assert [info(i).label for i in items] == [0, 1]
        assert items[0].responses == ["No: 9 = 3 x 3.", "Yes, 9 is prime."]
        assert items[0].prompt == "Is 9 a prime number?"
        assert [info(i).subset for i in items] == ["toy-math", "toy-geo"]  # JudgeBench's source


def test_best_of_n_pairwise_is_one_flipped_pair_per_rejected():
    items = load_eval_items([fixture("best_of_n")], mode="pairwise", seed=0)
    assert [i.id for i in items] == ["bn-0#r0", "bn-0#r1", "bn-0#r2", "bn-1#r0", "bn-1#r1", "bn-1#r2", "bn-2#r0"]
    assert [info(i).pair for i in items[:3]] == [(0, 0), (0, 1), (0, 2)]
    assert [info(i).label for i in items] == [1, 0, 1, 1, 1, 1, 1]
    assert items[1].responses == ["Eight.", "Ten."]
    assert items[3].responses == ["Steam.", "Ice."]  # a chosen list of one is that one
    assert items[6].responses == ["Milk.", "Honey."] and info(items[6]).group == "bn-2"  # one rejected: one plain pair


def test_best_of_n_in_a_score_mode_inserts_the_chosen_one_at_a_seeded_position():
    items = load_eval_items([fixture("best_of_n")], mode="pointwise", seed=1)
    # seed 1: Random("1:bn-0").randrange(4) = 2 -> inserted before index 2
    assert items[0].responses == ["Six.", "Ten.", "Eight.", "Four."] and info(items[0]).label == 2
    assert items[2].responses == ["Milk.", "Honey."] and info(items[2]).label == 1
    assert [info(i).label for i in load_eval_items([fixture("best_of_n")], mode="pointwise", seed=0)] == [0, 0, 0]


def test_rewardbench_protocol_swaps_the_chosen_one_into_a_seeded_position(tmp_path):
    path = write(tmp_path, [json.loads(line) for line in Path(fixture("best_of_n")).read_text().splitlines()[:2]])
    items = load_eval_items([path], mode="pairwise", seed=1, protocol="rewardbench")
    # seed 1: k = 2 for bn-0: positions 0 and 2 swap (not an insert: that would give Six., Ten., Eight., Four.)
    assert items[0].responses == ["Ten.", "Six.", "Eight.", "Four."] and info(items[0]).label == 2
    assert items[0].id == "bn-0" and info(items[0]).pair is None
    assert len(items) == 2


def test_rewardbench_protocol_refuses_another_count_of_rejected():
    text = message(lambda: load_eval_items([fixture("best_of_n")], mode="pairwise", protocol="rewardbench"))
    assert text == (
        f"{fixture('best_of_n')}:3: under --protocol rewardbench a best_of_n row has 1 chosen and 3 rejected responses "
        "(RewardBench 2's 4-way prompt); this one has 1 rejected"
    )


def test_rewardbench_protocol_needs_pairwise_mode():
    with pytest.raises(JudgeError, match="--protocol rewardbench judges in pairwise mode"):
        load_eval_items([fixture("pairs")], mode="pointwise", protocol="rewardbench")


def test_engine_rows_keep_their_order_and_label():
    items = load_eval_items([fixture("engine")], mode="pairwise", seed=1)
    assert items[1].responses == ["1, 2", "1, 2, 4", "1, 2, 3"] and info(items[1]).label == 2
    assert info(items[0]).lengths == [8, 6]


def test_limit_counts_rows_across_files_in_order():
    items = load_eval_items([fixture("pairs"), fixture("rmbench")], mode="pairwise", limit=5)
    assert [i.id for i in items[:4]] == ["p-0", "p-1", "7", "pairs:5"]
    assert len(items) == 4 + 9  # the fifth row is rm-0, expanded to nine items


def test_limit_stops_before_a_later_bad_line(tmp_path):
    path = write(tmp_path, [PAIR, "{oops"])
    assert len(load_eval_items([path], mode="pairwise", limit=1)) == 1


def test_a_bom_and_blank_lines_are_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(PAIR).encode() + b"\n\n   \n" + json.dumps(PAIR).encode() + b"\n")
    items = load_eval_items([str(path)], mode="pairwise")
    assert [i.id for i in items] == ["bom:1", "bom:4"]


def test_a_json_array_file_is_read(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([PAIR, PAIR]), encoding="utf-8")
    assert [i.id for i in load_eval_items([str(path)], mode="pairwise")] == ["rows:1", "rows:2"]


def test_files_may_hold_different_formats():
    items = load_eval_items([fixture("pairs"), fixture("judgebench")], mode="pairwise")
    assert [info(i).format for i in items] == ["pairs"] * 4 + ["judgebench"] * 2


@pytest.mark.skipif(not LLMBAR.is_dir(), reason=f"the public LLMBar files are not at {LLMBAR} (CI has them)")
def test_every_llmbar_file_gives_419_pairs():
    paths = sorted(str(p) for p in LLMBAR.glob("*.jsonl"))
    items = load_eval_items(paths, mode="pairwise")
    assert len(items) == 419  # 92 + 47 + 46 + 134 + 100, per LLMBar's README
    assert {info(i).format for i in items} == {"pairs"}
    assert {info(i).subset for i in items} == {Path(p).stem for p in paths}


# -- refusals, each naming its file and line -----------------------------------------------------


def test_a_row_fitting_no_format_names_what_each_format_needs():
    text = message(lambda: load_eval_items([fixture("no_format")], mode="pairwise"))
    assert text.startswith(f"{fixture('no_format')}:2: this row fits no data format (its fields: 'id', 'prompt', 'answer'); ")
    assert "pairs needs 'prompt', 'chosen' (a string) and 'rejected' (a string) (missing 'chosen', 'rejected')" in text
    assert "judgebench needs 'question', 'response_A', 'response_B' and 'label' (\"A>B\" or \"B>A\") (missing 'question', 'response_A', 'response_B', 'label')" in text
    assert "engine needs 'prompt', 'responses' (a list of two or more) and 'label' (the index of the chosen response) (missing 'responses', 'label')" in text
    assert "rmbench needs" in text and "best_of_n needs" in text


def test_a_row_that_is_not_an_object(tmp_path):
    path = write(tmp_path, [PAIR, [1, 2]])
    assert message(lambda: load_eval_items([path], mode="pairwise")) == f"{path}:2: a row is a JSON object, not a list"


def test_a_row_that_is_not_json(tmp_path):
    path = write(tmp_path, [PAIR, "", '{"prompt": "Q", '])
    assert message(lambda: load_eval_items([path], mode="pairwise")).startswith(f"{path}:3: not JSON: ")


def test_mixed_formats_are_refused_at_the_first_offending_line():
    text = message(lambda: load_eval_items([fixture("mixed")], mode="pairwise"))
    assert text == (
        f"{fixture('mixed')}:4: this row looks like judgebench, but the rows before it are pairs (from line 1); "
        "a file holds one format: split the file, or give --data-format to read every row as one format"
    )


def test_a_forced_format_says_what_it_needs():
    text = message(lambda: load_eval_items([fixture("mixed")], mode="pairwise", data_format="pairs"))
    assert text == f"{fixture('mixed')}:4: field 'prompt' is missing; a pairs row needs 'prompt', 'chosen' (a string) and 'rejected' (a string)"
    text = message(lambda: load_eval_items([fixture("pairs")], mode="pairwise", data_format="rmbench"))
    assert text == (
        f"{fixture('pairs')}:1: field 'chosen' must be a list, not a string; a rmbench row needs 'prompt', "
        "'chosen' and 'rejected' (each a list of 3 strings: concise, detailed, detailed with markdown)"
    )


def test_a_forced_format_reads_rows_that_would_be_detected_otherwise(tmp_path):
    path = write(tmp_path, [{"prompt": "Q", "chosen": ["a", "b", "c"], "rejected": ["d", "e", "f"]}])
    assert len(load_eval_items([path], mode="pairwise")) == 9  # detected: rmbench
    with pytest.raises(InputError, match="several chosen responses"):  # forced best_of_n: three chosen
        load_eval_items([path], mode="pairwise", data_format="best_of_n")


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            {"question": "Q", "response_A": "a", "response_B": "b", "label": "A=B"},
            'field \'label\' is "A=B"; a judgebench label is "A>B" or "B>A"',
        ),
        (
            {"question": "Q", "response_A": "a", "response_B": "b"},
            "field 'label' is missing; a judgebench row needs 'question', 'response_A', 'response_B' and 'label' (\"A>B\" or \"B>A\")",
        ),
        (
            {"prompt": "Q", "chosen": ["a", "b"], "rejected": ["c", "d"]},
            "field 'chosen' holds 2 responses: several chosen responses (RewardBench 2's Ties subset) are not supported; "
            "a best_of_n row has one chosen response",
        ),
        (
            {"prompt": "Q", "chosen": "a", "rejected": []},
            "field 'rejected' is an empty list; a best_of_n row needs 'prompt', 'chosen' (a string, or a list of one) "
            "and 'rejected' (a list of one or more strings)",
        ),
        (
            {"prompt": "Q", "chosen": ["a", "b", "c"], "rejected": ["d", "e", 5]},
            "field 'rejected[2]' must be a string, not a number; a rmbench row needs 'prompt', 'chosen' and 'rejected' "
            "(each a list of 3 strings: concise, detailed, detailed with markdown)",
        ),
        ({"prompt": "Q", "responses": ["a", "b"], "label": 2}, "field 'label' is 2, out of range for 2 responses (0 to 1)"),
        (
            {"prompt": "Q", "responses": ["a"], "label": 0},
            "field 'responses' has 1; an evaluation compares two or more; an engine row needs 'prompt', 'responses' "
            "(a list of two or more) and 'label' (the index of the chosen response)",
        ),
        (
            {"prompt": 5, "chosen": "a", "rejected": "b"},
            "field 'prompt' must be a string or a list of chat messages (role, content), not a number; "
            "a pairs row needs 'prompt', 'chosen' (a string) and 'rejected' (a string)",
        ),
        ({"id": None, **PAIR}, "field 'id' must be a string or an integer, not null (null)"),
        ({"subset": 3, **PAIR}, "field 'subset' (the subset) must be a non-empty string, not a number"),
    ],
)
def test_a_row_breaking_its_format_names_line_and_field(tmp_path, row, problem):
    path = write(tmp_path, ["", row])
    assert message(lambda: load_eval_items([path], mode="pairwise")) == f"{path}:2: {problem}"


def test_duplicate_ids_name_both_places(tmp_path):
    first = write(tmp_path, [{"id": "x", **PAIR}], "a.jsonl")
    second = write(tmp_path, [{"id": "y", **PAIR}, {"id": "x", **PAIR}], "b.jsonl")
    text = message(lambda: load_eval_items([first, second], mode="pairwise"))
    assert text == f"{second}:2: id 'x' is also the id of the row at {first}:1; ids must be unique across the data set"


def test_an_empty_data_set_is_an_error_not_a_report(tmp_path):
    blank = write(tmp_path, ["", "  "], "blank.jsonl")
    with pytest.raises(JudgeError, match="no rows") as caught:
        load_eval_items([fixture("empty"), blank], mode="pairwise")
    assert not isinstance(caught.value, InputError)
    assert str(caught.value) == f"no rows to evaluate ({fixture('empty')}, {blank}): an evaluation needs at least one row"


def test_a_missing_file_is_refused_before_any_row_is_read(tmp_path):
    missing = str(tmp_path / "nope.jsonl")
    assert message(lambda: load_eval_items([fixture("mixed"), missing], mode="pairwise")) == f"{missing}: no such file"


@pytest.mark.parametrize(
    ("options", "text"),
    [
        ({"mode": "ranking"}, "unknown mode 'ranking'"),
        ({"mode": "pairwise", "data_format": "csv"}, "unknown data format 'csv'"),
        ({"mode": "pairwise", "protocol": "mtbench"}, "unknown protocol 'mtbench'"),
        ({"mode": "pairwise", "limit": 0}, "--limit must be at least 1, not 0"),
    ],
)
def test_bad_options(options, text):
    with pytest.raises(JudgeError, match=text):
        load_eval_items([fixture("pairs")], **options)


def test_chosen_first_is_deterministic():
    assert chosen_first(0, "p-0") is False and chosen_first(0, "7") is True
