"""`judge index`: build the search tool's index of documents, show what an index holds, try a query.

    judge index build DOCS... -o INDEX [--passage-words N] [--overwrite] [--strict]
    judge index info INDEX
    judge index search INDEX QUERY [-k N]

Problems with the input (a missing path, no supported files, an existing INDEX) are one line on
stderr, `judge index: <reason>`, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from judge.errors import JudgeError

EXAMPLES = """\
examples:
  judge index build docs/ -o docs.db
  judge index build wiki.jsonl notes/ -o kb.db --passage-words 200 --overwrite
  judge index search docs.db "install on linux" -k 2
  judge tool run search '{"query": "install on linux"}' -T index=docs.db
  judge score -r factuality -s tools --tools search -T search.index=docs.db data.jsonl -o out.jsonl

inputs: .txt and .md files (split into passages at blank lines, about --passage-words words each;
a Markdown heading becomes the title of the passages under it) and .jsonl files (one document per
line: "text" (or "content", "passage", "contents"), optional "title", "url" or "source").
A JSONL line that is not JSON or has no text is skipped with a warning (--strict: stops the build).
"""


class IndexCommand:
    """The command object `register_commands` registers."""

    name = "index"
    help = "build a search index of documents for the search tool"
    description = ("Build a local BM25 index (one SQLite file) of .txt, .md and .jsonl documents for the search tool, "
                   "show what an index holds, or try a query on it.")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="index_action", metavar="ACTION", required=True,
                                        help="build: index documents; info: what an index holds; search: try a query")
        build = actions.add_parser("build", help="index documents into a new index file", epilog=EXAMPLES,
                                   description="Index the documents under DOCS into INDEX (written whole or not at all).",
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
        build.add_argument("docs", nargs="+", type=Path, metavar="DOCS", help="folders (searched recursively) or .txt/.md/.jsonl files")
        build.add_argument("-o", "--output", required=True, type=Path, metavar="INDEX", help="the index file to write, e.g. docs.db")
        build.add_argument("--passage-words", type=int, default=120, metavar="N", help="about how many words a passage holds (default 120)")
        build.add_argument("--overwrite", action="store_true", help="replace INDEX if it exists")
        build.add_argument("--strict", action="store_true", help="stop at a bad JSONL line instead of skipping it")
        info = actions.add_parser("info", help="show how and when an index was built", description="Print an index's meta table.")
        info.add_argument("index", type=Path, metavar="INDEX")
        find = actions.add_parser("search", help="try a query on an index, as the search tool would answer it",
                                  description="Print the passages the search tool would return for QUERY.")
        find.add_argument("index", type=Path, metavar="INDEX")
        find.add_argument("query", metavar="QUERY")
        find.add_argument("-k", type=int, default=3, help="how many passages (default 3)")
        find.add_argument("--passage-chars", type=int, default=600, metavar="N", help="characters shown of each passage (default 600)")

    def run(self, args: argparse.Namespace) -> int:
        try:
            if args.index_action == "build":
                return _build(args)
            if args.index_action == "info":
                from judge_tools.search_index import index_info

                print("\n".join(f"{key}: {value}" for key, value in index_info(args.index).items()))
                return 0
            return _search(args)
        except JudgeError as exc:
            print(f"judge index: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("judge index: interrupted; no index was written", file=sys.stderr)
            return 130


def _build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from judge_tools.search_index import build_index, collect_files

    total = len(collect_files(args.docs))
    with tqdm(total=total, unit="file", desc="indexing", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        summary = build_index(args.docs, args.output, passage_words=args.passage_words, overwrite=args.overwrite,
                              strict=args.strict, progress=bar.update)
    for warning in summary.warnings:
        print(f"judge index: warning: {warning}", file=sys.stderr)
    if summary.skipped > len(summary.warnings):
        print(f"judge index: warning: {_count(summary.skipped - len(summary.warnings), 'more bad line')} skipped",
              file=sys.stderr)
    skipped = f"; {_count(summary.skipped, 'bad line')} skipped" if summary.skipped else ""
    print(f"indexed {_count(summary.passages, 'passage')} from {_count(summary.files, 'file')} into {args.output} "
          f"({_size(summary.bytes)}){skipped}", file=sys.stderr)
    return 0


def _search(args: argparse.Namespace) -> int:
    from judge_tools.search import format_passages
    from judge_tools.search_index import search_index

    if not 1 <= args.k <= 100 or args.passage_chars < 50:
        raise JudgeError("-k must be 1 to 100 and --passage-chars at least 50")
    print(format_passages(search_index(args.index, args.query, args.k, snippet_chars=args.passage_chars)))
    return 0


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _size(count: int) -> str:
    """Bytes as people read them: 2.3 MB."""
    if count < 1000:
        return f"{count} B"
    size = float(count)
    for unit in ("kB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


INDEX_COMMAND = IndexCommand()
