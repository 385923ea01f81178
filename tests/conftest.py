"""Shared fixtures. The embedded model is loaded once per session and shared by every slow test."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PAIRS = ROOT / "tests" / "fixtures" / "data" / "pairs.jsonl"
LLMBAR = ROOT.parent / "shared" / "data" / "llmbar" / "natural.jsonl"


def pair_rows(n: int) -> list[dict]:
    """The project's own preference pairs (id, prompt, chosen, rejected): always there."""
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert n <= len(rows), f"{PAIRS} has {len(rows)} pairs, {n} asked for"
    return rows[:n]


@pytest.fixture
def llmbar_rows():
    """LLMBar's natural set from ../shared, beside the clone in CI; skipped, saying why, elsewhere."""
    if not LLMBAR.exists():
        pytest.skip(f"the public benchmark file {LLMBAR} is not beside this clone (CI has it)")

    def take(n: int) -> list[dict]:
        return [json.loads(line) for line in LLMBAR.read_text(encoding="utf-8").splitlines()[:n]]

    return take


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory):
    """Keep the tests' model-call cache and converted models away from the user's (~/.cache/judge).

    Subprocesses inherit it. Converted models are reused across sessions through JUDGE_TEST_MODELS
    when set, so a developer does not pay the conversion at every run.
    """
    os.environ["JUDGE_CACHE_DIR"] = str(tmp_path_factory.mktemp("judge-cache"))
    yield


@pytest.fixture(scope="session")
def embedded():
    """The real embedded backend (SmolLM2-135M-Instruct on CPU), loaded once for the session."""
    from judge_transformers.backend import TransformersBackend

    backend = TransformersBackend(None)
    asyncio.run(backend.start())
    return backend


@pytest.fixture
def judge_cli():
    """Argv prefix that runs the installed `judge` console script of this environment."""
    script = Path(sys.executable).parent / "judge"
    return [str(script)] if script.exists() else [sys.executable, "-m", "judge.cli"]


@pytest.fixture
def cli_env(tmp_path):
    env = dict(os.environ)
    env.pop("JUDGE_PLUGINS", None)
    return env


@pytest.fixture(scope="session")
def converted_model() -> Path:
    """The embedded GGUF converted once into a Hugging Face folder (what vLLM loads)."""
    from judge_transformers.convert import convert_embedded

    return convert_embedded()  # the session's cache folder: the embedded backend loads this same one


@pytest.fixture(scope="session")
def vllm_offline(converted_model):
    """vLLM's offline engine, in this process (loads in seconds), shared by the session."""
    from judge_vllm.backend import VLLMBackend

    backend = VLLMBackend(str(converted_model), dtype="float32", kv_cache_memory_bytes=512 * 1024**2, max_model_len=2048)
    asyncio.run(backend.start())
    return backend


@pytest.fixture(scope="session")
def vllm_server(converted_model, tmp_path_factory):
    """A real vLLM OpenAI-compatible server on 127.0.0.1, started once for the session."""
    from judge_vllm.server import VLLMServer

    server = VLLMServer(converted_model, tmp_path_factory.mktemp("server") / "vllm.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_cluster(converted_model):
    """A real Ray cluster on this machine (CPU only), started once with `ray start --head`; yields
    its address. Its workers inherit this session's environment (the private cache, the converted
    embedded model); it is stopped, and its files removed, at the end.

    Token authentication is off for this loopback-only cluster: a driver reads RAY_AUTH_MODE once,
    when Ray first loads in its process, so an explicit address and no token is what every test's
    driver (this process, or a `judge score --ray` subprocess) agrees on whatever ran before."""
    import shutil
    import signal
    import socket
    import subprocess
    import tempfile
    import time

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # the drivers' too: no usage report to ray.io from a test
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    ray = Path(sys.executable).parent / "ray"
    log = (folder / "head.log").open("w")
    head = subprocess.Popen(
        [str(ray), "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=4",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (folder / "head.log").read_text(errors="replace"):
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed: {(folder / 'head.log').read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block: ray start stops the cluster's processes on SIGTERM
        try:
            head.wait(10)
        except subprocess.TimeoutExpired:  # its graceful stop waits up to 30 s on idle services: no need
            os.killpg(head.pid, signal.SIGKILL)  # the raylet's death ends its workers
            head.wait(10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
