"""The rubric generator seam, proved from outside: a third-party generator package, pip-installed
into a folder of its own and found through its `judge` entry point, is listed by `judge plugins`,
writes rubrics for `judge rubric generate`, and serves `--rubric auto:checklist` at scoring time,
with its own prompt template and no change to the core."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from test_plugins import pip_install, run_with as run

FIXTURE = ROOT / "tests" / "fixtures" / "judge-example-generator"


@pytest.fixture(scope="session")
def generator_site(tmp_path_factory):
    return pip_install(FIXTURE, tmp_path_factory.mktemp("generator-site"))


def test_judge_plugins_lists_the_third_party_generator(generator_site, judge_cli):
    plugins = {p["name"]: p for p in json.loads(run(judge_cli, generator_site, "plugins", "--json").stdout)}
    assert plugins["checklist"]["registered"] == {"rubric_generators": ["checklist"]}


def test_rubric_auto_with_the_third_party_generator_writes_once_per_prompt(generator_site, judge_cli, tmp_path):
    rows = tmp_path / "items.jsonl"
    rows.write_text("".join(json.dumps({"id": str(i), "prompt": "Greet me.", "response": r}) + "\n"
                            for i, r in enumerate(["Hello!", "Hi there.", "Go away."])))
    out = tmp_path / "out.jsonl"
    script = json.dumps(["- Says hello.\n- Is polite.", "Yes"])
    result = run(judge_cli, generator_site, "score", str(rows), "--rubric", "auto:checklist", "-b", "fake",
                 "-O", f"script={script}", "-O", "exact_candidates=false", "--trace", "--no-cache", "-o", str(out))
    assert result.returncode == 0, result.stderr
    judgments = [json.loads(line) for line in out.read_text().splitlines()]
    assert [j["status"] for j in judgments] == ["ok"] * 3
    notes = [j["trace"][0] for j in judgments]
    assert sorted(n["reused"] for n in notes) == [False, True, True]
    assert notes[0]["rubric"]["criteria"][0] == {"id": "r1", "text": "Says hello.", "kind": "principle", "weight": 1.0,
                                                 "scale": "binary", "high": "Yes", "low": "No"}
    rendered = next(n for n in notes if not n["reused"])["texts"]
    assert rendered == ["- Says hello.\n- Is polite."]
    assert "7 model calls" in result.stderr  # 1 generation + 3 responses x 2 criteria
    assert judgments[0]["setup"]["rubric"] == "auto:checklist"


def test_judge_rubric_generate_with_the_third_party_generator_writes_a_rubric_score_loads(generator_site, judge_cli, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"id": "p1", "prompt": "Greet me.", "chosen": "Hello!", "rejected": "No."}) + "\n")
    rubric = tmp_path / "greeting.yaml"
    script = json.dumps(["- Says hello."])
    made = run(judge_cli, generator_site, "rubric", "generate", str(pairs), "--generator", "checklist", "--no-filter",
               "-b", "fake", "-O", f"script={script}", "--no-cache", "-q", "-o", str(rubric))
    assert made.returncode == 0, made.stderr
    assert "kept 1, dropped 0" in made.stderr
    text = rubric.read_text()
    assert text.startswith("# Written by `judge rubric generate` (generator 'checklist' v1)")
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"id": "1", "prompt": "Greet me.", "response": "Hello!"}) + "\n")
    scored = run(judge_cli, generator_site, "score", str(items), "--rubric", str(rubric), "-b", "fake", "-O", "text=Yes",
                 "-O", "exact_candidates=false", "--no-cache")
    assert scored.returncode == 0, scored.stderr
    judgment = json.loads(scored.stdout)
    assert judgment["rubric"] == "greeting" and judgment["verdicts"][0]["criterion"] == "p1"
