"""Reading preference benchmarks into evaluation items: one reader for five row formats.

Where a format always lists the chosen answer first, its position is a seeded coin flip per row,
so that position bias can never pass for accuracy. Every item carries an `EvalInfo` in
`metadata["eval"]`: that is all the metrics need later, from the judgments file alone.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, get_args

from pydantic import TypeAdapter, ValidationError

from judge.errors import InputError, JudgeError
from judge.evaluation.report import DataFormat, EvalInfo
from judge.inputs import BOM, check_source
from judge.models import Content, Item, Message, content_text

FORMATS: tuple[str, ...] = get_args(DataFormat)
MODES = ("pairwise", "pointwise", "principle")
PROTOCOLS = ("rewardbench",)
STYLES = 3  # RM-Bench: concise, detailed, detailed with markdown
JUDGEBENCH_LABELS = {"A>B": 0, "B>A": 1}

NEEDS: dict[str, str] = {
    "pairs": "'prompt', 'chosen' (a string) and 'rejected' (a string)",
    "rmbench": "'prompt', 'chosen' and 'rejected' (each a list of 3 strings: concise, detailed, detailed with markdown)",
    "judgebench": "'question', 'response_A', 'response_B' and 'label' (\"A>B\" or \"B>A\")",
    "best_of_n": "'prompt', 'chosen' (a string, or a list of one) and 'rejected' (a list of one or more strings)",
    "engine": "'prompt', 'responses' (a list of two or more) and 'label' (the index of the chosen response)",
}
_FIELDS: dict[str, tuple[str, ...]] = {
    "pairs": ("prompt", "chosen", "rejected"),
    "rmbench": ("prompt", "chosen", "rejected"),
    "judgebench": ("question", "response_A", "response_B", "label"),
    "best_of_n": ("prompt", "chosen", "rejected"),
    "engine": ("prompt", "responses", "label"),
}
_PROMPT: TypeAdapter[str | list[Message]] = TypeAdapter(str | list[Message])
_CONTENTS: TypeAdapter[list[Content]] = TypeAdapter(list[Content])


@dataclass(frozen=True)
class EvalRow:
    """One checked benchmark row. pairs / rmbench / best_of_n fill `chosen` and `rejected`;
    judgebench and engine fill `responses` and `label`, whose order is kept as given."""

    id: str
    format: str
    source: str  # the path as given
    where: str  # how errors name the source (a .json array's rows are "PATH item")
    line: int
    subset: str
    prompt: str | list[Message]
    chosen: tuple[Content, ...] = ()
    rejected: tuple[Content, ...] = ()
    responses: tuple[Content, ...] = ()
    label: int = 0


def chosen_first(seed: int, key: str) -> bool:
    """The coin flip that places a chosen answer: `random.Random(f"{seed}:{key}")`, heads = first."""
    return random.Random(f"{seed}:{key}").random() < 0.5


def seeded_position(seed: int, key: str, count: int) -> int:
    """A position in range(count), drawn from the same seeded generator as the coin flip."""
    return random.Random(f"{seed}:{key}").randrange(count)


def detect_format(row: Any) -> str | None:
    """The format a row looks like, from its distinctive fields; None when it looks like none.

    Detection is loose on purpose: a row that looks like a format but breaks its rules (a
    JudgeBench tie label, an engine label out of range) gets that format's own error message.
    """
    if not isinstance(row, dict):
        return None
    if "response_A" in row and "response_B" in row:
        return "judgebench"
    if "responses" in row:
        return "engine"
    if "chosen" not in row or "rejected" not in row:
        return None
    chosen, rejected = row["chosen"], row["rejected"]
    if isinstance(chosen, list) and isinstance(rejected, list) and len(chosen) == len(rejected) == STYLES:
        return "rmbench"
    if isinstance(rejected, list) and isinstance(chosen, (str, list)):
        return "best_of_n"
    if isinstance(chosen, str) and isinstance(rejected, str):
        return "pairs"
    return None


def load_eval_items(
    paths: list[str],
    *,
    mode: str,
    data_format: str | None = None,
    seed: int = 0,
    limit: int | None = None,
    protocol: str | None = None,
) -> list[Item]:
    """Every row of the data files, laid out as items for `mode` (see `layout_row`)."""
    check_options(mode=mode, data_format=data_format, limit=limit, protocol=protocol)
    rows = read_eval_rows(paths, data_format=data_format, limit=limit)
    return [item for row in rows for item in layout_row(row, mode=mode, seed=seed, protocol=protocol)]


def check_options(*, mode: str, data_format: str | None = None, limit: int | None = None, protocol: str | None = None) -> None:
    """Refuse option values before any file is read."""
    if mode not in MODES:
        raise JudgeError(f"unknown mode '{mode}': judge eval runs in {', '.join(MODES)} mode")
    if data_format is not None and data_format not in FORMATS:
        raise JudgeError(f"unknown data format '{data_format}'; the formats are {', '.join(FORMATS)}")
    if protocol is not None and protocol not in PROTOCOLS:
        raise JudgeError(f"unknown protocol '{protocol}'; the protocols are {', '.join(PROTOCOLS)}")
    if protocol == "rewardbench" and mode != "pairwise":
        raise JudgeError(f"--protocol rewardbench judges in pairwise mode (its pair and 4-way prompts), not {mode}; drop --mode {mode}")
    if limit is not None and limit < 1:
        raise JudgeError(f"--limit must be at least 1, not {limit}")


def read_eval_rows(paths: list[str], *, data_format: str | None = None, limit: int | None = None) -> list[EvalRow]:
    """Checked rows of every file in order, `limit` rows at most; one format a file unless forced.

    Ids must be unique across the whole data set: they pair judgments with their rows, and two
    runs' units for McNemar's test.
    """
    for path in paths:
        check_source(path)
    rows: list[EvalRow] = []
    seen: dict[str, EvalRow] = {}
    for path in paths:
        if limit is not None and len(rows) >= limit:
            break
        first: tuple[str, int] | None = None  # the file's format and the line it was seen at
        for where, line, data in _raw_rows(path):
            fmt = data_format or detect_format(data)
            if fmt is None:
                raise _fits_no_format(data, where, line)
            if first is None:
                first = (fmt, line)
            elif data_format is None and fmt != first[0]:
                raise InputError(
                    where,
                    line,
                    f"this row looks like {fmt}, but the rows before it are {first[0]} (from line {first[1]}); "
                    "a file holds one format: split the file, or give --data-format to read every row as one format",
                )
            row = _parse(fmt, data, path, where, line)
            if row.id in seen:
                before = seen[row.id]
                raise InputError(
                    where, line, f"id '{row.id}' is also the id of the row at {before.where}:{before.line}; ids must be unique across the data set"
                )
            seen[row.id] = row
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break  # before the next line is even read
    if not rows:
        named = ", ".join(paths) if paths else "no data files given"
        raise JudgeError(f"no rows to evaluate ({named}): an evaluation needs at least one row")
    return rows


def layout_row(row: EvalRow, *, mode: str, seed: int = 0, protocol: str | None = None) -> list[Item]:
    """A row's items for `mode`. Pairwise mode expands RM-Bench (9 pairs) and best-of-N (one pair per
    rejected); score modes make one item a row. judgebench and engine rows keep their order."""
    if row.format in ("judgebench", "engine"):
        return [_item(row, row.id, list(row.responses), row.label)]
    if row.format == "pairs":
        return [_pair(row, row.id, row.chosen[0], row.rejected[0], seed, row.id, None)]
    if row.format == "rmbench":
        if mode != "pairwise":
            return [_item(row, row.id, [*row.chosen, *row.rejected], 0)]
        cells = [(i, j) for i in range(STYLES) for j in range(STYLES)]
        return [
            _pair(row, f"{row.id}#c{i}r{j}", row.chosen[i], row.rejected[j], seed, f"{row.id}:{k}", (i, j))
            for k, (i, j) in enumerate(cells)
        ]
    if protocol == "rewardbench":
        if len(row.rejected) != 3:
            raise InputError(
                row.where,
                row.line,
                f"under --protocol rewardbench a best_of_n row has 1 chosen and 3 rejected responses "
                f"(RewardBench 2's 4-way prompt); this one has {len(row.rejected)} rejected",
            )
        responses = [row.chosen[0], *row.rejected]
        k = seeded_position(seed, row.id, 4)
        responses[0], responses[k] = responses[k], responses[0]  # RewardBench 2: swap positions 0 and k
        return [_item(row, row.id, responses, k, seed=seed)]
    if mode != "pairwise":
        k = seeded_position(seed, row.id, len(row.rejected) + 1)
        responses = list(row.rejected)
        responses.insert(k, row.chosen[0])
        return [_item(row, row.id, responses, k, seed=seed)]
    return [
        _pair(row, f"{row.id}#r{k}", row.chosen[0], rejected, seed, f"{row.id}:{k}", (0, k))
        for k, rejected in enumerate(row.rejected)
    ]


def _pair(row: EvalRow, item_id: str, chosen: Content, rejected: Content, seed: int, key: str, pair: tuple[int, int] | None) -> Item:
    if chosen_first(seed, key):
        return _item(row, item_id, [chosen, rejected], 0, pair, seed)
    return _item(row, item_id, [rejected, chosen], 1, pair, seed)


def _item(row: EvalRow, item_id: str, responses: list[Content], label: int, pair: tuple[int, int] | None = None,
          seed: int | None = None) -> Item:
    info = EvalInfo(
        seed=seed,
        format=row.format,  # type: ignore[arg-type]
        source=row.source,
        line=row.line,
        group=row.id,
        subset=row.subset,
        label=label,
        lengths=[len(content_text(r)) for r in responses],
        pair=pair,
    )
    return Item(id=item_id, prompt=row.prompt, responses=responses, metadata={"eval": info.model_dump(mode="json")})


# -- reading -------------------------------------------------------------------------------------


def _raw_rows(path: str) -> Iterator[tuple[str, int, Any]]:
    """(where, line, parsed JSON) of each non-blank line of a JSONL file (or stdin, `-`), or of
    each entry of a `.json` array."""
    if path == "-":
        yield from _jsonl(sys.stdin.buffer, "<stdin>")
    elif Path(path).suffix == ".json":
        yield from _json_array(path)
    else:
        with Path(path).open("rb") as handle:
            yield from _jsonl(handle, path)


def _jsonl(handle: IO[bytes], where: str) -> Iterator[tuple[str, int, Any]]:
    for line, raw in enumerate(handle, start=1):
        if line == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(where, line, f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}") from None
        if not text.strip():
            continue
        try:
            yield where, line, json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(where, line, f"not JSON: {exc.msg} (column {exc.colno})") from None


def _json_array(path: str) -> Iterator[tuple[str, int, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(path, 0, f"not UTF-8: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, f"not JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise InputError(path, 1, "a .json data file is an array of rows; use .jsonl for one row a line")
    for index, entry in enumerate(data, start=1):
        yield f"{path} item", index, entry


# -- checking one row ----------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    names = {str: "a string", list: "a list", dict: "an object", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _fits_no_format(data: Any, where: str, line: int) -> InputError:
    if not isinstance(data, dict):
        return InputError(where, line, f"a row is a JSON object, not {_kind(data)}")
    has = ", ".join(f"'{k}'" for k in data) or "none"
    needs = []
    for fmt in FORMATS:
        missing = [f"'{k}'" for k in _FIELDS[fmt] if k not in data]
        note = f"missing {', '.join(missing)}" if missing else "has these fields, not of these types"
        needs.append(f"{fmt} needs {NEEDS[fmt]} ({note})")
    return InputError(where, line, f"this row fits no data format (its fields: {has}); " + "; ".join(needs))


def _parse(fmt: str, data: Any, source: str, where: str, line: int) -> EvalRow:
    """Check a row against one format; every problem names the field, and what the format needs."""

    def need(problem: str) -> InputError:
        article = "an" if fmt == "engine" else "a"
        return InputError(where, line, f"{problem}; {article} {fmt} row needs {NEEDS[fmt]}")

    if not isinstance(data, dict):
        raise need(f"a row is a JSON object, not {_kind(data)}")
    for field in _FIELDS[fmt]:
        if field not in data:
            raise need(f"field '{field}' is missing")
    stem = "stdin" if source == "-" else Path(source).stem
    row_id = _row_id(data["id"], where, line) if "id" in data else f"{stem}:{line}"
    subset = data.get("subset", data.get({"judgebench": "source", "rmbench": "domain"}.get(fmt, "subset")))
    if subset is None:
        subset = stem
    elif not isinstance(subset, str) or not subset.strip():
        field = "subset" if "subset" in data else {"judgebench": "source", "rmbench": "domain"}[fmt]
        raise InputError(where, line, f"field '{field}' (the subset) must be a non-empty string, not {_kind(subset)}")
    prompt_field = "question" if fmt == "judgebench" else "prompt"
    try:
        prompt = _PROMPT.validate_python(data[prompt_field])
    except ValidationError:
        raise need(f"field '{prompt_field}' must be a string or a list of chat messages (role, content), not {_kind(data[prompt_field])}") from None
    base = {"id": row_id, "format": fmt, "source": source, "where": where, "line": line, "subset": subset, "prompt": prompt}

    def text(field: str, value: Any) -> str:
        if not isinstance(value, str):
            raise need(f"field '{field}' must be a string, not {_kind(value)}")
        return value

    def texts(field: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise need(f"field '{field}' must be a list, not {_kind(value)}")
        return tuple(text(f"{field}[{i}]", v) for i, v in enumerate(value))

    if fmt == "pairs":
        return EvalRow(**base, chosen=(text("chosen", data["chosen"]),), rejected=(text("rejected", data["rejected"]),))
    if fmt == "rmbench":
        chosen, rejected = texts("chosen", data["chosen"]), texts("rejected", data["rejected"])
        for field, given in (("chosen", chosen), ("rejected", rejected)):
            if len(given) != STYLES:
                raise need(f"field '{field}' has {len(given)} entries")
        return EvalRow(**base, chosen=chosen, rejected=rejected)
    if fmt == "judgebench":
        label = data["label"]
        if label not in JUDGEBENCH_LABELS:
            raise InputError(where, line, f"field 'label' is {json.dumps(label)}; a judgebench label is \"A>B\" or \"B>A\"")
        responses = (text("response_A", data["response_A"]), text("response_B", data["response_B"]))
        return EvalRow(**base, responses=responses, label=JUDGEBENCH_LABELS[label])
    if fmt == "best_of_n":
        chosen = (text("chosen", data["chosen"]),) if not isinstance(data["chosen"], list) else texts("chosen", data["chosen"])
        if len(chosen) > 1:
            raise InputError(
                where,
                line,
                f"field 'chosen' holds {len(chosen)} responses: several chosen responses (RewardBench 2's Ties subset) "
                "are not supported; a best_of_n row has one chosen response",
            )
        rejected = texts("rejected", data["rejected"])
        if not chosen or not rejected:
            raise need(f"field '{'chosen' if not chosen else 'rejected'}' is an empty list")
        return EvalRow(**base, chosen=chosen, rejected=rejected)
    try:  # engine
        responses = tuple(_CONTENTS.validate_python(data["responses"]))
    except ValidationError:
        raise need("field 'responses' must be a list of strings (or content parts)") from None
    if len(responses) < 2:
        raise need(f"field 'responses' has {len(responses)}; an evaluation compares two or more")
    label = data["label"]
    if isinstance(label, bool) or not isinstance(label, int):
        raise need(f"field 'label' must be an integer, not {_kind(label)}")
    if not 0 <= label < len(responses):
        raise InputError(where, line, f"field 'label' is {label}, out of range for {len(responses)} responses (0 to {len(responses) - 1})")
    return EvalRow(**base, responses=responses, label=label)


def _row_id(value: Any, where: str, line: int) -> str:
    """Ids are strings or integers, as in `judge score`; anything else would be silently renamed."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(where, line, f"field 'id' must be a string or an integer, not {_kind(value)} ({json.dumps(value)})")
    if isinstance(value, str) and not value.strip():
        raise InputError(where, line, "field 'id' is empty")
    return str(value)
