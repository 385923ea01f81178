"""The bench scripts run, with tiny numbers, so they cannot rot between the runs that measure.

Nothing here asserts a time: the scripts print ratios for people; these tests check that each
measurement runs to the end and says what it measured.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


def run_script(*argv: str, timeout: int = 600) -> str:
    result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_overhead_bench_prints_each_ratio():
    out = run_script("bench/overhead.py", "--rows", "40", "--judgments", "20", "--repeats", "1")
    assert "(a) judge score -b fake, 40 rows x 5 criteria (helpfulness)" in out
    assert "ratio" in out and "(target <= 2x)" in out
    assert "(b) engine's own cost, principle, 1 step per judgment" in out
    assert "(b) engine's own cost, pointwise, 5 steps per judgment" in out
    assert "us per judgment" in out and "(target <= 100 us)" in out
    assert "(c) judge --help" in out and "(c) judge score --help" in out and "(target < 3x)" in out


@pytest.mark.slow
def test_gpu_principle_bench_runs_on_the_cpu_with_tiny_numbers(tmp_path):
    """A random-weight SmolLM2-shaped model (2 layers here), the engine against raw forward passes."""
    report = tmp_path / "rows.json"
    out = run_script("bench/gpu_principle.py", "--items", "32", "--batches", "8", "--device", "cpu",
                     "--layers", "2", "--prompt-tokens", "96", "--repeats", "1", "--breakdown", "--json", str(report))
    assert "device: cpu" in out and "2 layers" in out
    assert "batch    8: engine" in out and "engine/raw" in out
    assert "forward pass" in out  # the breakdown ran against today's backend internals
    import json

    [row] = json.loads(report.read_text())
    assert row["batch"] == 8 and row["engine_per_s"] > 0 and row["raw_per_s"] > 0


def test_eval_bench_prints_eval_against_score_and_the_from_time():
    out = run_script("bench/eval.py", "--rows", "8", "--from-rows", "40", "--repeats", "1", "--skip-model")
    assert "(a) 8 " in out and "fake backend: judge eval" in out and "ratio" in out
    assert "(b) judge eval --from, 40 judgments" in out


def test_strategies_bench_prints_each_strategys_engine_cost():
    out = run_script("bench/strategies.py", "--only", "a", "--judgments", "10", "--repeats", "1")
    for label in ("direct", "reason", "rethink", "vote", "vote+meta"):
        assert f"(a) {label} " in out
    assert "model calls per judgment" in out and "(target < 1000 us)" in out


@pytest.mark.slow
def test_strategies_bench_on_vllm_runs_with_tiny_numbers(converted_model):
    """vote@8 against direct, and rethink with and without prefix caching, on vLLM's CPU engine."""
    out = run_script("bench/strategies.py", "--only", "b,c", "--items", "2", "--tokens", "2", "--repeats", "1")
    assert "one-token verdicts: direct" in out and "vote@8" in out and "(target <= 1.5x)" in out
    assert "(c) rethink" in out and "prefix caching on" in out and "turn-2 prompt tokens" in out


def test_tools_bench_prints_each_tools_time_per_call_and_the_strategys_overhead():
    out = run_script("bench/tools.py", "--calls", "5", "--passages", "300", "--judgments", "10", "--repeats", "1")
    assert "(a) search index: 300 passages built in" in out
    for tool in ("calculator", "search", "code"):
        assert f"(a) {tool} " in out
    assert "ms per call  (bare function" in out
    assert "(b) tools, verdict at once" in out and "(b) tools, one calculator call" in out and "ratio" in out


def test_serve_bench_prints_the_throughput_ratios_and_the_trl_adapters_cost():
    out = run_script("bench/serve.py", "--clients", "5", "--requests", "20", "--group", "4", "--repeats", "1", "--backend", "fake")
    assert "(a) 20 single-sample requests from 5 clients:" in out and "ratio to the batch" in out and "(target >= 0.8)" in out
    assert "naive server:" in out and "p99" in out
    assert "(b) TRL adapter per GRPO group of 4:" in out and "ratio" in out


@pytest.mark.slow
def test_ray_bench_prints_the_integrations_cost_per_item_and_the_gpu_estimate(converted_model):
    out = run_script("bench/ray_scale.py", "--fake-items", "200", "--model-items", "4")
    assert "(a) fake backend, principle mode, 1 step per item: 200 items" in out
    assert "ratio per item, ray / in-process:" in out and "integration's own cost:" in out
    assert '(b) embedded model (SmolLM2-135M, CPU), principle mode: 4 items' in out and 'statuses {"ok": 4}' in out
    assert "(c) merge of 200 judgments" in out and "(d) estimate on N GPUs" in out and "N = 512" in out
