"""The search tool's local index: a real SQLite FTS5 index over .txt, .md and .jsonl files the test
writes, queried directly, through the ToolBox as a judge calls it, and through `judge index`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from judge_tools import search_index as index_module
from judge_tools.index_command import INDEX_COMMAND
from judge_tools.search import NO_MATCH, NOT_CONFIGURED, SEARCH, SearchSettings, check
from judge_tools.search_index import SearchIndexError, build_index, index_info, search_index, split_passages

from judge.errors import JudgeError
from judge.tools import ToolBox, ToolStatus, configure

LONG = " ".join(f"filler{i}" for i in range(300)) + " the lighthouse keeper"

GUIDE = """\
# Guide

An introduction to the judge and its rubrics.

## Installation

Install with pip; the zebrafish package must be present first.

```bash
# not a heading
pip install zebra
```

### Linux

On Linux the apt package manager supplies the compiler.
"""


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "notes").mkdir(parents=True)
    (root / "plants.txt").write_text(
        "Photosynthesis turns light into chemical energy; chlorophyll absorbs the light.\n\n"
        "Roots take up water and minerals from the soil.\n", encoding="utf-8")
    (root / "notes" / "guide.md").write_text(GUIDE, encoding="utf-8")
    (root / "notes" / "long.txt").write_text(LONG + "\n", encoding="utf-8")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.txt").write_text("the hidden volcano\n", encoding="utf-8")
    (root / "ignored.pdf").write_bytes(b"%PDF volcano")
    rows = [json.dumps({"text": "Paris is the capital city of France.", "title": "France", "url": "https://example.org/france"}),
            "{not json",
            json.dumps({"body": "no text field here"}),
            json.dumps({"content": "Berlin is the capital city of Germany.", "id": "de"}),
            ""]
    (root / "places.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture()
def index(docs: Path, tmp_path: Path) -> Path:
    out = tmp_path / "docs.db"
    build_index([docs], out, passage_words=40)
    return out


def call(settings: SearchSettings, arguments: str):
    return asyncio.run(ToolBox(tools={"search": (SEARCH, settings)}).call("search", arguments))


def test_build_counts_files_passages_and_skips_bad_jsonl_lines_with_their_line(docs, tmp_path):
    summary = build_index([docs], tmp_path / "i.db", passage_words=40)
    assert summary.files == 4 and summary.passages >= 8 and summary.bytes > 0
    assert summary.skipped == 2
    assert summary.warnings[0].startswith("places.jsonl:2: not JSON")
    assert summary.warnings[1] == "places.jsonl:3: no text field (one of text, content, passage, contents); line skipped"
    meta = index_info(tmp_path / "i.db")
    assert meta["format"] == "judge-search-index" and meta["passages"] == str(summary.passages)
    assert meta["files"] == "4" and json.loads(meta["sources"]) == [str(docs.resolve())] and meta["built_at"]


def test_strict_build_stops_at_the_bad_line_and_writes_nothing(docs, tmp_path):
    with pytest.raises(SearchIndexError, match=r"places.jsonl:2: not JSON"):
        build_index([docs], tmp_path / "i.db", strict=True)
    assert not (tmp_path / "i.db").exists()


def test_the_relevant_passage_ranks_first_with_its_source(index):
    [first, *_] = search_index(index, "chlorophyll photosynthesis", 3)
    assert first.source == "plants.txt#L1" and "chlorophyll absorbs" in first.text and first.score > 0
    [capital, *_] = search_index(index, "capital of France", 2)
    assert capital.source == "https://example.org/france" and capital.title == "France"
    germany = search_index(index, "Germany", 1)
    assert germany[0].source == "places.jsonl#L4" and germany[0].title == ""


def test_markdown_headings_are_titles_and_code_comments_are_text(index):
    [hit] = search_index(index, "zebrafish", 1)
    assert hit.title == "Guide > Installation" and hit.source == "notes/guide.md#L7"
    [linux] = search_index(index, "compiler", 1)
    assert linux.title == "Guide > Installation > Linux"
    [code] = search_index(index, "zebra", 1)
    assert "# not a heading" in code.text and code.title == "Guide > Installation"


def test_long_text_is_split_and_a_long_passage_is_trimmed_around_the_match(index):
    [hit] = search_index(index, "lighthouse", 1, snippet_chars=200)
    assert "lighthouse keeper" in hit.text and len(hit.text) <= 202 and hit.text.startswith("…")
    assert hit.source.startswith("notes/long.txt#L1")
    assert len([p for p in split_passages(LONG, 40, markdown=False)]) == 8  # 303 words


def test_hidden_folders_and_unsupported_files_are_not_indexed(index):
    assert search_index(index, "volcano", 3) == []


def test_fts_syntax_in_a_query_is_only_words(index):
    for query in ('NEAR(', '"', "AND OR", "*", "col:term", "title:France", "capital NOT", "(Paris", "^x", "-", "a\"b'c", "NEAR(a b, 2)"):
        search_index(index, query, 3)  # does not raise
    assert search_index(index, "AND OR NOT", 3) == []
    [hit] = search_index(index, "title:France", 1)
    assert hit.title == "France"


def test_k_is_respected(index):
    assert len(search_index(index, "capital city", 1)) == 1
    assert len(search_index(index, "capital city", 2)) == 2
    assert len(search_index(index, "the", 10)) <= 10


def test_the_tool_answers_numbered_passages_through_the_toolbox(index):
    result = call(SearchSettings(index=index), '{"query": "capital city", "k": 2}')
    assert result.status is ToolStatus.ok, result.output
    first, second = result.output.split("\n\n")
    assert first.startswith("[1] (") and second.startswith("[2] (") and "capital city" in first
    assert "] (https://example.org/france) France\nParis is the capital city of France." in result.output
    assert "] (places.jsonl#L4)\nBerlin is the capital city of Germany." in result.output
    nothing = call(SearchSettings(index=index), '{"query": "xylophone"}')
    assert nothing.status is ToolStatus.ok and nothing.output == NO_MATCH


def test_settings_come_from_command_line_strings(index):
    settings = configure(SEARCH, {"index": str(index), "passage_chars": "300"})
    assert settings.index == index and settings.passage_chars == 300 and check(settings) is None
    with pytest.raises(JudgeError, match="search"):
        configure(SEARCH, {"indx": str(index)})


def test_a_missing_or_foreign_index_is_a_clear_refusal(tmp_path):
    missing = tmp_path / "nope.db"
    result = call(SearchSettings(index=missing), '{"query": "anything"}')
    assert result.status is ToolStatus.refused
    assert str(missing) in result.output and "judge index build" in result.output
    text = tmp_path / "notes.txt"
    text.write_text("just text, not an index\n")
    foreign = call(SearchSettings(index=text), '{"query": "anything"}')
    assert foreign.status is ToolStatus.refused and "not a search index" in foreign.output and str(text) in foreign.output
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE meta (key TEXT, value TEXT)").connection.commit()
    assert "not a version-1 search index" in call(SearchSettings(index=other), '{"query": "x"}').output


def test_check_names_what_is_missing(index, tmp_path):
    assert check(SearchSettings()) == NOT_CONFIGURED
    assert "judge index build DOCS -o INDEX" in NOT_CONFIGURED and "search.url=URL" in NOT_CONFIGURED
    assert "choose one" in check(SearchSettings(index=index, url="http://127.0.0.1:1/search"))
    assert "judge index build" in check(SearchSettings(index=tmp_path / "gone.db"))
    assert check(SearchSettings(index=index)) is None
    assert "not an http" in check(SearchSettings(url="ftp://example.org"))
    assert call(SearchSettings(), '{"query": "x"}').output == NOT_CONFIGURED


def test_bad_arguments_are_reported_not_run(index):
    assert call(SearchSettings(index=index), '{"query": "x", "k": 11}').status is ToolStatus.bad_arguments
    assert call(SearchSettings(index=index), '{"query": ""}').status is ToolStatus.bad_arguments


def test_a_failed_build_leaves_no_file_at_out_and_keeps_an_old_index(docs, tmp_path):
    out = tmp_path / "atomic.db"

    def fail_after_first_file(done: int) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        build_index([docs], out, progress=fail_after_first_file)
    assert not out.exists() and list(tmp_path.glob(".atomic.db.*")) == []
    build_index([docs], out)
    before = out.read_bytes()
    with pytest.raises(RuntimeError):
        build_index([docs], out, overwrite=True, progress=fail_after_first_file)
    assert out.read_bytes() == before and list(tmp_path.glob(".atomic.db.*")) == []


def test_an_existing_index_is_replaced_only_with_overwrite(docs, tmp_path):
    out = tmp_path / "i.db"
    build_index([docs / "plants.txt"], out)
    with pytest.raises(SearchIndexError, match="already exists: pass --overwrite"):
        build_index([docs], out)
    assert search_index(out, "capital", 3) == []
    build_index([docs], out, overwrite=True)
    assert search_index(out, "capital", 3)


def test_bad_inputs_name_the_problem(docs, tmp_path):
    with pytest.raises(SearchIndexError, match="no such file or folder"):
        build_index([tmp_path / "missing"], tmp_path / "i.db")
    with pytest.raises(SearchIndexError, match="unsupported file type"):
        build_index([docs / "ignored.pdf"], tmp_path / "i.db")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SearchIndexError, match="no .txt"):
        build_index([tmp_path / "empty"], tmp_path / "i.db")
    (tmp_path / "blank.txt").write_text("\n\n")
    with pytest.raises(SearchIndexError, match="no text to index"):
        build_index([tmp_path / "blank.txt"], tmp_path / "i.db")
    assert not (tmp_path / "i.db").exists()


def command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="judge index")
    INDEX_COMMAND.add_arguments(parser)
    return INDEX_COMMAND.run(parser.parse_args(argv))


def test_index_command_builds_reports_and_refuses(docs, tmp_path, capsys):
    out = tmp_path / "cmd.db"
    assert command(["build", str(docs), "-o", str(out), "--passage-words", "50"]) == 0
    err = capsys.readouterr().err
    assert "judge index: warning: places.jsonl:2: not JSON" in err
    assert f"passages from 4 files into {out} (" in err and "kB)" in err and "; 2 bad lines skipped" in err
    assert command(["build", str(docs), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == f"judge index: {out} already exists: pass --overwrite to replace it"
    assert command(["build", str(tmp_path / "missing"), "-o", str(tmp_path / "x.db")]) == 2
    assert "judge index: no such file or folder" in capsys.readouterr().err
    assert command(["info", str(out)]) == 0
    assert "passage_words: 50" in capsys.readouterr().out
    assert command(["search", str(out), "zebrafish", "-k", "1"]) == 0
    assert capsys.readouterr().out.startswith("[1] (notes/guide.md#L7) Guide > Installation\n")
    assert command(["info", str(tmp_path / "x.db")]) == 2


def test_importing_the_tool_stays_light():
    probe = "import sys, judge_tools.search, judge_tools.index_command; print(sorted({'httpx', 'tqdm', 'sympy', 'sqlite3'} & set(sys.modules)))"
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONPATH": str(Path(index_module.__file__).parents[1])})
    assert shown.stdout.strip() == "[]"


def test_an_unreadable_file_is_named(docs, tmp_path, monkeypatch):
    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(SearchIndexError, match=r"plants.txt: cannot be read \(Permission denied\)"):
        build_index([docs / "plants.txt"], tmp_path / "i.db")
    assert not (tmp_path / "i.db").exists()
