"""What `judge eval` costs beyond `judge score`, measured side by side.

    .venv/bin/python bench/eval.py [--rows 64] [--from-rows 10000] [--repeats 3] [--skip-model]

(a) `judge eval` against `judge score` on the same ROWS preference pairs (LLMBar from
    ../shared/data when present, else the test fixture's pairs repeated under new ids), pairwise
    mode, both with --no-cache so every judgment is computed: with the fake backend (the
    engine's own cost dominates) and with the embedded model (real judging). `judge score` gets
    the very items file `judge eval` writes, so both judge the same items; the difference is the
    data reading, the report (JSON, HTML) and the tables.          target: a few percent
(b) `judge eval --from` on a judgments file of FROM_ROWS pairs (made once with the fake backend):
    the report recomputed with no model.                            target: seconds

Each pair of commands runs alternately REPEATS times and the round with the median ratio is
shown. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JUDGE = [sys.executable, "-m", "judge.cli"]
LLMBAR = ROOT.parent / "shared" / "data" / "llmbar"
FAKE = ["-b", "fake", "-O", "exact_candidates=false", "-O", "text=A", "-O", "record=false"]


def pair_rows(count: int) -> list[dict]:
    """LLMBar rows when the shared data is beside the clone, else the fixture pairs under new ids."""
    rows: list[dict] = []
    files = sorted(LLMBAR.glob("*.jsonl")) if LLMBAR.is_dir() else [ROOT / "tests" / "fixtures" / "data" / "pairs.jsonl"]
    while len(rows) < count:
        for path in files:
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip() and len(rows) < count:
                    row = json.loads(line)
                    row["id"] = f"{row.get('id', 'row')}-{len(rows)}"
                    rows.append(row)
    return rows


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{result.stderr}")
    return elapsed


def eval_against_score(folder: Path, data: Path, backend: list[str], repeats: int) -> tuple[float, float]:
    """(eval_s, score_s) of the alternating round with the median ratio."""
    report = folder / "report"
    eval_cmd = [*JUDGE, "eval", str(data), "-q", "--no-cache", *backend, "-o", str(report), "--overwrite"]
    subprocess.run(eval_cmd, cwd=ROOT, capture_output=True, check=False)  # writes the items file once
    items = report / "items.jsonl"
    score_cmd = [*JUDGE, "score", str(items), "-q", "--no-cache", "-m", "pairwise", "-r", "helpfulness", *backend,
                 "-o", str(folder / "score.jsonl"), "--overwrite"]
    rounds = []
    for _ in range(repeats):
        score_s = timed(score_cmd)
        eval_s = timed(eval_cmd)
        rounds.append((eval_s / score_s, eval_s, score_s))
    _, eval_s, score_s = sorted(rounds)[len(rounds) // 2]
    return eval_s, score_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--from-rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-model", action="store_true", help="only the fake backend in (a)")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    source = "LLMBar" if LLMBAR.is_dir() else "fixture pairs"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "pairs.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in pair_rows(args.rows)), encoding="utf-8")
        backends = [("fake backend", FAKE)] + ([] if args.skip_model else [("embedded model", [])])
        for name, backend in backends:
            eval_s, score_s = eval_against_score(folder, data, backend, args.repeats)
            print(f"(a) {args.rows} {source} rows, {name}: judge eval {eval_s:.2f} s, judge score {score_s:.2f} s, "
                  f"ratio {eval_s / score_s:.3f} (target: a few percent over 1)")
        big = folder / "big.jsonl"
        big.write_text("".join(json.dumps(r) + "\n" for r in pair_rows(args.from_rows)), encoding="utf-8")
        made = folder / "big-report"
        subprocess.run([*JUDGE, "eval", str(big), "-q", *FAKE, "--no-cache", "-o", str(made)], cwd=ROOT,
                       capture_output=True, check=False)
        judgments = made / "judgments.jsonl"
        lines = sum(1 for _ in judgments.open()) if judgments.exists() else 0
        from_s = min(timed([*JUDGE, "eval", "-q", "--from", str(judgments), "-o", str(folder / "again")])
                     for _ in range(max(1, args.repeats)))
        print(f"(b) judge eval --from, {lines} judgments: {from_s:.2f} s (target: seconds)")


if __name__ == "__main__":
    main()
