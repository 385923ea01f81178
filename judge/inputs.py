"""Reading input rows (JSONL or a JSON array) into items, with errors that name the line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from judge.errors import InputError
from judge.models import Item

BOM = b"\xef\xbb\xbf"
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
    if "id" in data:
        data["id"] = _row_id(data["id"], line, source)
    given = [key for key in ("response", "responses", "response_a") if key in data]
    if "response_b" in data and "response_a" not in data:
        given.append("response_b")
    if len(given) > 1:
        shown = " and ".join(f"'{k}'" + ("/'response_b'" if k == "response_a" else "") for k in given)
        raise InputError(source, line, f"give one of 'response', 'responses' or 'response_a'/'response_b', not {shown}")
    if "response" in data:
        data["responses"] = [data.pop("response")]
    elif "response_a" in data or "response_b" in data:
        for key in ("response_a", "response_b"):
            if key not in data:
                raise InputError(source, line, f"field '{key}' is required with its pair")
        data["responses"] = [data.pop("response_a"), data.pop("response_b")]
    if "responses" not in data:
        raise InputError(source, line, "field 'response' (or 'responses') is required")
    for key in ("context", "metadata"):  # null means "none", like an absent field
        if key in data and data[key] is None:
            del data[key]
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


def _row_id(value: Any, line: int, source: str) -> str:
    """Ids are strings or integers; anything else (true, null, 1.5, a list) would be silently renamed."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        kind = "null" if value is None else "true/false" if isinstance(value, bool) else type(value).__name__
        raise InputError(source, line, f"field 'id' must be a string or an integer, not {kind} ({json.dumps(value)})")
    if isinstance(value, str) and not value.strip():
        raise InputError(source, line, "field 'id' is empty")
    return str(value)


def check_source(source: str) -> None:
    """Fail before anything else happens (an output is touched) when the input cannot be read."""
    if source != "-" and not Path(source).is_file():
        raise InputError(source, 0, "no such file") if not Path(source).exists() else InputError(source, 0, "not a file")


def read_rows(source: str) -> Iterator[Row]:
    """Rows of a JSONL file, a JSON array file, or stdin (`-`), each with its line number."""
    if source == "-":
        yield from _jsonl_rows(sys.stdin.buffer, "<stdin>")
        return
    check_source(source)
    path = Path(source)
    if path.suffix == ".json":
        yield from _json_array_rows(path)
        return
    with path.open("rb") as handle:
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


def _jsonl_rows(handle: IO[bytes], source: str) -> Iterator[Row]:
    """Lines are decoded one by one, so a stray non-UTF-8 byte costs its row, not the run."""
    for line_number, raw in enumerate(handle, start=1):
        if line_number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
            yield Row(line_number, f"line-{line_number}", error=InputError(source, line_number, problem))
            continue
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Row(line_number, f"line-{line_number}", error=InputError(source, line_number, f"not JSON: {exc.msg}"))
            continue
        yield _row(data, line_number, source)


def _json_array_rows(path: Path) -> Iterator[Row]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), 0, f"not UTF-8: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(str(path), exc.lineno, f"not JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise InputError(str(path), 1, "a .json input is an array of rows; use .jsonl for one row a line")
    for index, entry in enumerate(data, start=1):
        yield _row(entry, index, f"{path} item")


def _row(data: Any, line: int, source: str) -> Row:
    given = data.get("id") if isinstance(data, dict) else None
    usable = isinstance(given, (str, int)) and not isinstance(given, bool) and str(given).strip()
    fallback = str(given) if usable else f"line-{line}"
    try:
        item = row_to_item(data, line, source)
    except InputError as exc:
        return Row(line, fallback, error=exc)
    return Row(line, item.id, item=item)
