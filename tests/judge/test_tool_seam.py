"""The tool seam, proved from outside: a third-party tool package, pip-installed into a folder of
its own and found through its `judge` entry point, is listed, runs by `judge tool run`, and is
called by the `tools` strategy from the CLI with no change to the core."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT
from test_plugins import pip_install, run_with as run

FIXTURE = ROOT / "tests" / "fixtures" / "judge-example-tool"


@pytest.fixture(scope="session")
def tool_site(tmp_path_factory):
    return pip_install(FIXTURE, tmp_path_factory.mktemp("tool-site"))


def test_judge_plugins_and_judge_tools_list_the_third_party_tool(tool_site, judge_cli):
    plugins = {p["name"]: p for p in json.loads(run(judge_cli, tool_site, "plugins", "--json").stdout)}
    assert plugins["wordcount"]["registered"] == {"tools": ["word_count"]}
    assert plugins["tools"]["registered"]["tools"] == ["calculator", "search", "code"]
    tools = {t["name"]: t for t in json.loads(run(judge_cli, tool_site, "tools", "--json").stdout)}
    assert tools["word_count"]["plugin"] == "wordcount" and tools["word_count"]["ready"]
    assert tools["word_count"]["arguments"]["required"] == ["text"]
    listed = run(judge_cli, tool_site, "tools").stdout
    assert "word_count  (plugin wordcount; ready)" in listed and "argument text: string" in listed


def test_judge_tool_run_prints_the_result_or_a_one_line_reason(tool_site, judge_cli):
    ok = run(judge_cli, tool_site, "tool", "run", "word_count", '{"text": "One two three. Four."}')
    assert ok.returncode == 0 and ok.stdout == "words: 4, sentences: 2, characters: 20\n"
    refused = run(judge_cli, tool_site, "tool", "run", "word_count", '{"text": "  "}')
    assert refused.returncode == 1 and refused.stderr == "judge tool: word_count: refused: the text is empty\n"
    bad = run(judge_cli, tool_site, "tool", "run", "word_count", '{"txt": 1}')
    assert bad.returncode == 1 and "bad_arguments: argument 'text': Field required" in bad.stderr
    unknown = run(judge_cli, tool_site, "tool", "run", "wordcounter", "{}")
    assert unknown.returncode == 2 and "no tool named 'wordcounter'" in unknown.stderr


def test_the_tools_strategy_calls_the_third_party_tool_from_the_cli(tool_site, judge_cli, tmp_path):
    rows = tmp_path / "pairs.jsonl"
    rows.write_text(json.dumps({"id": "a", "prompt": "Answer in at most 3 words.", "responses": ["Paris.", "It is Paris, France."]}) + "\n")
    out = tmp_path / "out.jsonl"
    script = json.dumps([
        'Thought: count the words of B\nAction: word_count\nAction Input: {"text": "It is Paris, France."}',
        "Rationale: B has 4 words, over the limit.\nVerdict: A",
    ])
    result = run(judge_cli, tool_site, "score", str(rows), "-r", "helpfulness", "-m", "pairwise", "-s", "tools",
                 "--tools", "word_count", "-b", "fake", "-O", f"script={script}", "-O", "exact_candidates=false",
                 "--trace", "-o", str(out), "--no-cache")
    assert result.returncode == 0, result.stderr
    judgment = json.loads(out.read_text())
    assert judgment["preferred"] == 0 and judgment["setup"]["strategy_options"]["tools"] == ["word_count"]
    [call] = [step for step in judgment["trace"] if step.get("tool")]
    assert call["tool"] == "word_count" and call["output"] == "words: 4, sentences: 1, characters: 20"


def test_the_first_party_calculator_runs_from_the_command_line(judge_cli, cli_env):
    result = subprocess.run([*judge_cli, "tool", "run", "calculator", '{"expression": "1/3 + 1/6"}'],
                            capture_output=True, text=True, env=cli_env, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "1/2\n", "")
    refused = subprocess.run([*judge_cli, "tool", "run", "calculator", '{"expression": "9**9**9**9"}'],
                             capture_output=True, text=True, env=cli_env, timeout=60)
    assert refused.returncode == 1 and refused.stderr.startswith("judge tool: calculator: refused: ")
