"""The README's main job on the real embedded model: real processes, real files."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from judge import Item, Judge, Rubric, Status, load_rubric

from conftest import EXAMPLES, pair_rows

pytestmark = pytest.mark.slow


def read_output(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_readme_command_scores_every_row_with_criteria_and_raw_text(judge_cli, tmp_path):
    out = tmp_path / "out.jsonl"
    result = subprocess.run([*judge_cli, "score", "--rubric", "helpfulness", str(EXAMPLES / "pointwise.jsonl"), "-o", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    inputs = [json.loads(line)["id"] for line in (EXAMPLES / "pointwise.jsonl").read_text().splitlines() if line.strip()]
    judgments = read_output(out)
    assert sorted(j["id"] for j in judgments) == sorted(inputs)
    criteria = {c.id for c in load_rubric("helpfulness").criteria}
    for judgment in judgments:
        assert judgment["status"] == "ok"
        assert {v["criterion"] for v in judgment["verdicts"]} == criteria
        assert all(v["score"] is not None for v in judgment["verdicts"])
        assert 0.0 <= judgment["scores"][0] <= 1.0
        assert len(judgment["raw"]) == len(criteria) and all(r["texts"] for r in judgment["raw"])
        assert judgment["model"] == "SmolLM2-135M-Instruct"
        assert judgment["usage"]["prompt_tokens"] > 0 and judgment["latency_s"] > 0


def test_principle_mode_reward_is_a_probability(embedded):
    rubric = Rubric.from_principles(["The response is factually correct.", "The response answers in one sentence."])
    items = [
        Item(id="a", prompt="What is the capital of France?", responses=["The capital of France is Paris."]),
        Item(id="b", prompt="What is the capital of France?", responses=["Bananas are yellow because of the sun."]),
    ]
    judgments = Judge(rubric, mode="principle", backend=embedded).score(items)
    for judgment in judgments:
        assert judgment.status is Status.ok
        assert 0.0 < judgment.reward < 1.0
        for verdict in judgment.verdicts:
            assert set(verdict.probabilities) == {"Yes", "No"}
            assert verdict.probabilities["Yes"] + verdict.probabilities["No"] == pytest.approx(1.0)
            assert verdict.score == pytest.approx(verdict.probabilities["Yes"])
    assert judgments[0].reward != judgments[1].reward  # the model did read the responses


def check_pairwise_both_orders(embedded, rows: list[dict]) -> None:
    items = [Item(id=r["id"], prompt=r["prompt"], responses=[r["chosen"], r["rejected"]]) for r in rows]
    judgments = Judge(load_rubric("helpfulness"), mode="pairwise", backend=embedded, both_orders=True).score(items)
    for judgment in judgments:
        assert judgment.status is Status.ok
        assert judgment.scores[0] + judgment.scores[1] == pytest.approx(1.0)
        assert isinstance(judgment.metadata["position_consistent"], bool)
        assert [r.step for r in judgment.raw] == ["pairwise", "pairwise-swapped"]


def test_pairwise_with_both_orders(embedded):
    check_pairwise_both_orders(embedded, pair_rows(3))


def test_pairwise_with_both_orders_on_llmbar(embedded, llmbar_rows):
    check_pairwise_both_orders(embedded, llmbar_rows(3))


def test_text_parsing_on_the_real_model_gives_ok_or_unparsed_with_raw_text(embedded):
    items = [Item(id="t", prompt="What is 2+2?", responses=["4"])]
    [judgment] = Judge(load_rubric("helpfulness"), backend=embedded, score_from="text").score(items)
    assert judgment.status in (Status.ok, Status.unparsed)
    for verdict, raw in zip(judgment.verdicts, judgment.raw):
        assert raw.texts[0] is not None
        if verdict.status is Status.unparsed:
            assert verdict.score is None and verdict.reason


def test_killing_a_real_run_and_resuming_yields_every_id_once(judge_cli, tmp_path):
    rows = pair_rows(16)
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": r["id"], "prompt": r["prompt"], "response": r["chosen"]}) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    args = ["score", "-p", "The response follows the instruction.", "-O", "batch_size=1", str(data), "-o", str(out)]
    process = subprocess.Popen([*judge_cli, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and len(out.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = read_output(out)
    assert 3 <= len(first) < 16, f"expected a half-done run, got {len(first)} lines"
    result = subprocess.run([*judge_cli, *args, "--resume"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    ids = [j["id"] for j in read_output(out)]
    assert sorted(ids) == sorted(r["id"] for r in rows)
    assert len(ids) == len(set(ids))
    kept = {j["id"]: j for j in first}
    for judgment in read_output(out):  # what the first run wrote is kept as it was
        if judgment["id"] in kept:
            assert judgment == kept[judgment["id"]]
