"""Unit tests for reading input rows: JSONL, JSON arrays and stdin, with errors naming the line."""

from __future__ import annotations

import io
import json
import sys

import pytest

from judge.errors import InputError
from judge.inputs import count_rows, read_rows, row_to_item
from judge.models import Message


def write_jsonl(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines), encoding="utf-8")
    return str(path)


# -- row_to_item ---------------------------------------------------------------------------------


def test_single_response():
    item = row_to_item({"id": "a", "prompt": "Q?", "response": "R."}, 1, "in.jsonl")
    assert item.id == "a"
    assert item.prompt == "Q?"
    assert item.responses == ["R."]
    assert item.metadata == {}


def test_responses_list():
    item = row_to_item({"prompt": "Q?", "responses": ["one", "two", "three"]}, 4, "in.jsonl")
    assert item.responses == ["one", "two", "three"]
    assert item.id == "line-4"


def test_response_a_and_b_become_two_responses_in_order():
    item = row_to_item({"prompt": "Q?", "response_b": "second", "response_a": "first"}, 1, "in.jsonl")
    assert item.responses == ["first", "second"]
    assert "response_a" not in item.metadata and "response_b" not in item.metadata


def test_response_and_responses_together_is_an_error():
    with pytest.raises(InputError, match="give one of") as info:
        row_to_item({"prompt": "Q", "response": "r", "responses": ["r"]}, 3, "in.jsonl")
    assert info.value.line == 3


def test_no_response_is_an_error_naming_the_field():
    with pytest.raises(InputError) as info:
        row_to_item({"prompt": "Q"}, 9, "data.jsonl")
    assert str(info.value).startswith("data.jsonl:9:")
    assert "'response'" in str(info.value)


def test_response_a_without_b_names_response_b():
    with pytest.raises(InputError, match="response_b"):
        row_to_item({"prompt": "Q", "response_a": "a"}, 2, "in.jsonl")


def test_chat_prompt():
    prompt = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": "Second?"},
    ]
    item = row_to_item({"prompt": prompt, "response": "Answer"}, 1, "in.jsonl")
    assert isinstance(item.prompt, list)
    assert all(isinstance(m, Message) for m in item.prompt)
    assert [m.role for m in item.prompt] == ["system", "user", "assistant", "user"]
    assert item.prompt_text == "Second?"


def test_extra_fields_go_to_metadata_and_merge_with_metadata():
    item = row_to_item(
        {"prompt": "Q", "response": "R", "metadata": {"source": "x", "k": 1}, "lang": "fr", "difficulty": 3},
        1,
        "in.jsonl",
    )
    assert item.metadata == {"source": "x", "k": 1, "lang": "fr", "difficulty": 3}


def test_reference_and_string_context():
    item = row_to_item({"prompt": "Q", "response": "R", "reference": "Ref", "context": "Doc"}, 1, "in.jsonl")
    assert item.reference == "Ref"
    assert item.context == ["Doc"]


def test_integer_id_becomes_string():
    item = row_to_item({"id": 42, "prompt": "Q", "response": "R"}, 1, "in.jsonl")
    assert item.id == "42"


def test_invalid_field_type_names_the_field():
    with pytest.raises(InputError) as info:
        row_to_item({"prompt": "Q", "response": "R", "reference": 5}, 6, "in.jsonl")
    assert "in.jsonl:6:" in str(info.value)
    assert "reference" in str(info.value)


def test_row_must_be_an_object():
    with pytest.raises(InputError, match="JSON object, not list"):
        row_to_item(["Q", "R"], 1, "in.jsonl")


def test_row_to_item_does_not_mutate_its_input():
    data = {"prompt": "Q", "response": "R", "extra": 1}
    row_to_item(data, 1, "in.jsonl")
    assert data == {"prompt": "Q", "response": "R", "extra": 1}


# -- read_rows: JSONL ----------------------------------------------------------------------------


def test_jsonl_rows_with_line_numbers_and_ids(tmp_path):
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": 7, "prompt": "p1", "response": "r1"},
            "",
            "   ",
            {"prompt": "p2", "responses": ["a", "b"], "topic": "math"},
            {"prompt": "p3", "response_a": "x", "response_b": "y"},
        ],
    )
    rows = list(read_rows(path))
    assert [r.line for r in rows] == [1, 4, 5]
    assert [r.id for r in rows] == ["7", "line-4", "line-5"]
    assert all(r.error is None for r in rows)
    assert rows[0].item.responses == ["r1"]
    assert rows[1].item.metadata == {"topic": "math"}
    assert rows[2].item.responses == ["x", "y"]


def test_row_without_prompt_is_an_error_row(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "ok", "prompt": "p", "response": "r"}, "", {"id": "bad", "response": "r"}])
    rows = list(read_rows(path))
    bad = rows[1]
    assert bad.item is None
    assert bad.line == 3
    assert bad.id == "bad"
    assert isinstance(bad.error, InputError)
    assert bad.error.line == 3
    message = str(bad.error)
    assert message.startswith(f"{path}:3:")
    assert "'prompt'" in message


def test_error_row_without_id_defaults_to_line_id(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"response": "r"}])
    (row,) = read_rows(path)
    assert row.id == "line-1"
    assert row.error is not None


def test_non_json_line_is_an_error_row_and_reading_goes_on(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "p", "response": "r"}, "", "{not json", {"prompt": "q", "response": "s"}])
    rows = list(read_rows(path))
    assert [r.line for r in rows] == [1, 3, 4]
    assert rows[1].item is None
    assert rows[1].id == "line-3"
    assert str(rows[1].error).startswith(f"{path}:3: not JSON")
    assert rows[2].item.prompt == "q"


def test_json_scalar_line_is_an_error_row(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", ["42"])
    (row,) = read_rows(path)
    assert "JSON object" in str(row.error)
    assert row.error.line == 1


def test_crlf_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"prompt": "p", "response": "r"}\r\n\r\n{"prompt": "q", "response": "s"}\r\n')
    rows = list(read_rows(str(path)))
    assert [(r.line, r.item.prompt) for r in rows] == [(1, "p"), (3, "q")]


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(read_rows(str(tmp_path / "absent.jsonl")))


def test_null_metadata_is_an_error_row_not_a_crash(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "p", "response": "r", "metadata": None}])
    (row,) = read_rows(path)
    assert row.item is not None or row.error is not None


# -- read_rows: JSON array and stdin -------------------------------------------------------------


def test_json_array_input(tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps([{"id": 1, "prompt": "p", "response": "r"}, {"response": "r"}, {"prompt": "q", "responses": ["a", "b"]}]))
    rows = list(read_rows(str(path)))
    assert [r.line for r in rows] == [1, 2, 3]
    assert rows[0].id == "1" and rows[0].item.responses == ["r"]
    assert rows[1].item is None and "'prompt'" in str(rows[1].error)
    assert str(path) in str(rows[1].error)
    assert rows[2].id == "line-3"


def test_json_file_that_is_not_an_array(tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"prompt": "p", "response": "r"}))
    with pytest.raises(InputError, match="array"):
        list(read_rows(str(path)))


def test_json_file_syntax_error_names_line(tmp_path):
    path = tmp_path / "in.json"
    path.write_text('[\n  {"prompt": "p", "response": "r"},\n  {"prompt": oops}\n]\n')
    with pytest.raises(InputError) as info:
        list(read_rows(str(path)))
    assert info.value.line == 3


def test_stdin(monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b'{"id": "s1", "prompt": "p", "response": "r"}\n\n{"prompt": "q"}\n'))
    monkeypatch.setattr(sys, "stdin", stdin)
    rows = list(read_rows("-"))
    assert [r.line for r in rows] == [1, 3]
    assert rows[0].item.id == "s1"
    assert rows[1].error is not None
    assert str(rows[1].error).startswith("<stdin>:3:")


# -- count_rows ----------------------------------------------------------------------------------


def test_count_rows_counts_non_blank_lines(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "p", "response": "r"}, "", "garbage", "  ", {"prompt": "q", "response": "s"}])
    assert count_rows(path) == 3


def test_count_rows_unknown_for_stdin_and_json(tmp_path):
    path = tmp_path / "in.json"
    path.write_text("[]")
    assert count_rows("-") is None
    assert count_rows(str(path)) is None


def test_missing_file_is_an_input_error_before_anything_runs(tmp_path):
    from judge.inputs import check_source

    assert count_rows(str(tmp_path / "absent.jsonl")) is None  # no count: the progress bar just has no total
    with pytest.raises(InputError, match="no such file"):
        check_source(str(tmp_path / "absent.jsonl"))


# -- issue 12: bad bytes, odd ids, nulls and ambiguous rows ---------------------------------------


def test_a_non_utf8_byte_is_that_rows_error_and_the_rest_run(tmp_path):
    """Point 9: one bad byte used to stop the whole run."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "prompt": "p", "response": "r"}\n{"id": "b", "prompt": "caf\xe9", "response": "r"}\n'
                     b'{"id": "c", "prompt": "p", "response": "r"}\n')
    rows = list(read_rows(str(path)))
    assert [r.item.id for r in rows if r.item] == ["a", "c"]
    [bad] = [r for r in rows if r.error]
    assert bad.line == 2 and "not UTF-8" in str(bad.error) and "0xe9" in str(bad.error)


def test_a_bom_on_stdin_is_accepted_like_one_in_a_file(monkeypatch, tmp_path):
    data = b'\xef\xbb\xbf{"id": "s1", "prompt": "p", "response": "r"}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    [row] = list(read_rows("-"))
    assert row.item is not None and row.item.id == "s1"
    path = tmp_path / "bom.jsonl"
    path.write_bytes(data)
    [row] = list(read_rows(str(path)))
    assert row.item is not None and row.item.id == "s1"


@pytest.mark.parametrize("value, kind", [(True, "true/false"), (None, "null"), (1.5, "float"), ([1], "list"), ({"a": 1}, "dict")])
def test_ids_that_are_not_strings_or_integers_are_a_row_error(value, kind):
    """Point 15: `true` used to become the id "True"."""
    with pytest.raises(InputError, match=f"'id' must be a string or an integer, not {kind}"):
        row_to_item({"id": value, "prompt": "p", "response": "r"}, 4, "in.jsonl")


def test_integer_ids_are_still_fine():
    assert row_to_item({"id": 7, "prompt": "p", "response": "r"}, 1, "x").id == "7"


def test_null_context_and_metadata_are_empty():
    item = row_to_item({"id": "n", "prompt": "p", "response": "r", "context": None, "metadata": None}, 1, "x")
    assert item.context == [] and item.metadata == {}


@pytest.mark.parametrize("extra", [{"response_a": "x", "response_b": "y"}, {"response_a": "x"}, {"response_b": "y"}])
def test_response_with_a_pair_is_refused_not_reshaped(extra):
    with pytest.raises(InputError, match="give one of"):
        row_to_item({"id": "r", "prompt": "p", "response": "r", **extra}, 2, "in.jsonl")
