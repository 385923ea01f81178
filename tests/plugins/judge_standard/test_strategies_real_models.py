"""Every strategy end to end on real models: the embedded model (Python API and CLI) and vLLM's
offline engine on CPU. Tiny budgets keep them fast; what is checked is that each runs the whole
way and records what it did, not how good the 135M model is."""

from __future__ import annotations

import json
import subprocess

import pytest

from judge import Item, Judge, Status, load_rubric
from judge.rubric import Rubric
from judge.strategy import StrategyOptions

PAIR = Item(id="pair", prompt="What is the capital of France?", responses=["Paris.", "Lyon, I think."])
SHORT = dict(reason_tokens=12, retries=0)
CASES = [
    ("direct", "pairwise", StrategyOptions(retries=0)),
    ("reason", "pairwise", StrategyOptions(**SHORT)),
    ("reason", "principle", StrategyOptions(**SHORT)),
    ("rethink", "pairwise", StrategyOptions(**SHORT)),
    ("vote", "pairwise", StrategyOptions(samples=3, seed=1, retries=0)),
]


def check(judgment, strategy: str, mode: str) -> None:
    assert judgment.status in (Status.ok, Status.unparsed), judgment.error  # never an error
    assert judgment.setup["strategy"] == strategy and judgment.usage.requests >= 1
    if strategy == "reason":
        assert judgment.verdicts[0].reason is not None  # the analysis is kept
        assert judgment.status is Status.ok  # read from exact probabilities: always readable
        if mode == "principle":
            assert 0.0 <= judgment.reward <= 1.0
        else:
            assert sum(judgment.scores) == pytest.approx(1.0)
    if strategy == "rethink":
        assert [r.step for r in judgment.raw][:2] == ["pairwise:turn1", "pairwise:turn2"]
    if strategy == "vote":
        assert len(judgment.verdicts[0].detail["samples"]) == 3


@pytest.mark.parametrize(("strategy", "mode", "options"), CASES, ids=[f"{s}-{m}" for s, m, _ in CASES])
def test_each_strategy_on_the_embedded_model(embedded, strategy, mode, options):
    rubric = Rubric.from_principles(["The response is correct."]) if mode == "principle" else load_rubric("helpfulness")
    [judgment] = Judge(rubric, mode=mode, backend=embedded, strategy=strategy, strategy_options=options).score([PAIR])
    check(judgment, strategy, mode)


def test_vote_with_a_meta_rm_on_the_embedded_model(embedded):
    meta = Judge(load_rubric("meta-critique"), mode="principle", backend=embedded)
    [judgment] = Judge(load_rubric("helpfulness"), mode="pairwise", backend=embedded, strategy="vote",
                       strategy_options=StrategyOptions(samples=3, meta_top=2, seed=1, retries=0), meta=meta).score([PAIR])
    detail = judgment.verdicts[0].detail
    assert all(s["meta"] is not None and 0 <= s["meta"] <= 1 for s in detail["samples"])
    assert sum(s["voted"] for s in detail["samples"]) <= 2


@pytest.mark.parametrize(("strategy", "mode", "options"), CASES, ids=[f"{s}-{m}" for s, m, _ in CASES])
def test_each_strategy_on_vllm_offline(vllm_offline, strategy, mode, options):
    rubric = Rubric.from_principles(["The response is correct."]) if mode == "principle" else load_rubric("helpfulness")
    [judgment] = Judge(rubric, mode=mode, backend=vllm_offline, strategy=strategy, strategy_options=options).score([PAIR])
    check(judgment, strategy, mode)


def test_each_strategy_from_the_cli_on_the_embedded_model(judge_cli, cli_env, tmp_path):
    rows = tmp_path / "pairs.jsonl"
    rows.write_text(json.dumps({"id": "pair", "prompt": PAIR.prompt, "responses": PAIR.responses}) + "\n")
    runs = {
        "reason": ["-s", "reason", "--reason-tokens", "12"],
        "rethink": ["-s", "rethink", "--reason-tokens", "12", "--retries", "0", "--trace"],
        "vote": ["-s", "vote", "-k", "2", "--meta-rm", "--retries", "0"],
    }
    for name, options in runs.items():
        out = tmp_path / f"{name}.jsonl"
        result = subprocess.run([*judge_cli, "score", str(rows), "-r", "helpfulness", "-m", "pairwise", *options,
                                 "-o", str(out), "-q", "--no-cache"], capture_output=True, text=True, env=cli_env, timeout=600)
        assert result.returncode == 0, result.stderr
        judgment = json.loads(out.read_text())
        assert judgment["status"] in ("ok", "unparsed") and judgment["setup"]["strategy"] == name
    traced = json.loads((tmp_path / "rethink.jsonl").read_text())
    assert [e["step"] for e in traced["trace"]][:2] == ["pairwise:turn1", "pairwise:turn2"]
    voted = json.loads((tmp_path / "vote.jsonl").read_text())
    assert voted["setup"]["meta"]["rubric"] == "meta-critique" and voted["setup"]["strategy_options"]["samples"] == 2


def test_reason_and_vote_from_the_cli_on_vllm(converted_model, judge_cli, cli_env, tmp_path):
    """One vLLM engine per command: reason (continuation), then vote with a meta RM (n samples)."""
    rows = tmp_path / "pairs.jsonl"
    rows.write_text(json.dumps({"id": "pair", "prompt": PAIR.prompt, "responses": PAIR.responses}) + "\n")
    for name, options in {"reason": ["-s", "reason", "--reason-tokens", "12"],
                          "vote": ["-s", "vote", "-k", "3", "--meta-rm", "--retries", "0"]}.items():
        out = tmp_path / f"{name}.jsonl"
        result = subprocess.run([*judge_cli, "score", str(rows), "-r", "helpfulness", "-m", "pairwise", *options,
                                 "-b", "vllm", "--model", str(converted_model), "-o", str(out), "-q", "--no-cache"],
                                capture_output=True, text=True, env=cli_env, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        judgment = json.loads(out.read_text())
        assert judgment["setup"]["strategy"] == name and judgment["model"] == converted_model.name
        assert judgment["status"] in ("ok", "unparsed")
    assert json.loads((tmp_path / "reason.jsonl").read_text())["status"] == "ok"  # probabilities: always readable
