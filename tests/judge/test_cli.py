"""The `judge` command line, driven as a user would: real processes, real files, the fake backend."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from judge.cli import build_parser, main

from conftest import EXAMPLES


def run(judge_cli, *args: str, env=None, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*judge_cli, *args], capture_output=True, text=True, env=env, input=stdin, cwd=cwd, timeout=120)


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_output(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_flag_is_explained_and_help_has_examples(capsys):
    parser = build_parser(plugin_commands=True)  # the plugins' commands too (judge index)
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"judge {name}: {action.option_strings or action.dest} has no help"
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "judge score --rubric helpfulness examples/pointwise.jsonl" in text


def test_missing_rubric_field_exits_nonzero_naming_file_line_and_field(judge_cli, tmp_path):
    rubric = tmp_path / "broken.yaml"
    rubric.write_text("name: broken\ncriteria:\n  - id: a\n    text: Is it good?\n    high: good\n  - id: b\n    high: good\n    low: bad\n")
    result = run(judge_cli, "score", "--rubric", str(rubric), "-b", "fake", str(EXAMPLES / "pointwise.jsonl"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"{rubric}:" in lines[0]
    assert ":3:" in lines[0] and "criteria.0.low" in lines[0] and "is required" in lines[0]


def test_yaml_booleans_in_text_fields_get_a_hint(judge_cli, tmp_path):
    rubric = tmp_path / "bools.yaml"
    rubric.write_text("name: b\ncriteria:\n  - id: a\n    text: Is it good?\n    high: Yes\n    low: No\n")
    result = run(judge_cli, "score", "--rubric", str(rubric), "-b", "fake", str(EXAMPLES / "pointwise.jsonl"))
    assert result.returncode == 2
    assert ":5:" in result.stderr and "criteria.0.high" in result.stderr and "quotes" in result.stderr


def test_yaml_syntax_error_names_the_line(judge_cli, tmp_path):
    rubric = tmp_path / "syntax.yaml"
    rubric.write_text("name: s\ncriteria:\n  - id: a\n    text: [unclosed\n    high: h\n")
    result = run(judge_cli, "score", "--rubric", str(rubric), "-b", "fake", str(EXAMPLES / "pointwise.jsonl"))
    assert result.returncode == 2
    assert f"{rubric}:" in result.stderr and "YAML syntax error" in result.stderr


def test_row_without_prompt_is_reported_and_the_other_rows_run(judge_cli, tmp_path):
    data = write_rows(tmp_path / "in.jsonl", [
        {"id": "a", "prompt": "q1", "response": "r1"},
        {"id": "b", "response": "r2"},
        {"id": "c", "prompt": "q3", "response": "r3"},
    ])
    out = tmp_path / "out.jsonl"
    result = run(judge_cli, "score", "-r", "helpfulness", "-b", "fake", str(data), "-o", str(out))
    assert result.returncode == 1
    assert f"{data}:2: field 'prompt' is required" in result.stderr
    judged = {j["id"]: j for j in read_output(out)}
    assert set(judged) == {"a", "b", "c"}
    assert judged["a"]["status"] == "ok" and judged["c"]["status"] == "ok"
    assert judged["b"]["status"] == "error" and "line" not in judged["b"]["id"] and ":2:" in judged["b"]["error"]


def test_existing_output_needs_resume_or_overwrite(judge_cli, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "x", "status": "ok"}\n')
    result = run(judge_cli, "score", "-r", "helpfulness", "-b", "fake", str(EXAMPLES / "pointwise.jsonl"), "-o", str(out))
    assert result.returncode == 2 and "--resume" in result.stderr
    result = run(judge_cli, "score", "-r", "helpfulness", "-b", "fake", str(EXAMPLES / "pointwise.jsonl"), "-o", str(out), "--overwrite")
    assert result.returncode == 0 and len(read_output(out)) == 4


def test_stdin_to_stdout_with_ad_hoc_principles(judge_cli):
    rows = '{"id": "s1", "prompt": "2+2?", "response": "4"}\n{"id": "s2", "prompt": "3+3?", "response": "7"}\n'
    result = run(judge_cli, "score", "-p", "The answer is correct.", "-p", "The answer is short.", "-b", "fake", "-q", "-", stdin=rows)
    assert result.returncode == 0, result.stderr
    judgments = [json.loads(line) for line in result.stdout.splitlines()]
    assert [j["id"] for j in judgments] == ["s1", "s2"] or sorted(j["id"] for j in judgments) == ["s1", "s2"]
    assert all(j["mode"] == "principle" and 0.0 <= j["reward"] <= 1.0 for j in judgments)
    assert all(len(j["verdicts"]) == 2 for j in judgments)


def test_unknown_backend_and_rubric_are_one_line_errors(judge_cli):
    result = run(judge_cli, "score", "-r", "helpfulness", "-b", "nosuch", str(EXAMPLES / "pointwise.jsonl"))
    assert result.returncode == 2 and "no backend named 'nosuch'" in result.stderr
    result = run(judge_cli, "score", "-r", "nosuchrubric", "-b", "fake", str(EXAMPLES / "pointwise.jsonl"))
    assert result.returncode == 2 and "shipped rubric" in result.stderr and "helpfulness" in result.stderr


def test_killed_run_resumes_with_every_id_exactly_once(judge_cli, tmp_path):
    ids = [f"k{n}" for n in range(30)]
    data = write_rows(tmp_path / "in.jsonl", [{"id": i, "prompt": f"q {i}", "response": f"r {i}"} for i in ids])
    out = tmp_path / "out.jsonl"
    args = ["score", "-p", "The response is correct.", "-b", "fake", "-O", "delay=0.2", "-O", "batch_size=1", str(data), "-o", str(out)]
    process = subprocess.Popen([*judge_cli, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and len(out.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(read_output(out))
    assert 5 <= written < 30, "the run should have been killed half way"
    result = run(judge_cli, *args, "--resume")
    assert result.returncode == 0, result.stderr
    judged = [j["id"] for j in read_output(out)]
    assert sorted(judged) == sorted(ids)
    assert len(judged) == len(set(judged))
