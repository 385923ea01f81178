"""The `judge` command line. Heavy modules are imported inside commands so `--help` is instant."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from judge.errors import Interrupted, JudgeError
from judge.integrations.ray_options import add_ray_options, ray_options

SCORE_EXAMPLES = """\
examples:
  judge score --rubric helpfulness examples/pointwise.jsonl -o out.jsonl
  judge score --mode pairwise --rubric helpfulness --both-orders examples/pairwise.jsonl
  judge score --mode principle --rubric rlbff-principles examples/principle.jsonl
  judge score --principle "The response cites a source for every number." data.jsonl
  judge score --rubric my_rubric.yaml --model ./my-model-folder data.jsonl -o out.jsonl --resume
  judge score -r helpfulness --backend vllm --model ./judge-model data.jsonl -o out.jsonl
  judge score -r helpfulness --backend openai --base-url http://127.0.0.1:8000/v1 --model NAME data.jsonl
  cat data.jsonl | judge score --rubric factuality - > out.jsonl
  judge score data.parquet -r helpfulness -o out.parquet --ray --workers 4   (on Ray: docs/scale.md)

input rows (JSON Lines, or a .json array):
  {"id": "1", "prompt": "...", "response": "..."}                 pointwise, principle
  {"id": "2", "prompt": "...", "responses": ["...", "..."]}       pairwise (exactly 2)
  optional: "reference", "context" (list of documents); other fields are kept as metadata.
  "prompt" may be a list of chat messages [{"role": "user", "content": "..."}].

output: one JSON line per item, written as soon as it is judged: id, status (ok | unparsed |
error), scores per response in [0, 1], per-criterion verdicts, preferred (pairwise), reward
(principle), raw model texts, usage and latency.

exit status: 0 when every row was judged, 1 when some rows ended in error (bad input rows
are reported with their line and the rest still run), 2 when nothing could run.
"""


def build_parser(plugin_commands: bool = False) -> argparse.ArgumentParser:
    """The command line; with `plugin_commands`, also the subcommands plugins register (that loads
    every plugin, so it is done only for a command that is not built in: `judge --help` and
    `judge score` stay instant)."""
    parser = argparse.ArgumentParser(
        prog="judge",
        description="Judge model responses with rubrics and principles, on generative reward models.",
        epilog="Plugins may add commands (the search tool's `judge index`); `judge plugins` lists them.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    score = commands.add_parser(
        "score",
        help="judge a file of items with a rubric or principles",
        description="Judge each input row with a rubric (pointwise, pairwise) or binary principles.",
        epilog=SCORE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument("input", help="JSONL (or .json array) file of items; '-' reads stdin")
    model = add_judging_options(score)
    model.add_argument("--seed", type=int, help="sampling seed, for reproducible sampled judgments")

    out = score.add_argument_group("output")
    out.add_argument("-o", "--output", default="-", help="JSONL file to append judgments to (default: stdout)")
    out.add_argument("--resume", action="store_true", help="continue an interrupted run: skip ids already in the output, retry errors")
    out.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    out.add_argument("--limit", type=_positive, help="judge only the first N rows")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    out.add_argument("-v", "--verbose", action="store_true",
                     help="show the backends' own loading bars and log lines (hidden by default)")
    add_ray_options(score, _positive)
    score.set_defaults(run=_score)

    from judge.evaluation.command import add_eval_parser

    add_eval_parser(commands, add_judging_options, _positive)

    plugins = commands.add_parser("plugins", help="list installed plugins and what they register",
                                  description="List the plugins found in the `judge` entry-point group, where each comes from, and what it registers.")
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plugins.set_defaults(run=_plugins)

    rubrics = commands.add_parser("rubrics", help="list the shipped rubrics", description="List the rubrics shipped with judge.")
    rubrics.set_defaults(run=_rubrics)

    from judge.serving.command import add_serve_parser

    add_serve_parser(commands, add_judging_options, _positive)

    from judge.rubric_commands import add_rubric_parsers

    add_rubric_parsers(commands, _positive)

    from judge.tool_commands import add_plugin_commands, add_tool_parsers

    add_tool_parsers(commands)
    if plugin_commands:
        add_plugin_commands(commands)
    return parser


def add_judging_options(parser: argparse.ArgumentParser) -> Any:
    """What to judge by and the model: the options `judge score` and `judge eval` share."""
    what = parser.add_argument_group("what to judge by")
    what.add_argument("-r", "--rubric", help="a rubric file (.yaml) or the name of a shipped rubric, e.g. helpfulness (see `judge rubrics`); "
                      "a folder of per-item rubrics (judge rubric generate --per-item), read by item id; or auto[:GENERATOR]: "
                      "the judge first writes principles for each prompt (SPCT), once per prompt, then scores with them")
    what.add_argument("-p", "--principle", action="append", default=[], metavar="TEXT",
                      help="a binary principle, instead of a rubric; repeat for several (implies --mode principle)")
    what.add_argument("-m", "--mode", choices=["pointwise", "pairwise", "principle", "listwise"],
                      help="what is compared. pointwise: score each criterion, weighted total; pairwise: which of 2 (or more) responses is best; "
                      "principle: reward = P(Yes) that the response satisfies each principle; listwise: a score per response and a best-to-worst order "
                      "(default: pointwise, or principle with -p)")
    what.add_argument("--both-orders", action="store_true", help="pairwise: judge A/B and B/A and report position consistency")
    what.add_argument("--score-from", choices=["auto", "probabilities", "text"], default="auto",
                      help="read scores from exact token probabilities or from the model's text (default auto: probabilities when the backend gives them)")
    what.add_argument("-f", "--format", "--format-pack", dest="format_pack", default="default",
                      help="format pack: templates and parsers for a particular judge model, e.g. prometheus, deepseek-grm, brrm, "
                      "rlbff, rlbff-genrm, rewardanything, rm-r1 (default: default; see `judge plugins` and docs/formats.md)")
    what.add_argument("--aggregator", default="weighted_mean", help="how criteria combine into a score (default: weighted_mean)")

    think = parser.add_argument_group("how the judge thinks (docs/strategies.md)")
    think.add_argument("-s", "--strategy", default="direct",
                       help="direct (one answer), reason (analysis, then the verdict's probabilities after a marker), "
                       "rethink (BR-RM's two turns), vote (k samples, optional meta RM); see `judge plugins` (default: direct)")
    think.add_argument("-k", "--samples", type=_positive, default=1, help="vote: samples per verdict (default 1)")
    think.add_argument("--meta-rm", nargs="?", const="meta-critique", metavar="RUBRIC|PRINCIPLE",
                       help="vote: rate each sample with a meta reward model (principle mode) and let only the top --meta-top vote; "
                       "a rubric name or file, or a principle's text (bare --meta-rm: the shipped meta-critique rubric)")
    think.add_argument("--meta-top", type=_positive, metavar="K", help="vote with --meta-rm: how many samples vote (default: half of -k, rounded up)")
    think.add_argument("--meta-backend", help="backend of the meta RM (default: the judge's own, sharing its batches)")
    think.add_argument("--meta-model", help="model of the meta RM (default: the judge's own)")
    think.add_argument("--vote-reason", action="store_true", help="vote: each sample writes its analysis before its verdict")
    think.add_argument("--no-shuffle", action="store_true", help="vote: keep the response order in every sample (default: shuffled per sample)")
    think.add_argument("--reason-tokens", type=_positive, metavar="N", help="tokens for reasoning steps (default: the format pack's)")
    think.add_argument("--retries", type=_non_negative, default=1, metavar="N",
                       help="extra attempts for an answer that cannot be parsed, each with another seed (default 1); every attempt's text is kept")
    think.add_argument("--trace", action="store_true", help="write every step's messages, texts, parsed values, retries and meta scores into each judgment")
    think.add_argument("--tools", type=_names, metavar="NAME[,NAME]",
                       help="-s tools: the tools the judge may call (default: every installed tool that is ready; see `judge tools`)")
    think.add_argument("--tool-calls", type=_positive, default=4, metavar="N", help="-s tools: at most N tool calls per verdict (default 4)")
    think.add_argument("-T", "--tool-option", action="append", default=[], metavar="TOOL.KEY=VALUE",
                       help="-s tools: a tool's setting, repeatable, e.g. -T search.index=docs.idx -T code.wall_seconds=5")
    think.add_argument("--tool-protocol", choices=["auto", "text", "native"], default="auto",
                       help="-s tools: Themis's text protocol (any model), the backend's native tool calls, or auto: native where the backend has them")

    model = parser.add_argument_group("model")
    model.add_argument("-b", "--backend", help="backend plugin: transformers (default, the embedded model), vllm, openai, fake; see `judge plugins`; PLUGIN:NAME picks one plugin's backend when two register the same name")
    model.add_argument("--model", help="model for the backend: a local folder or .gguf file for transformers (default: embedded SmolLM2-135M-Instruct)")
    model.add_argument("--base-url", action="append", default=[], metavar="URL",
                       help="openai backend: server URL, e.g. http://127.0.0.1:8000/v1; repeat for several (the least busy is used)")
    model.add_argument("--no-cache", action="store_true",
                       help="do not read or write the cache of model calls (default: greedy calls are cached under ~/.cache/judge)")
    model.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                       help="backend option, repeatable, e.g. -O batch_size=16 -O dtype=bfloat16")
    model.add_argument("--max-tokens", type=_positive, help="tokens to generate per verdict (default: per mode, from the format pack)")
    model.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)")
    model.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (default 1.0)")
    return model


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    first = next((word for word in given if not word.startswith("-")), None)
    parser = build_parser()
    if first is not None and first not in _commands(parser):  # not built in: perhaps a plugin's
        parser = build_parser(plugin_commands=True)
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except BrokenPipeError:  # `judge ... | head`: the reader left, which is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Interrupted as exc:
        print(f"\njudge: interrupted; {exc}", file=sys.stderr)
        _exit_now_if_threads_linger(130)
        return 130
    except JudgeError as exc:
        print(f"judge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("judge: interrupted", file=sys.stderr)
        return 130


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands a parser knows, by name."""
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _exit_now_if_threads_linger(code: int) -> None:
    """A model call running in a worker thread cannot be cancelled; after Ctrl-C, do not wait for it.
    Everything finished is already on disk (each judgment is written whole as it completes)."""
    import os
    import threading

    if any(t is not threading.main_thread() and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _score(args: argparse.Namespace) -> int:
    import os

    from judge.scoring import run_score

    if args.verbose:
        os.environ["JUDGE_VERBOSE"] = "1"

    request = judging_request(args, input=args.input, output=args.output, seed=args.seed, resume=args.resume,
                              overwrite=args.overwrite, limit=args.limit, quiet=args.quiet)
    cluster = ray_options(args)
    if cluster is None:
        summary = run_score(request)
    else:
        from judge.integrations.ray_score import run_score_on_ray

        summary = run_score_on_ray(request, cluster)
    return 1 if summary.get("error", 0) else 0


def judging_request(args: argparse.Namespace, **fields: Any) -> Any:
    """A ScoreRequest from the shared judging options (see add_judging_options) plus `fields`."""
    from judge.scoring import ScoreRequest

    shared = dict(
        rubric=args.rubric,
        principles=args.principle,
        mode=args.mode,
        both_orders=args.both_orders,
        score_from=args.score_from,
        format_pack=args.format_pack,
        aggregator=args.aggregator,
        backend=args.backend,
        model=args.model,
        options=args.option,
        base_urls=args.base_url,
        cache=not args.no_cache,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        strategy=args.strategy,
        samples=args.samples,
        meta_rm=args.meta_rm,
        meta_top=args.meta_top,
        meta_backend=args.meta_backend,
        meta_model=args.meta_model,
        vote_reason=args.vote_reason,
        shuffle=not args.no_shuffle,
        reason_tokens=args.reason_tokens,
        retries=args.retries,
        trace=args.trace,
        tools=args.tools,
        tool_calls=args.tool_calls,
        tool_options=args.tool_option,
        tool_protocol=args.tool_protocol,
    )
    return ScoreRequest(**(shared | fields))


def _names(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one tool")
    return names


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _plugins(args: argparse.Namespace) -> int:
    """List plugins; it works whatever a plugin does, and shows failures, refused names and the default backend."""
    import json

    from judge.errors import PluginError
    from judge.plugins import get_registry

    registry = get_registry().load()
    try:
        name, _ = registry.default_backend(quiet=True)  # records a failing hook against its plugin
        default = f"{name} (from plugin '{registry.default_from}')"
    except PluginError as exc:
        default = f"none: {exc}"
    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "module": p.module,
            "distribution": p.distribution,
            "version": p.version,
            "location": p.location,
            "first_party": p.first_party,
            "registered": p.registered,
            "refused": p.refused,
            "problems": p.problems,
            "error": p.error,
        }
        for p in registry.plugins
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        origin = f"{row['distribution']} {row['version']}" if row["distribution"] else "in-process"
        print(f"{row['name']}  ({origin})  {row['location'] or row['module']}")
        if row["error"]:
            print(f"    FAILED TO LOAD: {row['error']}")
        for kind, names in row["registered"].items():
            print(f"    {kind.replace('_', ' ')}: {', '.join(names)}")
        for kind, taken in row["refused"].items():
            for name, holder in taken.items():
                print(f"    {kind.replace('_', ' ')} REFUSED: {name} (taken by plugin '{holder}'; use {row['name']}:{name})")
        for problem in row["problems"]:
            print(f"    PROBLEM: {problem}")
    print(f"default backend: {default}")
    return 0


def _rubrics(args: argparse.Namespace) -> int:
    from judge.rubric import load_rubric, shipped_rubrics

    for name, path in sorted(shipped_rubrics().items()):
        rubric = load_rubric(path)
        first = rubric.description.strip().splitlines()[0] if rubric.description.strip() else ""
        print(f"{name:24} {len(rubric.criteria)} criteria  {first}")
    return 0


class _VersionAction(argparse.Action):
    """--version, looked up only when asked: reading package metadata costs every --help 20 ms."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"judge {_version()}")
        parser.exit()


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("judge")
    except metadata.PackageNotFoundError:
        return "unknown"


def summary_line(counts: Counter[str], output: str) -> str:
    parts = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "unparsed", "error"))
    judged = sum(counts.get(s, 0) for s in ("ok", "unparsed", "error"))
    calls = f"; {counts.get('model_calls', 0)} model calls, {counts.get('cached_calls', 0)} from cache"
    return f"judge: {judged} judged ({parts}){calls} -> {output}"


if __name__ == "__main__":
    sys.exit(main())
