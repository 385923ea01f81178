"""Unit tests for preparing the output file and writing judgments line by line."""

from __future__ import annotations

import json

import pytest

from judge.errors import JudgeError
from judge.models import Judgment, Status
from judge.output import JudgmentWriter, prepare_output


def line(id_: str, status: str = "ok", **extra) -> str:
    return json.dumps({"id": id_, "status": status, "mode": "pointwise", **extra}) + "\n"


def lines_of(path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]


# -- prepare_output ------------------------------------------------------------------------------


def test_new_file_needs_no_flag(tmp_path):
    assert prepare_output(str(tmp_path / "out.jsonl"), resume=False, overwrite=False) == set()
    assert not (tmp_path / "out.jsonl").exists()


def test_empty_existing_file_needs_no_flag(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("")
    assert prepare_output(str(path), resume=False, overwrite=False) == set()


def test_existing_file_is_refused_without_resume_or_overwrite(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("1"))
    with pytest.raises(JudgeError) as info:
        prepare_output(str(path), resume=False, overwrite=False)
    assert "--resume" in str(info.value)
    assert "--overwrite" in str(info.value)
    assert str(path) in str(info.value)
    assert path.read_text() == line("1")  # untouched


def test_overwrite_deletes_the_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("1") + line("2"))
    assert prepare_output(str(path), resume=False, overwrite=True) == set()
    assert not path.exists()


def test_resume_returns_done_ids_and_keeps_lines(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("a") + line("b", "unparsed") + line("c"))
    done = prepare_output(str(path), resume=True, overwrite=False)
    assert done == {"a", "b", "c"}
    assert [r["id"] for r in lines_of(path)] == ["a", "b", "c"]


def test_resume_drops_a_truncated_last_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("a") + line("b") + '{"id": "c", "status": "o')
    done = prepare_output(str(path), resume=True, overwrite=False)
    assert done == {"a", "b"}
    assert path.read_text() == line("a") + line("b")


def test_resume_keeps_one_line_per_id_last_wins(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("a", score=1) + line("b", score=2) + line("a", score=3))
    done = prepare_output(str(path), resume=True, overwrite=False)
    assert done == {"a", "b"}
    records = lines_of(path)
    assert len(records) == 2
    assert {r["id"]: r["score"] for r in records} == {"a": 3, "b": 2}


def test_resume_removes_error_judgments_so_they_are_retried(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("a") + line("b", "error", error="timeout") + line("c", "unparsed") + line("d", "error"))
    done = prepare_output(str(path), resume=True, overwrite=False)
    assert done == {"a", "c"}
    assert [r["id"] for r in lines_of(path)] == ["a", "c"]
    assert all(r["status"] != "error" for r in lines_of(path))


def test_resume_error_after_ok_means_retry(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("a") + line("a", "error"))
    assert prepare_output(str(path), resume=True, overwrite=False) == set()
    assert path.read_text() == ""


def test_resume_ok_after_error_is_done(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("a", "error") + line("a", "ok"))
    assert prepare_output(str(path), resume=True, overwrite=False) == {"a"}
    assert [r["status"] for r in lines_of(path)] == ["ok"]


def test_resume_integer_ids_are_strings(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps({"id": 5, "status": "ok"}) + "\n")
    assert prepare_output(str(path), resume=True, overwrite=False) == {"5"}


def test_resume_skips_lines_that_are_not_judgments(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("\n" + "[1, 2]\n" + json.dumps({"status": "ok"}) + "\n" + line("a"))
    assert prepare_output(str(path), resume=True, overwrite=False) == {"a"}
    assert path.read_text() == line("a")


def test_resume_complete_last_line_without_newline_is_kept_with_one(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("a") + line("b").rstrip("\n"))
    assert prepare_output(str(path), resume=True, overwrite=False) == {"a", "b"}
    assert path.read_text() == line("a") + line("b")


def test_resume_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("a"))
    prepare_output(str(path), resume=True, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_stdout_output(tmp_path):
    assert prepare_output("-", resume=False, overwrite=False) == set()
    with pytest.raises(JudgeError, match="--resume"):
        prepare_output("-", resume=True, overwrite=False)


# -- JudgmentWriter ------------------------------------------------------------------------------


def judgment(id_: str, status: Status = Status.ok, **extra) -> Judgment:
    return Judgment(id=id_, status=status, mode="pointwise", **extra)


def test_writer_flushes_each_line_before_close(tmp_path):
    path = tmp_path / "out.jsonl"
    writer = JudgmentWriter(str(path))
    try:
        writer.write(judgment("a", scores=[0.5]))
        with open(path, encoding="utf-8") as reader:
            first = reader.read()
        assert first.endswith("\n")
        assert first.count("\n") == 1
        assert json.loads(first)["id"] == "a"
        writer.write(judgment("b", Status.unparsed))
        with open(path, encoding="utf-8") as reader:
            records = [json.loads(l) for l in reader.read().splitlines()]
        assert [(r["id"], r["status"]) for r in records] == [("a", "ok"), ("b", "unparsed")]
    finally:
        writer.close()


def test_writer_appends_to_a_resumed_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("old"))
    with JudgmentWriter(str(path)) as writer:
        writer.write(judgment("new"))
    records = lines_of(path)
    assert [r["id"] for r in records] == ["old", "new"]


def test_writer_lines_round_trip_and_keep_nulls(tmp_path):
    path = tmp_path / "out.jsonl"
    original = judgment("x", Status.error, error="backend down", metadata={"k": "é"})
    with JudgmentWriter(str(path)) as writer:
        writer.write(original)
    (record,) = lines_of(path)
    assert Judgment.model_validate(record) == original
    assert "reward" in record and record["reward"] is None
    assert record["metadata"] == {"k": "é"}


def test_writer_then_resume_round_trip(tmp_path):
    path = tmp_path / "out.jsonl"
    with JudgmentWriter(str(path)) as writer:
        writer.write(judgment("1"))
        writer.write(judgment("2", Status.error, error="boom"))
        writer.write(judgment("3", Status.unparsed))
    assert prepare_output(str(path), resume=True, overwrite=False) == {"1", "3"}


def test_writer_to_stdout(capsys):
    with JudgmentWriter("-") as writer:
        writer.write(judgment("s"))
    out = capsys.readouterr().out
    assert json.loads(out)["id"] == "s"
    assert out.endswith("\n")
