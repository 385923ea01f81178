"""`judge serve`: the command line around judge/serving/app.py (Starlette and uvicorn are
imported only when it runs)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable

SERVE_EXAMPLES = """\
examples:
  judge serve -p "The answer is correct." --port 8000            # RLBFF principle reward
  judge serve -r helpfulness --backend vllm --model ./judge-model --host 0.0.0.0 --token SECRET
  curl -s localhost:8000/get_reward -d '{"query": ["..."], "prompts": ["..."], "labels": [""]}'

OpenRLHF: --reward.remote_url http://HOST:8000/get_reward
"""


def add_serve_parser(commands: Any, add_judging_options: Callable[[argparse.ArgumentParser], Any],
                     positive: Callable[[str], int]) -> None:
    serve = commands.add_parser(
        "serve", help="serve a judge over HTTP (OpenRLHF's /get_reward, /v1/judge, health, metrics)",
        description="Load one judge and answer many clients at once: their requests are micro-batched into shared "
        "backend batches. POST /get_reward (OpenRLHF's remote reward protocol), POST /v1/judge ({\"items\": [rows]} -> "
        "{\"judgments\": [...]}), GET /health, GET /ready, GET /metrics. See docs/rl.md.",
        epilog=SERVE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_judging_options(serve)
    net = serve.add_argument_group("server")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    net.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    net.add_argument("--token", default=os.environ.get("JUDGE_SERVE_TOKEN"),
                     help="require 'Authorization: Bearer TOKEN' on every endpoint but /health (default: $JUDGE_SERVE_TOKEN, else none)")
    net.add_argument("--window-ms", type=float, default=5.0, help="wait up to this long for more requests before sending a batch that is not full (default 5)")
    net.add_argument("--max-request-bytes", type=positive, default=8 * 1024 * 1024, help="largest request body (default 8 MiB)")
    net.add_argument("--max-items", type=positive, default=4096, help="most items (queries) in one request (default 4096)")
    net.add_argument("--request-timeout", type=float, default=600.0, help="seconds a request may take before it gets a 504 (default 600)")
    net.add_argument("--missing-score", type=float, default=0.0,
                     help="/get_reward: the number sent for a judgment without a value (flagged in extra_logs.judge_missing; default 0)")
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        print("judge: error: judge serve needs uvicorn and starlette: pip install 'judge[serve]'", file=sys.stderr)
        return 2
    from judge.cli import judging_request
    from judge.scoring import judge_for
    from judge.serving.app import Limits, build_app

    judge = judge_for(judging_request(args, input="-"))
    limits = Limits(max_request_bytes=args.max_request_bytes, max_items=args.max_items, request_timeout=args.request_timeout,
                    window=args.window_ms / 1000, token=args.token, missing_score=args.missing_score)
    print(f"judge: serving {judge.setup['rubric']} ({judge.options.mode}) on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    uvicorn.run(build_app(judge, limits), host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=30)
    return 0
