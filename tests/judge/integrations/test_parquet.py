"""Judgments as Parquet: one row per judgment, its fields as columns and the whole judgment as JSON."""

from __future__ import annotations

import pyarrow.parquet as pq

from judge.integrations import parquet
from judge.integrations.parquet import COLUMNS, jsonl_to_parquet, parquet_judgment_lines
from judge.models import Judgment, Usage


def test_a_jsonl_file_of_judgments_becomes_parquet_and_reads_back_line_for_line(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "ROWS_PER_GROUP", 2)  # several row groups from five judgments
    judgments = [Judgment(id=f"j{k}", status="ok" if k != 3 else "error", mode="pairwise", scores=[0.25 * k, None],
                          preferred=0 if k % 2 else None, usage=Usage(requests=k, cached_requests=1),
                          error="boom" if k == 3 else None) for k in range(5)]
    lines = [j.model_dump_json() + "\n" for j in judgments]
    (tmp_path / "out.jsonl").write_text("".join(lines), encoding="utf-8")
    assert jsonl_to_parquet(tmp_path / "out.jsonl", tmp_path / "out.parquet") == 5
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == list(COLUMNS) and pq.ParquetFile(tmp_path / "out.parquet").num_row_groups == 3
    assert table.column("scores").to_pylist()[2] == [0.5, None]
    assert table.column("status").to_pylist()[3] == "error" and table.column("requests").to_pylist() == [0, 1, 2, 3, 4]
    assert list(parquet_judgment_lines(tmp_path / "out.parquet")) == lines
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file became the output
