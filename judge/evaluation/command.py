"""`judge eval`'s command line. Nothing heavy is imported until the command runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

EVAL_EXAMPLES = """\
examples:
  judge eval ../shared/data/llmbar/*.jsonl --both-orders -o reports/llmbar
  judge eval pairs.jsonl -r helpfulness --mode pointwise --limit 50 -o reports/pointwise
  judge eval rewardbench.jsonl --protocol rewardbench --backend vllm --model ./judge-model -o reports/rb
  judge eval pairs.jsonl --suite master-keys --suite length -o reports/robust
  judge eval --from reports/llmbar/judgments.jsonl -o reports/llmbar-again
  judge eval --compare reports/before reports/after

data formats (detected from the rows; --data-format to force one):
  pairs       {"prompt", "chosen", "rejected", "subset"?}            LLMBar, RewardBench 1
  rmbench     "chosen" and "rejected" are lists of 3 style variants   RM-Bench
  judgebench  {"question", "response_A", "response_B", "label": "A>B" | "B>A"}
  best_of_n   one "chosen", a list of "rejected"                      RewardBench 2
  engine      {"prompt", "responses": [...], "label": INDEX}

The chosen response's position is a seeded coin flip per row (--seed), so position bias never
passes for accuracy. Default: pairwise mode with the helpfulness rubric. The report folder gets
items.jsonl, judgments.jsonl (what every figure is computed from), report.json and report.html.
Ties, unparsed and error judgments count as wrong in accuracy and are reported apart.

exit status: 0 with a report, 1 when some judgments ended in error, 2 when nothing could run.
"""


def add_eval_parser(commands: Any, add_judging_options: Callable[[argparse.ArgumentParser], Any],
                    positive: Callable[[str], int]) -> None:
    parser = commands.add_parser(
        "eval",
        help="measure a judge against human preferences (accuracy, biases, robustness, HTML report)",
        description="Judge preference benchmarks through the `judge score` engine path and report accuracy "
        "with 95% Wilson intervals, position and length bias, calibration, robustness suites and an HTML report.",
        epilog=EVAL_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data", nargs="*", metavar="DATA", help="benchmark files (JSONL or .json arrays)")
    source = parser.add_argument_group("what to evaluate")
    source.add_argument("--data-format", dest="data_format", choices=["pairs", "rmbench", "judgebench", "best_of_n", "engine"],
                        help="the data format, when detection from the rows is not what you want")
    source.add_argument("--limit", type=positive, help="only the first N rows of the data (across files, in order)")
    source.add_argument("--seed", type=int, default=0,
                        help="seed of the per-row coin flip that places the chosen response (default 0); also the "
                        "sampling seed when --temperature > 0")
    source.add_argument("--protocol", choices=["rewardbench"],
                        help="also reproduce the rewardbench package's generative-judge protocol (its MT-Bench pair "
                        "prompt, [[A]]/[[B]] parsing, parse failure = 0.5, per-section weighting)")
    source.add_argument("--suite", action="append", default=[], choices=["master-keys", "length", "order"],
                        help="robustness suites, repeatable: master-keys (content-free responses, One Token to Fool "
                        "LLM-as-a-Judge), length (rejected responses padded with neutral filler), order (= --both-orders)")
    source.add_argument("--master-key-prompts", type=positive, default=20, metavar="N",
                        help="prompts the master-key suite uses (default 20)")
    source.add_argument("--suites-only", action="store_true", help="run the suites without the benchmark's accuracy")
    add_judging_options(parser)
    out = parser.add_argument_group("report")
    out.add_argument("-o", "--output", metavar="REPORT_DIR", help="the report folder")
    out.add_argument("--from", dest="from_judgments", metavar="JUDGMENTS",
                     help="recompute a report from a judgments file of `judge eval`, with no model")
    out.add_argument("--compare", nargs=2, metavar=("REPORT_A", "REPORT_B"),
                     help="compare two reports unit by unit, with McNemar's test per subset")
    out.add_argument("--resume", action="store_true", help="continue an interrupted evaluation in REPORT_DIR")
    out.add_argument("--overwrite", action="store_true", help="redo an evaluation whose REPORT_DIR has judgments")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar or tables")
    out.add_argument("-v", "--verbose", action="store_true", help="show the backends' own loading bars and log lines")
    parser.set_defaults(run=run_eval_command, eval_parser=parser)


def run_eval_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from judge.errors import JudgeError
    from judge.evaluation import assemble
    from judge.evaluation.terminal import print_comparison, print_report

    if args.compare:
        if args.data or args.from_judgments:
            raise JudgeError("--compare takes two reports and nothing else")
        from judge.evaluation.compare import compare_reports

        a, b = (assemble.load_report(path) for path in args.compare)
        print_comparison(compare_reports(a, b, a_name=args.compare[0], b_name=args.compare[1]))
        return 0
    if args.from_judgments:
        if args.data:
            raise JudgeError("--from recomputes a report from judgments; give no DATA with it")
        judgments = Path(args.from_judgments)
        report = assemble.report_from(judgments, protocol=args.protocol)
        folder = Path(args.output) if args.output else judgments.parent
        assemble.write_report(report, folder)
        if not args.quiet:
            print_report(report, folder)
        return 0
    if not args.data:
        raise JudgeError("give benchmark files to evaluate on (or --from JUDGMENTS, or --compare A B); see judge eval --help")
    if not args.output:
        raise JudgeError("say where the report goes: -o REPORT_DIR")
    if args.verbose:
        import os

        os.environ["JUDGE_VERBOSE"] = "1"
    from judge.cli import judging_request
    from judge.evaluation import runner

    sampled = args.temperature > 0
    score = judging_request(args, input="-", output="-", seed=args.seed if sampled else None,
                            both_orders=args.both_orders or "order" in args.suite,
                            resume=args.resume, overwrite=args.overwrite, quiet=args.quiet)
    request = runner.EvalRequest(
        data=args.data, output_dir=args.output, score=score, data_format=args.data_format, seed=args.seed,
        limit=args.limit, protocol=args.protocol, master_keys="master-keys" in args.suite,
        master_key_prompts=args.master_key_prompts, length="length" in args.suite, suites_only=args.suites_only,
        command=sys.argv[1:],
    )
    report, counts = runner.run_eval(request)
    if not args.quiet:
        print_report(report, Path(args.output))
    return 1 if counts.get("error", 0) else 0
