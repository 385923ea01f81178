"""The documentation's examples run as tests, so the docs cannot drift from the code.

Every ```python block of docs/*.md and README.md is executed, the blocks of one page in order
and in one namespace (a page reads like one session). The backend is whatever the block names:
the fake one, or the default embedded model (loaded once per test process). A bare ``` block
right after a python block is the output it prints, and is compared with what it printed.

`judge ...` command lines are checked too: every one in a ```bash block and every `$ judge ...`
line of a sample session is parsed by `judge.cli.build_parser()`; a session command that needs
no model (the fake backend, `judge plugins`, `judge rubrics`, `judge tools`, `judge tool run`,
`judge index`) is run, in a scratch folder with
`examples/` beside it, and what it prints is compared with the lines the page shows under it.

The pages say explicitly what a block is, with an HTML comment on the line(s) before its fence:

    <!-- no-test: REASON -->              a python block that is not run, or a session that is only
                                          parsed; the test lists each one as skipped, with REASON
    <!-- file: PATH -->                  the block is the content of PATH in the page's scratch
                                          folder (a module to import, a template, a rubric, rows)
    <!-- excerpt: PATH -->               the block is quoted from PATH in the repository, and
                                          must still be found there
    <!-- output: any-order -->           before an output block: the lines may come in any order
    <!-- output: numbers-vary: REASON -->  before an output block: numbers are not compared

In expected output, a line `...` stands for any number of lines, and a line ending in `...`
for any line that starts with what comes before it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT

PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<info>[\w+-]*)[ \t]*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<key>[\w-]+)\s*(?::\s*(?P<value>.*?))?\s*-->\s*$")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
SHELL_INFOS = {"bash", "sh", "shell", "console"}
MODEL_FREE = ("-b fake", "--backend fake", "-b=fake", "--backend=fake")
# Where the sample outputs were recorded; the real root is written this way before comparing.
RECORDED_ROOT = "/work/main"


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    info: str
    text: str
    markers: dict[str, str] = field(default_factory=dict)
    output: Block | None = None  # the bare block printed by this python block

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def read_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, each with the markers on the lines before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        markers: dict[str, str] = {}
        back = index - 1
        while back >= 0 and (not lines[back].strip() or MARKER.match(lines[back])):
            found = MARKER.match(lines[back])
            if found:
                markers.setdefault(found["key"], found["value"] or "")
            back -= 1
        indent, ticks = opening["indent"], opening["ticks"]
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != ticks:
            body.append(lines[index][len(indent):] if lines[index].startswith(indent) else lines[index].lstrip())
            index += 1
        blocks.append(Block(page, index - len(body), opening["info"], "\n".join(body) + "\n", markers))
        index += 1
    for block, following in zip(blocks, blocks[1:]):
        if block.info == "python" and following.info == "" and _adjacent(lines, block, following):
            block.output = following
    return blocks


def _adjacent(lines: list[str], block: Block, following: Block) -> bool:
    """Only blank lines and markers between the end of `block` and the fence of `following`."""
    end = block.line + block.text.count("\n")  # 0-based index of the closing fence
    between = lines[end + 1 : following.line - 1]
    return all(not line.strip() or MARKER.match(line) for line in between)


ALL_BLOCKS = [block for page in PAGES for block in read_blocks(page)]


def matches(expected: str, actual: str, *, any_order: bool = False, numbers_vary: bool = False) -> bool:
    """Expected output against actual, with `...` lines and `...` line endings as wildcards."""
    want = expected.rstrip("\n").splitlines()
    got = actual.replace(str(ROOT), RECORDED_ROOT).rstrip("\n").splitlines()
    want = [line.rstrip() for line in want]
    got = [line.rstrip() for line in got]
    if numbers_vary:
        want = [NUMBER.sub("#", line) for line in want]
        got = [NUMBER.sub("#", line) for line in got]
    if any_order:
        return sorted(want) == sorted(got)
    return _match_lines(want, got)


def _match_lines(want: list[str], got: list[str]) -> bool:
    if not want:
        return not got
    head, rest = want[0], want[1:]
    if head == "...":
        return any(_match_lines(rest, got[skip:]) for skip in range(len(got) + 1))
    if not got:
        return False
    if head.endswith("...") and head != "...":
        same = got[0].startswith(head[:-3])
    else:
        same = got[0] == head
    return same and _match_lines(rest, got[1:])


def scratch_folder(tmp_path: Path) -> Path:
    """A page's working folder: the files its blocks define, and `examples/` from the repository."""
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return tmp_path


def write_file_blocks(page_blocks: list[Block], folder: Path) -> None:
    for block in page_blocks:
        if "file" in block.markers:
            target = folder / block.markers["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")


# -- python blocks ---------------------------------------------------------------------------------


def _runnable(block: Block) -> bool:
    return block.info == "python" and "no-test" not in block.markers and "file" not in block.markers \
        and "excerpt" not in block.markers


PYTHON_PAGES = [page for page in PAGES if any(b.page == page and _runnable(b) for b in ALL_BLOCKS)]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda p: p.name)
def test_python_blocks_run_and_print_what_the_page_shows(page, tmp_path, monkeypatch):
    blocks = read_blocks(page)
    folder = scratch_folder(tmp_path)
    write_file_blocks(blocks, folder)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    namespace: dict[str, object] = {"__name__": "__doc_example__", "__file__": str(folder / page.with_suffix(".py").name)}
    try:
        for block in filter(_runnable, blocks):
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                try:
                    exec(compile(block.text, block.where, "exec"), namespace)  # noqa: S102 - the docs' own examples
                except Exception as exc:
                    pytest.fail(f"{block.where}: the example raised {type(exc).__name__}: {exc}", pytrace=False)
            if block.output is not None:
                marker = block.output.markers.get("output", "")
                if not matches(block.output.text, printed.getvalue(), any_order=marker == "any-order",
                               numbers_vary=marker.startswith("numbers-vary")):
                    pytest.fail(f"{block.where}: the page shows (line {block.output.line}):\n{block.output.text}\n"
                                f"but the example printed:\n{printed.getvalue()}", pytrace=False)
    finally:
        for name in set(sys.modules) - before:  # the page's own modules (judge_echo, ...)
            module = sys.modules[name]
            if str(folder) in str(getattr(module, "__file__", "") or ""):
                del sys.modules[name]


SKIPPED = [b for b in ALL_BLOCKS if "no-test" in b.markers]


@pytest.mark.parametrize("block", SKIPPED, ids=lambda b: b.where)
def test_blocks_not_run_say_why(block):
    """Each block the pages mark `no-test` is listed in the test report as skipped, with its reason."""
    reason = block.markers["no-test"].strip()
    assert reason, f"{block.where}: `<!-- no-test -->` needs a reason: `<!-- no-test: why -->`"
    pytest.skip(f"{block.where}: {reason}")


EXCERPTS = [b for b in ALL_BLOCKS if "excerpt" in b.markers]


@pytest.mark.parametrize("block", EXCERPTS, ids=lambda b: b.where)
def test_excerpts_are_still_in_their_files(block):
    source = ROOT / block.markers["excerpt"]
    assert source.is_file(), f"{block.where}: quotes {source}, which does not exist"
    squeeze = lambda text: re.sub(r"\s+", " ", text).strip()  # noqa: E731
    assert squeeze(block.text) in squeeze(source.read_text(encoding="utf-8")), (
        f"{block.where}: the quoted text is no longer in {block.markers['excerpt']}"
    )


def test_every_python_block_is_run_or_says_why_not():
    for block in ALL_BLOCKS:
        if block.info == "python":
            assert _runnable(block) or {"no-test", "file", "excerpt"} & set(block.markers), block.where


# -- command lines ---------------------------------------------------------------------------------


@dataclass
class Command:
    block: Block
    line: int
    text: str  # the shell command, continuation lines joined
    shown: str | None  # the lines the page shows under it (sessions only)


def commands(block: Block) -> list[Command]:
    """The command lines of a ```bash block, or the `$ ...` lines of a session block."""
    session = block.info not in SHELL_INFOS
    if block.info not in SHELL_INFOS | {""} or "file" in block.markers or "excerpt" in block.markers:
        return []
    found: list[Command] = []
    lines = block.text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        start = block.line + 1 + index
        if session and not line.startswith("$ "):
            index += 1
            continue
        text = line[2:] if session else line
        while text.rstrip().endswith("\\") and index + 1 < len(lines):
            index += 1
            text = text.rstrip()[:-1] + " " + lines[index].strip()
        index += 1
        shown: list[str] = []
        while session and index < len(lines) and not lines[index].startswith("$ "):
            shown.append(lines[index])
            index += 1
        if text.strip() and not text.lstrip().startswith("#"):
            found.append(Command(block, start, text.strip(), "\n".join(shown) + "\n" if session else None))
    return found


def judge_argv(command: str) -> list[str] | None:
    """The arguments given to `judge` in a shell command line, or None when it does not run judge."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = list(lexer)
    segments: list[list[str]] = [[]]
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
        elif word in {"|", "||", "&&", ";", "&"}:
            segments.append([])
        elif word in {">", ">>", "<", ">&", "<&"}:
            if segments[-1] and segments[-1][-1].isdigit():
                segments[-1].pop()  # the 2 of 2>&1
            skip_next = True
        else:
            segments[-1].append(word)
    for segment in segments:
        while segment and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", segment[0]):
            segment = segment[1:]  # VAR=value judge ...
        if segment and (segment[0] == "judge" or segment[0].endswith("/judge")):
            return segment[1:]
    return None


ALL_COMMANDS = [c for b in ALL_BLOCKS for c in commands(b) if judge_argv(c.text) is not None]


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: f"{c.block.page.name}:{c.line}")
def test_command_lines_parse(command):
    from judge.cli import build_parser

    argv = judge_argv(command.text)
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser(plugin_commands=True).parse_args(argv)
        except SystemExit as exit:
            assert exit.code == 0, f"{command.block.page.name}:{command.line}: `judge {shlex.join(argv or [])}` " \
                                   f"does not parse:\n{errors.getvalue()}"


def _model_free(command: Command) -> bool:
    argv = judge_argv(command.text) or []
    return (bool(argv) and argv[0] in {"plugins", "rubrics", "tools", "tool", "index", "--help", "--version"}) or any(
        flag in f" {command.text} " for flag in MODEL_FREE)


SESSION_PAGES = [page for page in PAGES if any(
    c.block.page == page and c.shown is not None and _model_free(c) and "no-test" not in c.block.markers
    for c in ALL_COMMANDS)]


@pytest.mark.parametrize("page", SESSION_PAGES, ids=lambda p: p.name)
def test_sample_sessions_print_what_the_page_shows(page, tmp_path, judge_cli, cli_env):
    """Each session command that needs no model runs, in page order, in one scratch folder."""
    blocks = read_blocks(page)
    folder = scratch_folder(tmp_path)
    write_file_blocks(blocks, folder)
    env = dict(cli_env, PATH=f"{Path(judge_cli[0]).parent}{os.pathsep}{cli_env.get('PATH', '')}", COLUMNS="200")
    status = 0
    for block in blocks:
        if "no-test" in block.markers:
            continue
        for command in commands(block):
            if command.shown is None:
                continue
            runs_judge = judge_argv(command.text) is not None
            if runs_judge and not _model_free(command):
                continue  # needs a model: parsed only (test_command_lines_parse)
            if not runs_judge and not command.text.startswith("echo "):
                continue  # other shell commands (pip, cat > file) are for the reader
            result = subprocess.run(["bash", "-c", f"(exit {status}); {command.text}"], cwd=folder, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
            status = result.returncode
            where = f"{page.name}:{command.line}: `{command.text}`"
            assert "Traceback" not in result.stdout, f"{where} printed a traceback:\n{result.stdout}"
            if command.shown.strip():
                if not matches(command.shown, result.stdout):
                    pytest.fail(f"{where}\nthe page shows:\n{command.shown}\nbut it printed:\n{result.stdout}", pytrace=False)
            else:
                assert status in (0, 1), f"{where} exited {status}:\n{result.stdout}"


# -- the harness itself ----------------------------------------------------------------------------


def test_the_harness_catches_an_example_whose_output_drifted(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- no-test: shown only -->\n```python\nprint(1)\n```\n\n"
        "```python\nprint('sent', 5)\n```\n\n```\nsent 4\n```\n\n"
        "<!-- file: rows.jsonl -->\n```\n{}\n```\n",
        encoding="utf-8",
    )
    skipped, shown, output, rows = read_blocks(page)
    assert shown.output is output
    assert skipped.markers == {"no-test": "shown only"} and shown.output is not None and rows.markers == {"file": "rows.jsonl"}
    assert not matches(shown.output.text, "sent 5\n")
    assert matches(shown.output.text, "sent 4\n")


def test_expected_output_wildcards():
    assert matches("a\n...\nz\n", "a\nb\nc\nz\n") and matches("a\n...\nz\n", "a\nz\n")
    assert matches("judge: 4 judged...\n", "judge: 4 judged (4 ok); 20 model calls\n")
    assert not matches("a\nz\n", "a\nb\nz\n")
    assert matches("x 0.25\ny 1\n", "y 2\nx 0.5\n", any_order=True, numbers_vary=True)


@pytest.mark.parametrize("line, argv", [
    ("judge score -r helpfulness data.jsonl  # a comment", ["score", "-r", "helpfulness", "data.jsonl"]),
    ("cat a.jsonl | judge score -r f - > out.jsonl 2>&1", ["score", "-r", "f", "-"]),
    ("JUDGE_PLUGINS=standard,fake judge plugins", ["plugins"]),
    ("bash scripts/setup.sh && .venv/bin/judge score -r h x.jsonl", ["score", "-r", "h", "x.jsonl"]),
    ('judge score -O "text=Score: 4" x', ["score", "-O", "text=Score: 4", "x"]),
    ("python -m pytest", None),
])
def test_judge_argv_finds_the_judge_command(line, argv):
    assert judge_argv(line) == argv
