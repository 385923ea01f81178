"""`judge eval` end to end, as a user runs it: the real command in a subprocess, real files.

The fake backend (named as such) answers "A" to every pair, so the figures are known by hand
from the coin flips in items.jsonl; the embedded model runs the LLMBar files for real.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import PAIRS, ROOT

LLMBAR_FULL = ROOT.parent / "shared" / "data" / "llmbar"
LLMBAR_SAMPLE = ROOT / "tests" / "fixtures" / "data" / "llmbar-sample"
ALWAYS_A = ["-b", "fake", "-O", "exact_candidates=false", "-O", "text=A"]


def run(judge_cli, *argv: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*judge_cli, *argv], capture_output=True, text=True, env=env, timeout=600)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def labels(folder: Path) -> dict[str, int]:
    return {item["id"]: item["metadata"]["eval"]["label"] for item in lines(folder / "items.jsonl")}


def test_eval_writes_items_judgments_and_both_reports(judge_cli, cli_env, tmp_path):
    out = tmp_path / "report"
    result = run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "-o", str(out), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} >= {"items.jsonl", "judgments.jsonl", "report.json", "report.html", "runs.jsonl"}
    placed = labels(out)
    assert len(placed) == 16
    # "A" always picks the response shown first: correct exactly where the coin put the chosen one first.
    first = sum(1 for label in placed.values() if label == 0)
    assert 0 < first < 16, "the coin flip must place the chosen response second for some rows"
    report = json.loads((out / "report.json").read_text())
    tally = report["overall"]["tally"]
    assert (tally["n"], tally["correct"], tally["wrong"]) == (16, first, 16 - first)
    assert report["seed"] == 0 and report["setup"]["mode"] == "pairwise" and report["setup"]["rubric"] == "helpfulness"
    assert report["overall"]["position"]["first_position_win_rate"] == 1.0
    assert "accuracy" in result.stderr and "subset" in result.stderr  # the rich table


def test_the_seed_moves_the_chosen_response_and_the_report_states_it(judge_cli, cli_env, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "-q", "-o", str(a), env=cli_env).returncode == 0
    assert run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "-q", "--seed", "7", "-o", str(b), env=cli_env).returncode == 0
    assert labels(a) != labels(b)
    assert json.loads((b / "report.json").read_text())["seed"] == 7


def test_an_interrupted_eval_resumes_without_judging_again(judge_cli, cli_env, tmp_path):
    out = tmp_path / "report"
    assert run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "-q", "-o", str(out), env=cli_env).returncode == 0
    judgments = out / "judgments.jsonl"
    kept = judgments.read_text().splitlines(keepends=True)[:6]
    judgments.write_text("".join(kept) + kept[6 - 1][:20])  # six whole lines and a torn seventh, as a crash leaves
    refused = run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "-q", "-o", str(out), env=cli_env)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "-q", "--resume", "-o", str(out), env=cli_env)
    assert resumed.returncode == 0, resumed.stderr
    runs = lines(out / "runs.jsonl")
    assert runs[-1]["written"] == 10 and runs[-1]["model_calls"] == 10  # only the 10 missing pairs
    assert len(lines(judgments)) == 16
    other_seed = run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "-q", "--resume", "--seed", "3", "-o", str(out), env=cli_env)
    assert other_seed.returncode == 2 and "--seed" in other_seed.stderr


def test_from_recomputes_the_same_figures_without_a_model(judge_cli, cli_env, tmp_path):
    out = tmp_path / "report"
    assert run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "-q", "--both-orders", "-o", str(out), env=cli_env).returncode == 0
    again = tmp_path / "again"
    result = run(judge_cli, "eval", "--from", str(out / "judgments.jsonl"), "-o", str(again), env=cli_env)
    assert result.returncode == 0, result.stderr
    first, second = (json.loads((d / "report.json").read_text()) for d in (out, again))
    for key in ("overall", "subsets", "outcomes", "mistakes"):
        assert first[key] == second[key]
    assert second["seed"] == first["seed"] == 0  # the items record the seed that placed them
    # "A" in both orders: never consistent, and the shown-first response wins every order
    assert first["overall"]["position"]["consistency"] == 0.0
    assert first["overall"]["tally"]["ties"] == 16


def test_compare_prints_a_paired_test_per_subset(judge_cli, cli_env, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "-q", "-o", str(a), env=cli_env).returncode == 0
    always_b = ["-b", "fake", "-O", "exact_candidates=false", "-O", "text=B"]
    assert run(judge_cli, "eval", str(PAIRS), *always_b, "-q", "-o", str(b), env=cli_env).returncode == 0
    result = run(judge_cli, "eval", "--compare", str(a), str(b), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "p=" in result.stdout and "overall" in result.stdout


@pytest.mark.parametrize("content, message", [
    ("", "no rows"),
    ('{"prompt": "p", "chosen": "a"}\n', ":1:"),
    ('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"question": "q", "response_A": "a", "response_B": "b", "label": "A>B"}\n', ":2:"),
])
def test_bad_data_is_refused_naming_the_line_and_nothing_is_written(judge_cli, cli_env, tmp_path, content, message):
    data = tmp_path / "data.jsonl"
    data.write_text(content)
    out = tmp_path / "report"
    result = run(judge_cli, "eval", str(data), *ALWAYS_A, "-o", str(out), env=cli_env)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not out.exists()


def test_the_master_key_suite_prints_its_table_for_any_rubric(judge_cli, cli_env, tmp_path):
    out = tmp_path / "keys"
    always_nine = ["-b", "fake", "-O", "exact_candidates=false", "-O", "text=Yes 5"]
    result = run(judge_cli, "eval", str(PAIRS), "-r", "factuality", "--mode", "pointwise", *always_nine,
                 "--suite", "master-keys", "--suites-only", "--master-key-prompts", "3", "-o", str(out), env=cli_env)
    assert result.returncode == 0, result.stderr
    keys = json.loads((out / "report.json").read_text())["master_keys"]
    assert keys["overall"]["n"] == 3 * len(keys["rows"]) and keys["overall"]["rate"] == 1.0
    assert "master keys" in result.stderr and "Thought process:" in result.stderr


@pytest.mark.slow
def test_every_llmbar_file_on_the_embedded_model(judge_cli, cli_env, tmp_path):
    """The acceptance run, small: the first 2 rows of every LLMBar file (bundled, so a clone with
    nothing beside it runs it too), both orders, on the real embedded model."""
    files = sorted(LLMBAR_SAMPLE.glob("*.jsonl"))
    assert len(files) == 5
    if LLMBAR_FULL.is_dir():  # the bundled rows are the real files' first rows, unchanged
        for sample in files:
            full = (LLMBAR_FULL / sample.name).read_text(encoding="utf-8").splitlines()[:2]
            assert sample.read_text(encoding="utf-8").splitlines() == full
    out = tmp_path / "llmbar"
    result = run(judge_cli, "eval", *map(str, files), "--both-orders", "-o", str(out), env=cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["overall"]["tally"]["n"] == 10
    assert [m["name"] for m in report["subsets"]] == sorted(p.stem for p in files)
    assert report["model"] and "SmolLM2" in report["model"]
    assert report["overall"]["position"]["judged_both_orders"] == 10
    assert report["overall"]["calibration"]["n"] == 10  # the embedded model gives exact probabilities
    assert report["usage"]["items_per_s"] > 0
    assert (out / "report.html").stat().st_size > 2000
    assert len(lines(out / "judgments.jsonl")) == 10


def test_the_rewardbench_protocol_scores_a_parse_failure_as_half(judge_cli, cli_env, tmp_path):
    """RewardBench's own rule beside the engine's: a reply with no [[A]]/[[B]] is 0.5 there, wrong here."""
    data = LLMBAR_SAMPLE / "natural.jsonl"
    says_a = ["-b", "fake", "-O", "exact_candidates=false", "-O", "text=Both are fine. [[A]]"]
    out = tmp_path / "rb"
    result = run(judge_cli, "eval", str(data), "--protocol", "rewardbench", *says_a, "-o", str(out), env=cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["setup"]["format_pack"] == "rewardbench" and report["setup"]["score_from"] == "text"
    first = sum(1 for label in labels(out).values() if label == 0)
    assert report["protocol"]["subsets"]["llmbar-natural"] == first / 2  # 2 rows: [[A]] right where the chosen sits first
    vague = ["-b", "fake", "-O", "exact_candidates=false", "-O", "text=Both are fine."]
    out2 = tmp_path / "rb2"
    assert run(judge_cli, "eval", str(data), "--protocol", "rewardbench", *vague, "-q", "-o", str(out2), env=cli_env).returncode == 0
    report2 = json.loads((out2 / "report.json").read_text())
    assert report2["protocol"]["subsets"]["llmbar-natural"] == 0.5
    assert report2["overall"]["tally"]["unparsed"] == 2 and report2["overall"]["tally"]["accuracy"] == 0.0


def test_the_length_suite_reports_flips_against_the_unpadded_verdicts(judge_cli, cli_env, tmp_path):
    out = tmp_path / "len"
    result = run(judge_cli, "eval", str(PAIRS), *ALWAYS_A, "--suite", "length", "-o", str(out), env=cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    flips = report["length_flips"]
    # "A" is blind to content: padding changes no verdict
    assert flips["pairs"] == 16 and flips["flipped"] == 0
    padded = [i for i in lines(out / "items.jsonl") if i["id"].startswith("len:")]
    original = {i["id"]: i for i in lines(out / "items.jsonl") if not i["id"].startswith("len:")}
    for item in padded:
        before = original[item["id"][4:]]
        rejected = 1 - item["metadata"]["eval"]["label"]
        assert len(item["responses"][rejected]) > len(before["responses"][rejected])
        assert item["responses"][1 - rejected] == before["responses"][1 - rejected]
    assert report["overall"]["tally"]["n"] == 16  # the suite's items do not count in accuracy
