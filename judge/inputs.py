"""Reading input rows (JSONL or a JSON array) into items, with errors that name the line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from judge.errors import InputError
from judge.models import Item

_ITEM_FIELDS = {"id", "prompt", "responses", "reference", "context", "metadata"}


@dataclass
class Row:
    """One input row: an item, or the reason it cannot be one."""

    line: int
    id: str
    item: Item | None = None
    error: InputError | None = None


def row_to_item(data: Any, line: int, source: str) -> Item:
    """Accept `response` or `responses` (or `response_a`/`response_b`); other fields go to metadata."""
    if not isinstance(data, dict):
        raise InputError(source, line, f"a row is a JSON object, not {type(data).__name__}")
    data = dict(data)
    if "prompt" not in data:
        raise InputError(source, line, "field 'prompt' is required")
    if "response" in data:
        if "responses" in data:
            raise InputError(source, line, "give 'response' or 'responses', not both")
        data["responses"] = [data.pop("response")]
    elif "response_a" in data or "response_b" in data:
        for key in ("response_a", "response_b"):
            if key not in data:
                raise InputError(source, line, f"field '{key}' is required with its pair")
        data["responses"] = [data.pop("response_a"), data.pop("response_b")]
    if "responses" not in data:
        raise InputError(source, line, "field 'response' (or 'responses') is required")
    if isinstance(data.get("context"), str):
        data["context"] = [data["context"]]
    if not isinstance(data.get("metadata", {}), dict):
        raise InputError(source, line, "field 'metadata' must be an object")
    extra = {k: data.pop(k) for k in list(data) if k not in _ITEM_FIELDS}
    data["metadata"] = {**data.get("metadata", {}), **extra}
    data.setdefault("id", f"line-{line}")
    try:
        return Item.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(source, line, f"field '{field}': {first['msg']}") from None


def check_source(source: str) -> None:
    """Fail before anything else happens (an output is touched) when the input cannot be read."""
    if source != "-" and not Path(source).is_file():
        raise InputError(source, 0, "no such file") if not Path(source).exists() else InputError(source, 0, "not a file")


def read_rows(source: str) -> Iterator[Row]:
    """Rows of a JSONL file, a JSON array file, or stdin (`-`), each with its line number."""
    if source == "-":
        yield from _jsonl_rows(sys.stdin, "<stdin>")
        return
    check_source(source)
    path = Path(source)
    if path.suffix == ".json":
        yield from _json_array_rows(path)
        return
    with path.open(encoding="utf-8-sig") as handle:
        yield from _jsonl_rows(handle, source)


def count_rows(source: str) -> int | None:
    """How many rows a file has, for the progress bar; None when it cannot be known up front."""
    if source == "-":
        return None
    path = Path(source)
    if path.suffix == ".json" or not path.is_file():
        return None
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _jsonl_rows(handle: Any, source: str) -> Iterator[Row]:
    for line_number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Row(line_number, f"line-{line_number}", error=InputError(source, line_number, f"not JSON: {exc.msg}"))
            continue
        yield _row(data, line_number, source)


def _json_array_rows(path: Path) -> Iterator[Row]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(str(path), exc.lineno, f"not JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise InputError(str(path), 1, "a .json input is an array of rows; use .jsonl for one row a line")
    for index, entry in enumerate(data, start=1):
        yield _row(entry, index, f"{path} item")


def _row(data: Any, line: int, source: str) -> Row:
    fallback = str(data.get("id", f"line-{line}")) if isinstance(data, dict) else f"line-{line}"
    try:
        item = row_to_item(data, line, source)
    except InputError as exc:
        return Row(line, fallback, error=exc)
    return Row(line, item.id, item=item)
