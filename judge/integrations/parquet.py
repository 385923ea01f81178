"""Judgments as Arrow tables and Parquet files: the schema of a Ray run's dataset and of `-o X.parquet`.

One row per judgment with the fields people filter on as columns, and the whole judgment as JSON
(the line `judge score` writes), so nothing is lost and every block has the same schema.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judge.models import Judgment

COLUMNS = ("id", "status", "scores", "preferred", "reward", "error", "requests", "cached_requests", "judgment")
ROWS_PER_GROUP = 10_000


def judgment_schema() -> Any:
    import pyarrow as pa

    return pa.schema([
        ("id", pa.string()), ("status", pa.string()), ("scores", pa.list_(pa.float64())), ("preferred", pa.int64()),
        ("reward", pa.float64()), ("error", pa.string()), ("requests", pa.int64()), ("cached_requests", pa.int64()),
        ("judgment", pa.string()),
    ])


def judgment_table(judgments: list[Judgment]) -> Any:
    """A block of judgments as an Arrow table of `COLUMNS`."""
    import pyarrow as pa

    return pa.Table.from_pylist([{
        "id": j.id, "status": j.status.value, "scores": j.scores, "preferred": j.preferred, "reward": j.reward,
        "error": j.error, "requests": j.usage.requests, "cached_requests": j.usage.cached_requests,
        "judgment": j.model_dump_json(),
    } for j in judgments], schema=judgment_schema())


def jsonl_to_parquet(source: Path, target: Path) -> int:
    """Write the judgments of a JSONL file as one Parquet file, whole or not at all; returns rows."""
    import pyarrow.parquet as pq

    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    rows = 0
    try:
        with pq.ParquetWriter(temporary, judgment_schema()) as writer, source.open(encoding="utf-8") as handle:
            batch: list[Judgment] = []
            for line in handle:
                batch.append(Judgment.model_validate_json(line))
                if len(batch) == ROWS_PER_GROUP:
                    writer.write_table(judgment_table(batch))
                    rows, batch = rows + len(batch), []
            if batch:
                writer.write_table(judgment_table(batch))
                rows += len(batch)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return rows


def parquet_judgment_lines(source: Path) -> Iterator[str]:
    """The judgments of a Parquet file written by `jsonl_to_parquet`, as JSON lines."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(source).iter_batches(columns=["judgment"]):
        for text in batch.column(0).to_pylist():
            yield text + "\n"
