"""What the tools cost, measured side by side in one run.

    .venv/bin/python bench/tools.py [--calls 200] [--passages 10000] [--judgments 500] [--repeats 3]

(a) time per call of each first-party tool through the judge's own path (`ToolBox.call`:
    argument checking, the time limit, the output cap), median of `--calls` calls:
    calculator (exact arithmetic; algebra), search on an index of `--passages` passages (the
    index is built first, and its build time printed), and the code sandbox (a trivial program:
    bubblewrap start-up, the interpreter, tear-down); each beside the bare function, so the
    contract's own cost shows.
(b) the `tools` strategy's overhead per judgment against `direct`, on an instant fake backend
    (pairwise): a judge that gives its verdict at once (the loop's own cost: one turn, a text
    verdict), and one that makes one calculator call first (two turns and a real tool call);
    engine time per judgment, each ratio to direct measured in alternating rounds.

Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from overhead import paired  # noqa: E402  (the other bench's helper)
from scratch import scratch_dir  # noqa: E402

WORDS = ("river mountain copper violin harbor glacier lantern orchard falcon meadow quartz tundra "
         "saffron canyon beacon ember willow prism cobalt thistle marble cedar comet delta").split()


def median_ms(call: Callable[[], Any], count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1e3 * statistics.median(times)


def median_ms_async(call: Callable[[], Any], count: int) -> float:
    """Like median_ms for a coroutine function, every call in one event loop (as the engine runs them)."""

    async def timed() -> list[float]:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await call()
            times.append(time.perf_counter() - started)
        return times

    return 1e3 * statistics.median(asyncio.run(timed()))


def write_passages(folder: Path, count: int) -> Path:
    """`count` JSONL passages of made-up text, each with a unique code word to search for."""
    rng = random.Random(15)
    path = folder / "passages.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for k in range(count):
            body = " ".join(rng.choice(WORDS) for _ in range(60))
            handle.write(f'{{"id": "p{k}", "title": "passage {k}", "text": "code{k} {body}"}}\n')
    return path


def bench_calls(calls: int, passages: int) -> list[dict[str, Any]]:
    from judge.tools import ToolBox
    from judge_tools.calculator import CALCULATOR
    from judge_tools.code import CODE, CodeSettings
    from judge_tools.search import SEARCH, SearchSettings
    from judge_tools.search_index import build_index

    folder = scratch_dir(prefix="judge-bench-tools-")
    started = time.perf_counter()
    summary = build_index([write_passages(folder, passages)], folder / "index.db")
    build_s = time.perf_counter() - started
    print(f"(a) search index: {summary.passages} passages built in {build_s:.2f} s ({summary.bytes / 2**20:.1f} MB)", flush=True)
    settings = {"search": SearchSettings(index=folder / "index.db"), "code": CodeSettings()}
    box = ToolBox(tools={tool.name: (tool, settings.get(tool.name)) for tool in (CALCULATOR, SEARCH, CODE)})
    cases = [
        ("calculator", '{"expression": "1/3 + 1/6"}', calls),
        ("calculator", '{"expression": "solve(x**2 - 5*x + 6, x)"}', calls),
        ("search", '{"query": "code4242 glacier lantern", "k": 3}', calls),
        ("code", '{"code": "print(1 + 1)"}', max(5, calls // 20)),
    ]
    rows = []
    for name, arguments, count in cases:
        tool, configured = box.tools[name]
        checked = tool.arguments.model_validate_json(arguments)
        kwargs = {"settings": configured} if tool.settings is not None else {}
        first = asyncio.run(box.call(name, arguments))
        assert first.ok, f"{name}: {first.status.value}: {first.output}"
        via_box = median_ms_async(lambda: box.call(name, arguments), count)
        bare = median_ms(lambda: tool.function(checked, **kwargs), count)
        print(f"(a) {name:10s} {arguments:50s} {via_box:8.2f} ms per call  (bare function {bare:8.2f} ms; "
              f"{count} calls, median)", flush=True)
        rows.append({"measure": "a", "tool": name, "arguments": arguments, "ms": via_box, "bare_ms": bare})
    return rows


def answer_at_once(request: Any) -> str:
    return "Rationale: A is right.\nVerdict: A"


def answer_after_one_call(request: Any) -> str:
    if request.messages[-1].content.startswith("Observation:"):
        return "Rationale: the calculator agrees with A.\nVerdict: A"
    return 'Thought: check it\nAction: calculator\nAction Input: {"expression": "37*48"}'


def bench_strategy(count: int, repeats: int) -> list[dict[str, Any]]:
    from judge.engine import Judge
    from judge.models import Item
    from judge.rubric import load_rubric
    from judge.strategy import StrategyOptions
    from judge_fake.backend import FakeBackend

    rubric = load_rubric("helpfulness")
    items = [Item(id=f"i{k}", prompt=f"What is 37 x 48? (case {k})", responses=[f"1776 ({k})", f"1766 ({k})"]) for k in range(count)]
    direct = Judge(rubric, mode="pairwise", backend=FakeBackend(batch_size=64, record=False))
    direct.score(items[:10])
    rows = []
    for label, responder in (("verdict at once", answer_at_once), ("one calculator call", answer_after_one_call)):
        judge = Judge(rubric, mode="pairwise", backend=FakeBackend(responder, batch_size=64, record=False, exact_candidates=False),
                      strategy="tools", strategy_options=StrategyOptions(tools=("calculator",), retries=0))
        judge.score(items[:10])  # warm: imports, templates, the calculator's worker
        tools_s, direct_s = paired(lambda: judge.score(items), lambda: direct.score(items), repeats)
        print(f"(b) tools, {label:20s} {1e6 * tools_s / count:8.0f} us per judgment   direct {1e6 * direct_s / count:6.0f} us   "
              f"ratio {tools_s / direct_s:5.1f}x  ({count} judgments, fake backend)", flush=True)
        rows.append({"measure": "b", "case": label, "tools_us": 1e6 * tools_s / count, "direct_us": 1e6 * direct_s / count})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="(a) calls per tool (the sandbox: a twentieth, at least 5)")
    parser.add_argument("--passages", type=int, default=10000, help="(a) passages in the search index")
    parser.add_argument("--judgments", type=int, default=500, help="(b) judgments per side")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="a,b", help="which measurements: a, b")
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}", flush=True)
    chosen = set(args.only.split(","))
    if "a" in chosen:
        bench_calls(args.calls, args.passages)
    if "b" in chosen:
        bench_strategy(args.judgments, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
