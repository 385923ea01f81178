"""`judge score --ray`: a file judged on a real local Ray cluster by `judge` subprocesses, with a
worker killed mid-run and a driver killed and resumed. The first tests check, without a
cluster, what is refused before any worker starts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import pair_rows

from judge.cli import main
from judge.integrations.ray_score import root_cause
from judge.models import Judgment

POLITE = "The response is polite."


def write_items(path: Path, n: int) -> Path:
    rows = [{"id": row["id"], "prompt": row["prompt"], "response": row["chosen"]} for row in pair_rows(min(n, 16))]
    rows += [{"id": f"extra-{k}", "prompt": f"What is {k} + {k}?", "response": str(2 * k)} for k in range(n - len(rows))]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def output_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_ray_options_without_ray_are_refused(tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", 2)
    assert main(["score", str(items), "-p", POLITE, "--workers", "3", "--parts", "x"]) == 2
    assert "--workers, --parts: options of a Ray run; add --ray" in capsys.readouterr().err


@pytest.mark.parametrize("argv, says", [
    (["-", "-o", "OUT"], "not stdin"),
    (["ITEMS"], "give -o FILE"),
    (["ITEMS.json", "-o", "OUT"], "not a .json array"),
    (["ITEMS", "-o", "OUT", "--cpus-per-worker", "-1"], "cpus_per_worker"),
    (["ITEMS", "-o", "OUT", "--parts", "ITEMS"], "not a folder"),
])
def test_a_ray_run_that_cannot_work_is_refused_before_any_cluster(tmp_path, capsys, argv, says):
    items = write_items(tmp_path / "items.jsonl", 2)
    (tmp_path / "items.json").write_text("[]")
    argv = [{"ITEMS": str(items), "ITEMS.json": str(tmp_path / "items.json"), "OUT": str(tmp_path / "out.jsonl")}.get(a, a)
            for a in argv]
    assert main(["score", *argv, "-p", POLITE, "--ray"]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def test_an_input_file_named_where_an_address_goes_says_how_to_write_it(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["score", "--ray", "items.jsonl", "-p", POLITE])
    assert "put --ray after the input file or write --ray=local" in capsys.readouterr().err


def test_parts_of_an_interrupted_run_are_never_silently_replaced(tmp_path, capsys):
    items = write_items(tmp_path / "items.jsonl", 2)
    parts = tmp_path / "out.jsonl.parts"
    parts.mkdir()
    (parts / "00000000000000000001-1-ab.jsonl").write_text(Judgment(id="pair-0", status="ok", mode="principle").model_dump_json() + "\n")
    assert main(["score", str(items), "-p", POLITE, "-o", str(tmp_path / "out.jsonl"), "--ray"]) == 2
    assert "pass --resume to continue it or --overwrite" in capsys.readouterr().err
    assert len(list(parts.iterdir())) == 1


def test_a_workers_error_is_told_by_its_own_line_out_of_rays_traceback():
    wrapped = ("ray::MapWorker(MapBatches(JudgeWorker)).__init__() (pid=1, ip=1.2.3.4)\n  File \"x.py\", line 3, in f\n"
               "    raise BackendError(...)\njudge.errors.BackendError: cannot reach http://127.0.0.1:1/v1 (connection refused)\n")
    assert root_cause(RuntimeError(wrapped)) == "BackendError: cannot reach http://127.0.0.1:1/v1 (connection refused)"
    assert root_cause(RuntimeError("Traceback...\nValueError: bad\n")) == "ValueError: bad"


def judge_on_ray(judge_cli, ray_cluster: str, items: Path, output: Path, *extra: str) -> subprocess.Popen:
    argv = [*judge_cli, "score", str(items), "-p", POLITE, "-o", str(output), "--no-cache",
            "--ray", ray_cluster, "--workers", "2", "--batch-size", "2", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def workers() -> list[int]:
    """Pids of the judge's Ray actors on this machine (their process title names the class)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"MapBatches(JudgeWorker)" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for(condition, seconds: float, what: str, run: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if run.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {run.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds} s")
        time.sleep(0.2)


def parts_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_no_item_and_no_id_is_written_twice(ray_cluster, judge_cli, tmp_path):
    items = write_items(tmp_path / "items.jsonl", 24)
    output = tmp_path / "out.jsonl"
    run = judge_on_ray(judge_cli, ray_cluster, items, output)
    wait_for(lambda: parts_in(tmp_path / "out.jsonl.parts"), 240, "first finished block", run)
    victim = workers()[0]
    os.kill(victim, signal.SIGKILL)
    _, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-3000:]
    ids = output_ids(output)
    assert sorted(ids) == sorted(output_ids(items)) and len(ids) == len(set(ids)) == 24
    assert {json.loads(line)["status"] for line in output.read_text().splitlines()} == {"ok"}
    assert victim not in workers() and not (tmp_path / "out.jsonl.parts").exists()


@pytest.mark.slow
def test_a_resumed_run_judges_only_what_the_killed_driver_had_not_finished(ray_cluster, judge_cli, tmp_path):
    items = write_items(tmp_path / "items.jsonl", 24)
    output, parts = tmp_path / "out.jsonl", tmp_path / "out.jsonl.parts"
    run = judge_on_ray(judge_cli, ray_cluster, items, output)
    wait_for(lambda: len(parts_in(parts)) >= 2, 240, "two finished blocks", run)
    run.send_signal(signal.SIGKILL)
    run.wait(30)
    deadline = time.monotonic() + 60
    while workers() and time.monotonic() < deadline:  # Ray ends a dead driver's actors
        time.sleep(0.2)
    assert not workers()
    done = {json.loads(line)["id"] for part in parts_in(parts) for line in part.read_text().splitlines()}
    assert 2 <= len(done) < 24 and not output.exists()

    again = judge_on_ray(judge_cli, ray_cluster, items, output)  # parts are there: --resume or --overwrite
    assert again.wait(120) == 2 and "pass --resume" in again.communicate()[1]

    resumed = judge_on_ray(judge_cli, ray_cluster, items, output, "--resume")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    judged, calls = map(int, re.search(r"judge: (\d+) judged .*; (\d+) model calls", err).groups())
    assert judged == calls == 24 - len(done)  # one call per item, none for an item a killed run finished
    ids = output_ids(output)
    assert sorted(ids) == sorted(output_ids(items)) and len(ids) == len(set(ids))
    assert not parts.exists()


@pytest.mark.slow
def test_parquet_in_and_out_on_a_cluster_of_this_machine_started_for_the_run(judge_cli, converted_model, tmp_path):
    import shutil
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": row["id"], "prompt": row["prompt"], "response": row["chosen"]} for row in pair_rows(5)]
    rows.append({"id": None, "prompt": "Say hi.", "response": "Hi!"})  # no id: named by its content
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "items.parquet")
    output = tmp_path / "out.parquet"
    ray_files = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # the run's own cluster keeps its logs here
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"} | {"RAY_TMPDIR": str(ray_files)}
    argv = [*judge_cli, "score", str(tmp_path / "items.parquet"), "-p", POLITE, "-o", str(output), "--ray",
            "--workers", "2", "--batch-size", "2"]
    try:
        first = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
        assert first.returncode == 0, first.stderr[-3000:]
        table = pq.read_table(output)
        ids = table.column("id").to_pylist()
        assert len(ids) == len(set(ids)) == 6 and {r["id"] for r in rows[:5]} < set(ids)
        assert set(table.column("status").to_pylist()) == {"ok"}
        assert Judgment.model_validate_json(table.column("judgment")[0].as_py()).id == ids[0]

        again = subprocess.run([*argv, "--resume"], capture_output=True, text=True, env=env, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "judge: 0 judged" in again.stderr  # every id, the content-named one too, was done
        assert sorted(pq.read_table(output).column("id").to_pylist()) == sorted(ids)
    finally:
        shutil.rmtree(ray_files, ignore_errors=True)


@pytest.mark.slow
def test_workers_that_cannot_start_end_the_run_with_their_own_error(ray_cluster, judge_cli, tmp_path):
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    items = write_items(tmp_path / "items.jsonl", 4)
    run = judge_on_ray(judge_cli, ray_cluster, items, tmp_path / "out.jsonl", "-b", "openai", "--model", "judge",
                       "--base-url", f"http://127.0.0.1:{port}/v1", "-O", "start_budget=2")
    _, err = run.communicate(timeout=300)
    assert run.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"judge: error: the Ray run failed: BackendError: the server at http://127.0.0.1:{port}/v1 "
                           "cannot be reached") and last.endswith("nothing was judged")
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.parts").exists()
