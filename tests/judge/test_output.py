"""Unit tests for checking and resuming the output file and writing judgments line by line."""

from __future__ import annotations

import json

import pytest

from judge.errors import JudgeError
from judge.models import Judgment, Status
from judge.output import JudgmentWriter, OutputLock, check_output, compact_for_resume


def prepare_output(path: str, *, resume: bool, overwrite: bool, source: str = "-") -> set[str]:
    """What `judge score` does before writing: check the output, then compact it under its lock."""
    plan = check_output(path, source=source, resume=resume, overwrite=overwrite)
    with OutputLock(plan):
        return compact_for_resume(plan).done


def writer_for(path, overwrite: bool = False) -> JudgmentWriter:
    return JudgmentWriter(check_output(str(path), source="-", resume=not overwrite, overwrite=overwrite))


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


def test_overwrite_keeps_the_old_file_until_the_writer_opens(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(line("1") + line("2"))
    assert prepare_output(str(path), resume=False, overwrite=True) == set()
    assert path.read_text() == line("1") + line("2")  # point 2: nothing is lost before the run starts
    with writer_for(path, overwrite=True) as writer:
        writer.write(judgment("3"))
    assert [r["id"] for r in lines_of(path)] == ["3"]


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
    writer = writer_for(path)
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
    with writer_for(path) as writer:
        writer.write(judgment("new"))
    records = lines_of(path)
    assert [r["id"] for r in records] == ["old", "new"]


def test_writer_lines_round_trip_and_keep_nulls(tmp_path):
    path = tmp_path / "out.jsonl"
    original = judgment("x", Status.error, error="backend down", metadata={"k": "é"})
    with writer_for(path) as writer:
        writer.write(original)
    (record,) = lines_of(path)
    assert Judgment.model_validate(record) == original
    assert "reward" in record and record["reward"] is None
    assert record["metadata"] == {"k": "é"}


def test_writer_then_resume_round_trip(tmp_path):
    path = tmp_path / "out.jsonl"
    with writer_for(path) as writer:
        writer.write(judgment("1"))
        writer.write(judgment("2", Status.error, error="boom"))
        writer.write(judgment("3", Status.unparsed))
    assert prepare_output(str(path), resume=True, overwrite=False) == {"1", "3"}


def test_writer_to_stdout(capsys):
    with JudgmentWriter(check_output("-", source="-", resume=False, overwrite=False)) as writer:
        writer.write(judgment("s"))
    out = capsys.readouterr().out
    assert json.loads(out)["id"] == "s"
    assert out.endswith("\n")


# -- issue 12, points 1-4: the output never costs the user data -----------------------------------


def test_output_that_is_the_input_is_refused_before_anything_is_written(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "p", "response": "r"}\n')
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    hard = tmp_path / "hard.jsonl"
    hard.hardlink_to(source)
    for output in (source, link, hard):
        for flags in ({"resume": False, "overwrite": True}, {"resume": True, "overwrite": False}):
            with pytest.raises(JudgeError, match="is the input file"):
                check_output(str(output), source=str(source), **flags)
    assert source.read_text() == '{"prompt": "p", "response": "r"}\n'


def test_output_in_a_missing_folder_or_naming_a_folder_is_refused(tmp_path):
    with pytest.raises(JudgeError, match="does not exist"):
        check_output(str(tmp_path / "nowhere" / "out.jsonl"), source="-", resume=False, overwrite=False)
    with pytest.raises(JudgeError, match="is a folder"):
        check_output(str(tmp_path), source="-", resume=False, overwrite=False)


def test_a_second_writer_of_one_output_is_refused_naming_the_lock(tmp_path):
    path = tmp_path / "out.jsonl"
    plan = check_output(str(path), source="-", resume=False, overwrite=False)
    with OutputLock(plan):
        with pytest.raises(JudgeError) as info:
            with OutputLock(check_output(str(path), source="-", resume=False, overwrite=False)):
                pass
        assert "out.jsonl.lock" in str(info.value) and f"pid {__import__('os').getpid()}" in str(info.value)
    with OutputLock(plan):  # released: the next run may take it
        pass
    assert not (tmp_path / "out.jsonl.lock").exists()


def test_a_failed_write_keeps_whole_lines_only_and_says_so(tmp_path):
    """A write the disk refuses is cut back to the last whole line (here the file system refuses the
    second line half-way, as a full disk does), so --resume starts clean."""
    path = tmp_path / "out.jsonl"
    writer = writer_for(path)
    writer.write(judgment("a"))

    class HalfWrite:
        def __init__(self, raw):
            self.raw = raw

        def write(self, data):
            if len(data) > 10:
                return self.raw.write(bytes(data[:10]))
            raise OSError(28, "No space left on device")

        def fileno(self):
            return self.raw.fileno()

        def close(self):
            self.raw.close()

    writer._handle = HalfWrite(writer._handle)
    with pytest.raises(JudgeError) as info:
        writer.write(judgment("b"))
    writer.close()
    assert "disk is full" in str(info.value) and "--resume" in str(info.value) and "1 judgments" in str(info.value)
    assert [r["id"] for r in lines_of(path)] == ["a"]
    assert path.read_text().endswith("\n")
