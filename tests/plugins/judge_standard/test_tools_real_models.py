"""The `tools` strategy end to end on real models with the real calculator: the embedded model
(Python API and CLI, on arithmetic pairs the test writes) and vLLM's offline engine on CPU. Small
budgets keep them fast; what is checked is that the loop runs the whole way and records every
turn and call, not how good the 135M model is (the scripted-fake tests pin the loop itself)."""

from __future__ import annotations

import json
import subprocess

from support.arithmetic_pairs import write

from judge import Item, Judge, Status, load_rubric
from judge.strategy import StrategyOptions

PAIR = Item(id="sum", prompt="What is 37 × 48?", responses=["37 × 48 = 1776.", "37 × 48 = 1766."])
SHORT = StrategyOptions(tools=("calculator",), tool_calls=2, reason_tokens=48, retries=0, trace=True)


def check(judgment) -> None:
    assert judgment.status in (Status.ok, Status.unparsed), judgment.error  # a tool never makes an error
    assert judgment.setup["strategy"] == "tools" and judgment.setup["strategy_options"]["tools"] == ["calculator"]
    steps = [r.step for r in judgment.raw]
    assert steps and set(steps) <= {"pairwise:tools", "pairwise:verdict"}
    calls = (judgment.verdicts[0].detail or {}).get("tool_calls", [])
    assert len(calls) <= 2 and all(c["tool"] for c in calls)
    traced = [t for t in judgment.trace if "tool" in t]
    assert len(traced) == len(calls)  # every call is in the trace with its arguments and output
    assert all({"arguments", "output", "status", "seconds"} <= set(t) for t in traced)


def test_tools_on_the_embedded_model(embedded):
    [judgment] = Judge(load_rubric("helpfulness"), mode="pairwise", backend=embedded, strategy="tools",
                       strategy_options=SHORT).score([PAIR])
    check(judgment)


def test_tools_on_vllm_offline(vllm_offline):
    [judgment] = Judge(load_rubric("helpfulness"), mode="pairwise", backend=vllm_offline, strategy="tools",
                       strategy_options=SHORT).score([PAIR])
    check(judgment)


def test_tools_from_the_cli_on_the_embedded_model_over_arithmetic_pairs(judge_cli, cli_env, tmp_path):
    pairs = write(tmp_path / "arithmetic.jsonl", n=2)
    rows = tmp_path / "items.jsonl"
    rows.write_text("".join(json.dumps({"id": r["id"], "prompt": r["prompt"], "responses": [r["chosen"], r["rejected"]]}) + "\n"
                            for r in map(json.loads, pairs.read_text().splitlines())))
    out = tmp_path / "out.jsonl"
    result = subprocess.run([*judge_cli, "score", str(rows), "-r", "helpfulness", "-m", "pairwise", "-s", "tools",
                             "--tools", "calculator", "--tool-calls", "2", "--reason-tokens", "48", "--retries", "0",
                             "--trace", "-o", str(out), "-q", "--no-cache"], capture_output=True, text=True, env=cli_env, timeout=600)
    assert result.returncode == 0, result.stderr
    judgments = [json.loads(line) for line in out.read_text().splitlines()]
    assert [j["id"] for j in judgments] == ["arith-0", "arith-1"]
    for judgment in judgments:
        assert judgment["status"] in ("ok", "unparsed") and judgment["setup"]["strategy"] == "tools"
        steps = [step["step"] for step in judgment["raw"]]
        assert steps and set(steps) <= {"pairwise:tools", "pairwise:verdict"}
