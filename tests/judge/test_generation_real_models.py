"""The three generation commands on real models, from the command line: the embedded model
(SmolLM2-135M on CPU) and the OpenAI backend against a real vLLM server on 127.0.0.1.

The 135M model is a weak rubric writer: what is checked is that every path runs the whole way,
that every attempt's raw text is kept, that the counts add up, and that whatever is written loads
with `judge score --rubric` unchanged and scores; not how good the rubrics are. Small token
budgets keep them fast.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

PAIRS = [
    {"id": "haiku", "prompt": "Write a haiku about the sea. Use fewer than 20 words.",
     "chosen": "Waves fold into foam\nsalt wind hums over the rocks\nthe tide breathes and turns",
     "rejected": "The sea is a large body of salt water that covers most of the planet, and people like to swim in it."},
    {"id": "colours", "prompt": "List the three primary colours. Respond in valid JSON.",
     "chosen": '["red", "yellow", "blue"]', "rejected": "Red, yellow and blue."},
]
FEEDBACK = [
    {"id": "f1", "prompt": "When was the Eiffel Tower built?",
     "response": "The Eiffel Tower was built between 1887 and 1889 for the World's Fair in Paris, and it is very tall.",
     "feedback": ["The dates are correct and the answer is short.", "It does not say how tall the tower is."]},
]


@pytest.fixture(params=["embedded", "vllm-server"])
def model_args(request) -> list[str]:
    if request.param == "embedded":
        return []
    server = request.getfixturevalue("vllm_server")
    return ["-b", "openai", "--base-url", server.url]


def judge(judge_cli, env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*judge_cli, *args], capture_output=True, text=True, env=env, timeout=900)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def check_report(report: Path, examples: int, result: subprocess.CompletedProcess[str]) -> list[dict]:
    """Every example has a row; every attempt's raw text is kept; the summary's counts add up."""
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(rows) == examples
    for row in rows:
        assert 1 <= row["attempts"] == len(row["texts"]) and all(isinstance(t, str) for t in row["texts"])
        assert row["kept"] == (row["rubric"] is not None)
        assert row["kept"] or row["problems"]  # a dropped example says why
    kept = sum(r["kept"] for r in rows)
    assert f"kept {kept}, dropped {examples - kept}" in result.stderr
    return rows


def test_rubric_generate_writes_a_rubric_that_judge_score_loads(judge_cli, cli_env, model_args, tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    rubric, report = tmp_path / "task.yaml", tmp_path / "report.jsonl"
    made = judge(judge_cli, cli_env, "rubric", "generate", str(pairs), "-o", str(rubric), "--no-filter", "--tries", "3",
                 "--max-tokens", "96", "--report", str(report), "-q", *model_args)
    assert made.returncode in (0, 1), made.stderr
    rows = check_report(report, len(PAIRS), made)
    if not any(r["kept"] for r in rows):
        pytest.fail(f"the model wrote no readable rubric in 3 tries for any pair: {[r['problems'] for r in rows]}")
    assert made.returncode == 0 and rubric.read_text().startswith("# Written by `judge rubric generate`")
    items = write_jsonl(tmp_path / "items.jsonl", [{"id": "1", "prompt": PAIRS[0]["prompt"], "response": PAIRS[0]["chosen"]}])
    out = tmp_path / "out.jsonl"
    scored = judge(judge_cli, cli_env, "score", str(items), "--rubric", str(rubric), "-o", str(out), "-q", *model_args)
    assert scored.returncode == 0, scored.stderr
    judgment = json.loads(out.read_text())
    assert judgment["rubric"] == "task" and judgment["status"] in ("ok", "unparsed")
    assert {v["criterion"] for v in judgment["verdicts"]} == {c["id"] for c in _criteria(rubric)}


def test_rubric_generate_per_item_with_the_consistency_filter(judge_cli, cli_env, model_args, tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    folder, report = tmp_path / "rubrics", tmp_path / "report.jsonl"
    made = judge(judge_cli, cli_env, "rubric", "generate", str(pairs), "--per-item", "-o", str(folder), "--tries", "2",
                 "--max-tokens", "96", "--report", str(report), "-q", *model_args)
    assert made.returncode in (0, 1), made.stderr
    rows = check_report(report, len(PAIRS), made)
    written = sorted(p.stem for p in folder.glob("*.yaml")) if folder.exists() else []
    assert written == sorted(r["id"] for r in rows if r["kept"])
    for row in rows:  # a rubric the filter refused says how the pair came out
        assert row["kept"] or any(p.startswith(("consistency filter", "no rubric item", "no principle")) for p in row["problems"])


def test_principles_extract_keeps_only_principles_with_verbatim_evidence(judge_cli, cli_env, model_args, tmp_path):
    feedback = write_jsonl(tmp_path / "feedback.jsonl", FEEDBACK)
    principles, report = tmp_path / "principles.yaml", tmp_path / "report.jsonl"
    made = judge(judge_cli, cli_env, "principles", "extract", str(feedback), "-o", str(principles), "--tries", "2",
                 "--max-tokens", "96", "--report", str(report), "-q", *model_args)
    assert made.returncode in (0, 1), made.stderr
    [row] = check_report(report, 1, made)
    if not row["kept"]:
        assert made.returncode == 1 and not principles.exists()  # nothing half-valid is written
        return
    joined = " ".join(" ".join(f.split()) for f in FEEDBACK[0]["feedback"]).lower()
    for criterion in _criteria(principles):
        assert criterion["scale"] == "binary" and criterion["evidence"].lower() in joined
    out = tmp_path / "out.jsonl"
    items = write_jsonl(tmp_path / "items.jsonl", [{"id": "1", "prompt": FEEDBACK[0]["prompt"], "response": FEEDBACK[0]["response"]}])
    scored = judge(judge_cli, cli_env, "score", str(items), "--mode", "principle", "--rubric", str(principles),
                   "-o", str(out), "-q", *model_args)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(out.read_text())["reward"] is not None


def test_rubric_auto_generates_once_for_every_response_to_a_prompt(judge_cli, cli_env, model_args, tmp_path):
    items = write_jsonl(tmp_path / "items.jsonl", [
        {"id": str(i), "prompt": "Name one planet of the solar system.", "response": r}
        for i, r in enumerate(["Mars.", "Jupiter is the largest planet.", "The Moon."])])
    out = tmp_path / "out.jsonl"
    scored = judge(judge_cli, cli_env, "score", str(items), "--rubric", "auto", "--trace", "-o", str(out), "-q", *model_args)
    judgments = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(judgments) == 3 and all(j["setup"]["rubric"] == "auto:spct" for j in judgments)
    notes = [j["trace"][0] for j in judgments]
    assert all(n["step"] == "rubric" and n["generator"] == "spct" for n in notes)
    assert sorted(n["reused"] for n in notes) == [False, True, True]  # one generation, shared
    generated = [step for j in judgments for step in j["raw"] if step["step"] == "rubric"]
    assert len(generated) == 1  # the raw text is charged to the one item that caused the generation
    if all(j["status"] == "error" for j in judgments):
        assert scored.returncode == 1 and "wrote no usable rubric" in judgments[0]["error"]
    else:
        assert scored.returncode == 0, scored.stderr
        criteria = {c["id"] for c in notes[0]["rubric"]["criteria"]}
        assert all({v["criterion"] for v in j["verdicts"]} == criteria for j in judgments)


def _criteria(path: Path) -> list[dict]:
    import yaml

    return yaml.safe_load(path.read_text())["criteria"]
