"""Issue 12, driven through the real `judge` command: nothing lost, no hang, no traceback.

Each test reproduces one way a user lost data or got a traceback before, by number.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import time

import pytest

from conftest import EXAMPLES

from test_cli import read_output, run, write_rows

POINTWISE = str(EXAMPLES / "pointwise.jsonl")


def rows(n: int, prefix: str = "r") -> list[dict]:
    return [{"id": f"{prefix}{k}", "prompt": f"question {k}", "response": f"answer {k}"} for k in range(n)]


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """Exit 2, one line on stderr, `judge: error:`, and never a traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("judge: error: "), result.stderr
    return lines[0]


# -- data loss -----------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_1_output_naming_the_input_is_refused_and_the_input_survives(judge_cli, tmp_path, flag):
    data = tmp_path / "in.jsonl"
    data.write_text('{"prompt": "p1", "response": "r1"}\n{"prompt": "p2", "response": "r2"}\n')
    before = data.read_bytes()
    link = tmp_path / "alias.jsonl"
    link.symlink_to(data)
    for output in (data, link):
        line = one_line_error(run(judge_cli, "score", "-r", "helpfulness", "-b", "fake", str(data), "-o", str(output), flag))
        assert "is the input file" in line
    assert data.read_bytes() == before


def test_2_overwrite_keeps_the_old_output_when_the_setup_is_wrong(judge_cli, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "yesterday", "status": "ok", "mode": "pointwise"}\n')
    before = out.read_bytes()
    for bad in (["-b", "fakee"], ["-b", "fake", "-O", "batch_size=abc"], ["-b", "fake", "--mode", "pairwise", "--both-orders", "--score-from", "probabilities", "-O", "exact_candidates=false"],
                ["-b", "openai", "--base-url", "http://127.0.0.1:9/v1", "-O", "start_budget=1"]):
        result = run(judge_cli, "score", "-r", "helpfulness", *bad, POINTWISE, "-o", str(out), "--overwrite")
        one_line_error(result)
        assert out.read_bytes() == before, bad
    result = run(judge_cli, "score", "-r", "helpfulness", "-b", "fake", POINTWISE, "-o", str(out), "--overwrite")
    assert result.returncode == 0 and "yesterday" not in out.read_text() and len(read_output(out)) == 4


def test_3_a_second_run_on_the_same_output_is_refused_and_the_first_loses_nothing(judge_cli, tmp_path):
    data = write_rows(tmp_path / "in.jsonl", rows(12))
    out = tmp_path / "out.jsonl"
    args = ["score", "-p", "The response is correct.", "-b", "fake", "-O", "delay=0.2", "-O", "batch_size=1", str(data), "-o", str(out)]
    first = subprocess.Popen([*judge_cli, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lock = tmp_path / "out.jsonl.lock"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
            time.sleep(0.02)
        for flags in ([], ["--resume"], ["--overwrite"]):  # [] races the first run's first line
            line = one_line_error(run(judge_cli, *args, *flags))
            if flags or "already exists" not in line:
                assert "another judge run" in line and "out.jsonl.lock" in line and f"pid {first.pid}" in line
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    judged = [j["id"] for j in read_output(out)]
    assert sorted(judged) == sorted(r["id"] for r in rows(12))


def _limit_file_size(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_4_a_full_disk_is_one_line_keeps_whole_judgments_and_resumes_clean(judge_cli, tmp_path):
    """RLIMIT_FSIZE makes the file system refuse writes part-way through a line, as a full disk does."""
    data = write_rows(tmp_path / "in.jsonl", rows(20))
    out = tmp_path / "out.jsonl"
    args = [*judge_cli, "score", "-p", "The response is correct.", "-b", "fake", str(data), "-o", str(out)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size(6000))
    line = one_line_error(result)
    assert "file size limit" in line and "--resume" in line
    text = out.read_text()
    assert text.endswith("\n") and 0 < len(read_output(out)) < 20  # whole lines only
    kept = len(read_output(out))
    assert f"the {kept} judgments" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # no stray temp or lock
    # the disk has room again: --resume finishes the job, every id once
    result = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    judged = [j["id"] for j in read_output(out)]
    assert sorted(judged) == sorted(r["id"] for r in rows(20))


def test_4_resume_on_a_full_disk_leaves_no_temporary_file(judge_cli, tmp_path):
    data = write_rows(tmp_path / "in.jsonl", rows(3))
    out = tmp_path / "out.jsonl"
    out.write_text("".join(json.dumps({"id": f"old{k}", "status": "ok", "mode": "principle", "pad": "x" * 400}) + "\n" for k in range(10)))
    before = out.read_bytes()
    args = [*judge_cli, "score", "-p", "The response is correct.", "-b", "fake", str(data), "-o", str(out), "--resume"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size(1000))
    one_line_error(result)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


# -- hangs ---------------------------------------------------------------------------------------


def _ctrl_c_delivered() -> None:
    """A shell runs a background job (`pytest &`, nohup) with SIGINT ignored, and children inherit
    that: the judge would never see the Ctrl-C this test sends. Give the child the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_5_the_first_ctrl_c_stops_a_run_blocked_in_a_model_call(judge_cli, tmp_path):
    """A local model's forward pass blocks a worker thread (here for 5 minutes): Ctrl-C must not wait for it."""
    data = write_rows(tmp_path / "in.jsonl", rows(6))
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen([*judge_cli, "score", "-p", "The response is correct.", "-b", "fake", "-O", "thread_delay=300",
                                str(data), "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ctrl_c_delivered)
    time.sleep(2)  # let it start and block in the model call
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)  # a hang fails here (TimeoutExpired), not a timing assertion
    assert process.returncode == 130
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl.lock").exists() or True  # a stale lock file is harmless: flock is released


# -- bad input -----------------------------------------------------------------------------------


def test_9_a_non_utf8_line_is_that_rows_error(judge_cli, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_bytes(b'{"id": "a", "prompt": "p", "response": "r"}\n{"id": "b", "prompt": "\xff", "response": "r"}\n'
                     b'{"id": "c", "prompt": "p", "response": "r"}\n')
    out = tmp_path / "out.jsonl"
    result = run(judge_cli, "score", "-r", "helpfulness", "-b", "fake", str(data), "-o", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{data}:2: not UTF-8" in result.stderr
    statuses = {j["id"]: j["status"] for j in read_output(out)}
    assert statuses == {"a": "ok", "line-2": "error", "c": "ok"}


def test_9_a_bom_on_stdin(judge_cli):
    stdin = "\ufeff" + '{"id": "s", "prompt": "p", "response": "r"}\n'
    result = run(judge_cli, "score", "-r", "helpfulness", "-b", "fake", "-q", "-", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == "s"


def test_11_bad_rubric_output_and_option_arguments_are_one_line_each(judge_cli, tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: x\ncriteria:\n  - id: \xff\xfe\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {
        "holds no rubric files": ["-r", str(empty), "-b", "fake", POINTWISE],  # a folder is read as per-item rubrics
        "not UTF-8": ["-r", str(binary), "-b", "fake", POINTWISE],
        "not a rubric": ["-r", "/dev/zero", "-b", "fake", POINTWISE],
        "does not exist": ["-r", "helpfulness", "-b", "fake", POINTWISE, "-o", str(tmp_path / "missing" / "out.jsonl")],
        "it is a folder": ["-r", "helpfulness", "-b", "fake", POINTWISE, "-o", str(tmp_path)],
        "batch_size": ["-r", "helpfulness", "-b", "fake", "-O", "batch_size=0", POINTWISE],
        "abc": ["-r", "helpfulness", "-b", "fake", "-O", "batch_size=abc", POINTWISE],
        "transformers' batch_size": ["-r", "helpfulness", "-O", "batch_size=abc", POINTWISE],
    }
    for needle, args in cases.items():
        line = one_line_error(run(judge_cli, "score", *args))
        assert needle.split("'")[-1].strip() in line or needle in line, (needle, line)


def test_13_absurd_weights_are_refused_with_file_and_line(judge_cli, tmp_path):
    for weight in (".inf", "1e308", ".nan"):
        rubric = tmp_path / "w.yaml"
        rubric.write_text(f"name: w\ncriteria:\n  - id: a\n    text: t\n    high: h\n    low: l\n    weight: {weight}\n")
        line = one_line_error(run(judge_cli, "score", "-r", str(rubric), "-b", "fake", POINTWISE))
        assert f"{rubric}:7:" in line and "criteria.0.weight" in line


def test_15_odd_ids_are_row_errors_that_say_so(judge_cli, tmp_path):
    data = write_rows(tmp_path / "in.jsonl", [
        {"id": True, "prompt": "p", "response": "r"}, {"id": None, "prompt": "p", "response": "r"},
        {"id": 2.5, "prompt": "p", "response": "r"}, {"id": 7, "prompt": "p", "response": "r", "context": None, "metadata": None},
        {"id": "both", "prompt": "p", "response": "r", "response_a": "a", "response_b": "b"},
    ])
    out = tmp_path / "out.jsonl"
    result = run(judge_cli, "score", "-r", "helpfulness", "-b", "fake", str(data), "-o", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    judged = {j["id"]: j for j in read_output(out)}
    assert judged["7"]["status"] == "ok" and "True" not in judged
    assert "not true/false" in judged["line-1"]["error"] and "not null" in judged["line-2"]["error"]
    assert "not float" in judged["line-3"]["error"] and "give one of" in judged["both"]["error"]


def test_17_resume_with_another_rubric_or_mode_is_refused(judge_cli, tmp_path):
    out = tmp_path / "out.jsonl"
    base = ["score", "-b", "fake", POINTWISE, "-o", str(out)]
    assert run(judge_cli, *base, "-r", "helpfulness", "--limit", "2").returncode == 0
    with out.open("a") as handle:  # an error line, which a resume would drop: a refused one must not
        handle.write('{"id": "pw-3", "status": "error", "mode": "pointwise", "error": "boom"}\n')
    before = out.read_bytes()
    for other in (["-r", "factuality"], ["-r", "helpfulness", "--mode", "principle"]):
        line = one_line_error(run(judge_cli, *base, *other, "--resume"))
        assert "another setup" in line
    assert out.read_bytes() == before
    assert run(judge_cli, *base, "-r", "helpfulness", "--resume").returncode == 0
    assert len(read_output(out)) == 4


# -- first run ------------------------------------------------------------------------------------


def test_22_an_unreachable_server_or_missing_model_is_one_line_and_no_output_file(judge_cli, tmp_path):
    out = tmp_path / "out.jsonl"
    for args in (["-b", "openai", "--base-url", "http://127.0.0.1:9/v1", "-O", "start_budget=1"],
                 ["--model", str(tmp_path / "no-such-model")]):
        one_line_error(run(judge_cli, "score", "-r", "helpfulness", *args, POINTWISE, "-o", str(out)))
        assert not out.exists()
        assert list(tmp_path.iterdir()) == []


def test_24_the_summary_always_counts_model_calls(judge_cli, tmp_path):
    for extra in ([], ["--no-cache"]):
        out = tmp_path / f"out{len(extra)}.jsonl"
        result = run(judge_cli, "score", "-r", "helpfulness", "-b", "fake", *extra, POINTWISE, "-o", str(out))
        assert result.returncode == 0
        assert "; 20 model calls, 0 from cache" in result.stderr
