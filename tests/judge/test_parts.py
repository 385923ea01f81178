"""Part files of a scaled-out run: written whole, scanned for resume, merged with each id once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judge.errors import JudgeError
from judge.models import Judgment, Status
from judge.parts import Parts, parts_folder_for


def judgment(id: str, status: Status = Status.ok, score: float = 1.0, setup: dict | None = None) -> Judgment:
    return Judgment(id=id, status=status, mode="pointwise", scores=[score], setup=setup or {"rubric": "r"},
                    error="boom" if status == Status.error else None)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_block_is_one_whole_file_named_in_time_order(tmp_path):
    parts = Parts(tmp_path / "out.jsonl.parts")
    assert parts.write([]) is None and not parts.exists()
    first = parts.write([judgment("a"), judgment("b")])
    second = parts.write([judgment("c")])
    assert parts.files() == [first, second]
    assert [j["id"] for j in lines(first)] == ["a", "b"]
    assert not [p for p in parts.folder.iterdir() if p.name.endswith(".tmp")]


def test_scan_counts_judged_ids_but_not_errors_and_ignores_unfinished_files(tmp_path):
    parts = Parts(tmp_path / "p")
    parts.write([judgment("a"), judgment("b", Status.error), judgment("c", Status.unparsed)])
    (parts.folder / ".0-1-dead.jsonl.tmp").write_text(json.dumps(judgment("x").model_dump()) + "\n")  # a killed write
    with (parts.folder / "00000000000000000009-1-cut.jsonl").open("w") as handle:
        handle.write(judgment("d").model_dump_json() + "\n" + '{"id": "e", "status": "o')  # cut short by a kill
    earlier = tmp_path / "out.jsonl"
    earlier.write_text(judgment("z", setup={"rubric": "old"}).model_dump_json() + "\n")
    resumed = parts.scan(also=earlier)
    assert resumed.done == {"a", "c", "d", "z"}
    assert sorted(s["rubric"] for s in resumed.setups.values()) == ["old", "r"]


def test_merge_keeps_each_id_once_preferring_a_judgment_over_an_error(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_text(judgment("kept", score=0.1).model_dump_json() + "\n" + judgment("retry", Status.error).model_dump_json() + "\n")
    parts = Parts(parts_folder_for(str(output)))
    parts.write([judgment("a", score=0.5), judgment("retry", score=0.7)])
    parts.write([judgment("a", score=0.9), judgment("still-bad", Status.error)])  # a retried block: 'a' again
    parts.write([judgment("still-bad", Status.error), judgment("b")])
    merged = parts.merge_into(output, keep=output)
    got = {j["id"]: j for j in lines(output)}
    assert sorted(got) == ["a", "b", "kept", "retry", "still-bad"]
    assert len(lines(output)) == 5
    assert got["a"]["scores"] == [0.5]  # the first judgment of an id stays
    assert got["retry"]["status"] == "ok" and got["still-bad"]["status"] == "error"
    assert (merged.judgments, merged.errors, merged.duplicates) == (5, 1, 3)
    assert not parts.folder.exists()


def test_a_merge_that_cannot_write_keeps_the_parts(tmp_path):
    parts = Parts(tmp_path / "p")
    parts.write([judgment("a")])
    (tmp_path / "a-file").write_text("")
    with pytest.raises(JudgeError, match="parts in .* are kept"):
        parts.merge_into(tmp_path / "a-file" / "out.jsonl")  # its folder is a file: the write fails
    assert parts.exists() and parts.scan().done == {"a"}


def test_removing_the_parts_leaves_anything_else_in_a_shared_folder(tmp_path):
    parts = Parts(tmp_path / "shared")
    parts.write([judgment("a")])
    (parts.folder / ".0-1-x.jsonl.tmp").write_text("half")
    (parts.folder / "notes.txt").write_text("the user's own")
    parts.remove()
    assert [p.name for p in parts.folder.iterdir()] == ["notes.txt"]
    (parts.folder / "notes.txt").unlink()
    parts.write([judgment("b")])
    parts.remove()
    assert not parts.folder.exists()
