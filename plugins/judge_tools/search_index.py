"""The search tool's local index: passages of .txt, .md and .jsonl files in one SQLite FTS5 file.

FTS5 ships with Python's sqlite3, so the index needs no new dependency: it is one file, ranks
with BM25 (`bm25()`, title weighted twice the text), and any number of readers may open it at
once. It is built into a temporary file beside OUT and renamed at the end, so an interrupted
build never leaves a half index at OUT. Queries are made safe first: the words of the query are
each quoted and joined with OR, so no text a model writes is read as FTS5 syntax.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from judge.errors import JudgeError

FORMAT = "judge-search-index"
VERSION = "1"
TEXT_SUFFIXES = {".txt": False, ".md": True, ".markdown": True}  # suffix -> read as Markdown
SUFFIXES = (*TEXT_SUFFIXES, ".jsonl")
TEXT_FIELDS = ("text", "content", "passage", "contents")
SOURCE_FIELDS = ("url", "source")
FTS_OPERATORS = {"AND", "OR", "NOT", "NEAR"}
MAX_QUERY_TERMS = 32
MAX_WARNINGS = 20  # warnings kept in the summary; all are counted
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
BUILD_HINT = "judge index build DOCS -o {path}"


class SearchIndexError(JudgeError):
    """The index cannot be built or read; the message names the path and what to do."""


@dataclass(frozen=True)
class Passage:
    """One search result: `source` is the document's URL when it gave one, else FILE#L<line>."""

    text: str
    source: str
    title: str = ""
    score: float = 0.0


@dataclass
class IndexSummary:
    """What a build wrote: counted passages and files, and the input lines it skipped (and why)."""

    out: Path
    passages: int = 0
    files: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    bytes: int = 0

    def warn(self, text: str) -> None:
        self.skipped += 1
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(text)


def collect_files(sources: list[Path]) -> list[tuple[Path, str]]:
    """Each supported file under `sources`, once, with the name its passages cite (relative to the
    folder given, or the file's own name); a missing path or no supported file is an error."""
    found: dict[Path, str] = {}
    for source in sources:
        if not source.exists():
            raise SearchIndexError(f"no such file or folder: {source}")
        if source.is_file():
            if source.suffix.lower() not in SUFFIXES:
                raise SearchIndexError(f"{source}: unsupported file type (supported: {', '.join(SUFFIXES)})")
            found.setdefault(source.resolve(), source.name)
            continue
        for path in sorted(source.rglob("*")):
            inside = path.relative_to(source)
            if path.is_file() and path.suffix.lower() in SUFFIXES and not any(p.startswith(".") for p in inside.parts):
                found.setdefault(path.resolve(), inside.as_posix())
    if not found:
        raise SearchIndexError(f"no {', '.join(SUFFIXES)} files in {', '.join(map(str, sources))}")
    return [(path, name) for path, name in found.items()]


def build_index(sources: list[Path], out: Path, *, passage_words: int = 120, overwrite: bool = False, strict: bool = False,
                progress: Callable[[int], None] | None = None) -> IndexSummary:
    """Index every supported file under `sources` into `out`; `progress(1)` after each file.

    A bad JSONL line is skipped with a warning (counted in the summary), or with `strict` fails
    the build. OUT is written whole or not at all."""
    if passage_words < 10:
        raise SearchIndexError(f"passage length {passage_words} words is too short: use at least 10")
    if out.is_dir():
        raise SearchIndexError(f"{out} is a folder: name the index file, e.g. {out / 'index.db'}")
    if out.exists() and not overwrite:
        raise SearchIndexError(f"{out} already exists: pass --overwrite to replace it")
    files = collect_files(sources)
    out.parent.mkdir(parents=True, exist_ok=True)
    temp, summary = out.parent / f".{out.name}.{secrets.token_hex(6)}.tmp", IndexSummary(out=out)  # sqlite creates it
    try:
        db = sqlite3.connect(temp)
        try:
            _write(db, files, sources, summary, passage_words, strict, progress)
        finally:
            db.close()
        if summary.passages == 0:
            raise SearchIndexError(f"no text to index in {', '.join(map(str, sources))}")
        _place(temp, out, overwrite)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    summary.bytes = out.stat().st_size
    return summary


def _write(db: sqlite3.Connection, files: list[tuple[Path, str]], sources: list[Path], summary: IndexSummary,
           passage_words: int, strict: bool, progress: Callable[[int], None] | None) -> None:
    db.execute("PRAGMA journal_mode=OFF")  # a temporary file: a failed build is deleted, not rolled back
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE VIRTUAL TABLE passages USING fts5(text, title, source UNINDEXED,"
               " tokenize='porter unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO passages(passages, rank) VALUES ('rank', 'bm25(1.0, 2.0)')")
    for path, name in files:
        rows = _jsonl_passages(path, name, passage_words, summary, strict) if path.suffix.lower() == ".jsonl" \
            else _text_passages(path, name, passage_words)
        batch: list[tuple[str, str, str]] = []
        try:
            for row in rows:
                batch.append(row)
                if len(batch) >= 1000:
                    summary.passages += _insert(db, batch)
        except OSError as exc:
            raise SearchIndexError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        summary.passages += _insert(db, batch)
        summary.files += 1
        if progress is not None:
            progress(1)
    db.execute("INSERT INTO passages(passages) VALUES ('optimize')")
    meta = {"format": FORMAT, "version": VERSION, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "passages": summary.passages, "files": summary.files, "skipped_lines": summary.skipped,
            "passage_words": passage_words, "sources": json.dumps([str(s.resolve()) for s in sources])}
    db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
    db.commit()


def _insert(db: sqlite3.Connection, batch: list[tuple[str, str, str]]) -> int:
    db.executemany("INSERT INTO passages(text, title, source) VALUES (?, ?, ?)", batch)
    count = len(batch)
    batch.clear()
    return count


def _place(temp: Path, out: Path, overwrite: bool) -> None:
    """Move the finished index to OUT, never over a file that appeared meanwhile unless overwriting."""
    if overwrite:
        os.replace(temp, out)
        return
    try:
        os.link(temp, out)  # fails if OUT exists, atomically
    except FileExistsError:
        raise SearchIndexError(f"{out} already exists: pass --overwrite to replace it") from None
    except OSError:  # no hard links on this file system
        if out.exists():
            raise SearchIndexError(f"{out} already exists: pass --overwrite to replace it") from None
        os.replace(temp, out)
        return
    temp.unlink()


def _text_passages(path: Path, name: str, passage_words: int) -> Iterator[tuple[str, str, str]]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    for line, title, passage in split_passages(text, passage_words, markdown=TEXT_SUFFIXES[path.suffix.lower()]):
        yield passage, title, f"{name}#L{line}"


def _jsonl_passages(path: Path, name: str, passage_words: int, summary: IndexSummary,
                    strict: bool) -> Iterator[tuple[str, str, str]]:
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            document, problem = _document(raw)
            if problem is not None:
                if strict:
                    raise SearchIndexError(f"{name}:{number}: {problem} (without --strict such a line is skipped)")
                summary.warn(f"{name}:{number}: {problem}; line skipped")
                continue
            text, title, cited = document
            for _, _, passage in split_passages(text, passage_words, markdown=False):
                yield passage, title, cited or f"{name}#L{number}"


def _document(raw: str) -> tuple[tuple[str, str, str], str | None]:
    """(text, title, source) of one JSONL line, or the reason it cannot be indexed."""
    try:
        row = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ("", "", ""), f"not JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(row, dict):
        return ("", "", ""), f"a JSON {type(row).__name__}, not an object"
    key = next((k for k in TEXT_FIELDS if k in row), None)
    if key is None:
        return ("", "", ""), f"no text field (one of {', '.join(TEXT_FIELDS)})"
    if not isinstance(row[key], str):
        return ("", "", ""), f"field '{key}' is a {type(row[key]).__name__}, not a string"
    title = row.get("title") if isinstance(row.get("title"), str) else ""
    cited = next((str(row[k]) for k in SOURCE_FIELDS if row.get(k)), "")
    return (row[key], " ".join(title.split()), cited), None


def split_passages(text: str, passage_words: int, *, markdown: bool) -> Iterator[tuple[int, str, str]]:
    """(first line, section title, text) of each passage: paragraphs split at blank lines, merged
    up to `passage_words` words or split at that length. In Markdown, a heading ends a passage
    and its path ("Guide > Install") is the title of the passages under it."""
    headings: list[tuple[int, str]] = []
    chunk: list[str] = []
    count, start = 0, 0
    for line, words, heading in _pieces(text, passage_words, markdown):
        if heading is not None or (count and count + len(words) > passage_words):
            if chunk:
                yield start, " > ".join(h for _, h in headings), "\n\n".join(chunk)
            chunk, count = [], 0
        if heading is not None:
            while headings and headings[-1][0] >= heading[0]:
                headings.pop()
            headings.append(heading)
            continue
        if not chunk:
            start = line
        chunk.append(" ".join(words))
        count += len(words)
    if chunk:
        yield start, " > ".join(h for _, h in headings), "\n\n".join(chunk)


def _pieces(text: str, passage_words: int, markdown: bool) -> Iterator[tuple[int, list[str], tuple[int, str] | None]]:
    """Each paragraph as pieces of at most `passage_words` words, with the line each starts on,
    and (in Markdown) each heading outside a code block as (line, [], (level, title))."""
    words: list[str] = []
    start, in_code = 0, False
    for number, line in enumerate(text.splitlines(), 1):
        fence = markdown and FENCE.match(line) is not None
        heading = HEADING.match(line) if markdown and not in_code and not fence else None
        if fence or heading or not line.strip():
            if words:
                yield start, words, None
                words = []
            in_code ^= fence
            if heading:
                yield number, [], (len(heading.group(1)), heading.group(2))
            continue
        for word in line.split():
            if not words:
                start = number
            words.append(word)
            if len(words) >= passage_words:
                yield start, words, None
                words = []
    if words:
        yield start, words, None


def open_index(index: Path) -> sqlite3.Connection:
    """A read-only connection to a search index; SearchIndexError naming the path if it is none."""
    hint = BUILD_HINT.format(path=index)
    if not index.is_file():
        raise SearchIndexError(f"no search index at {index}: build one with `{hint}`")
    db = sqlite3.connect(f"{index.resolve().as_uri()}?mode=ro", uri=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        db.close()
        raise SearchIndexError(f"{index} is not a search index ({exc}): name a file built by "
                               "`judge index build DOCS -o INDEX`") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        db.close()
        raise SearchIndexError(f"{index} is not a version-{VERSION} search index: rebuild it with `{hint} --overwrite`")
    return db


def index_info(index: Path) -> dict[str, str]:
    """The index's meta table: format, version, built_at, passages, files, sources, ..."""
    db = open_index(index)
    try:
        return dict(db.execute("SELECT key, value FROM meta ORDER BY key").fetchall())
    finally:
        db.close()


def search_index(index: Path, query: str, k: int, *, snippet_chars: int = 600) -> list[Passage]:
    """The best `k` passages for the query's words by BM25, each trimmed to about `snippet_chars`."""
    terms = query_terms(query)
    if not terms:
        return []
    db = open_index(index)
    try:
        rows = db.execute("SELECT text, title, source, rank FROM passages WHERE passages MATCH ? ORDER BY rank, rowid LIMIT ?",
                          (" OR ".join(f'"{t}"' for t in terms), k)).fetchall()
    except sqlite3.DatabaseError as exc:
        raise SearchIndexError(f"{index}: the index cannot be read ({exc}): rebuild it with `{BUILD_HINT.format(path=index)}`") from None
    finally:
        db.close()
    return [Passage(text=snippet(text, terms, snippet_chars), source=source, title=title, score=-rank)
            for text, title, source, rank in rows]


def query_terms(query: str) -> list[str]:
    """The query's words, each once, without FTS5 operators: quoted, none can be read as syntax."""
    words = (w for w in re.findall(r"\w+", query) if re.search(r"[^\W_]", w) and w.upper() not in FTS_OPERATORS)
    return list(dict.fromkeys(words))[:MAX_QUERY_TERMS]


def snippet(text: str, terms: list[str], chars: int) -> str:
    """The passage, or about `chars` characters of it around the longest query word it contains."""
    if len(text) <= chars:
        return text
    first = 0
    for term in sorted(terms, key=len, reverse=True):  # a stem-like prefix: "running" finds "runs"
        match = re.search(rf"\b{re.escape(term[:max(3, len(term) - 3)])}", text, re.IGNORECASE)
        if match:
            first = match.start()
            break
    begin = max(0, min(first - chars // 4, len(text) - chars))
    if begin:
        begin = text.find(" ", begin) + 1 or begin  # start on a word
    end = begin + chars
    if end < len(text) and text.rfind(" ", begin, end) > begin:
        end = text.rfind(" ", begin, end)
    return ("…" if begin else "") + text[begin:end].strip() + ("…" if end < len(text) else "")
