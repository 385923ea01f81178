"""The strategy seam, proved from outside: a third-party strategy package, pip-installed into a
folder of its own and found through its `judge` entry point, drives a run from the CLI."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import ROOT
from test_plugins import env_with, pip_install

FIXTURE = ROOT / "tests" / "fixtures" / "judge-example-strategy"


@pytest.fixture(scope="session")
def strategy_site(tmp_path_factory):
    return pip_install(FIXTURE, tmp_path_factory.mktemp("strategy-site"))


def test_judge_plugins_lists_the_third_party_strategy(strategy_site, judge_cli):
    result = subprocess.run([*judge_cli, "plugins", "--json"], capture_output=True, text=True,
                            env=env_with(strategy_site), timeout=60, check=True)
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["agree"]["registered"] == {"strategies": ["agree"]}
    assert plugins["standard"]["registered"]["strategies"] == ["direct", "reason", "rethink", "vote", "tools"]


def test_a_third_party_strategy_judges_through_the_engine(strategy_site, judge_cli, tmp_path):
    rows = tmp_path / "pairs.jsonl"
    rows.write_text(json.dumps({"id": "a", "prompt": "Which?", "responses": ["left text", "right text"]}) + "\n")
    out = tmp_path / "out.jsonl"
    # the fake always answers "A": the shown-first response, so the two orders disagree
    result = subprocess.run([*judge_cli, "score", str(rows), "-r", "helpfulness", "-m", "pairwise", "-s", "agree",
                             "-b", "fake", "-O", "text=A", "-O", "exact_candidates=false", "-o", str(out), "--no-cache"],
                            capture_output=True, text=True, env=env_with(strategy_site), timeout=60)
    assert result.returncode == 0, result.stderr
    judgment = json.loads(out.read_text())
    assert judgment["setup"]["strategy"] == "agree" and judgment["preferred"] is None
    assert judgment["verdicts"][0]["reason"] == "orders disagree" and judgment["usage"]["requests"] == 2
    refused = subprocess.run([*judge_cli, "score", str(rows), "-r", "helpfulness", "-s", "agree", "-b", "fake"],
                             capture_output=True, text=True, env=env_with(strategy_site), timeout=60)
    assert refused.returncode == 2
    assert "strategy 'agree' does not run in pointwise mode" in refused.stderr and "agree: pairwise" in refused.stderr
