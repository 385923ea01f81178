"""`judge rubric generate` and `judge principles extract`: rubrics written by the judge from data.

Both run a registered rubric generator over a file of examples (preference pairs; responses with
free-text feedback), keep what is valid (and, for pairs, what reproduces the pair's preference
when the judge scores the pair with it), and write ordinary rubric YAML: one file merged for the
task, or one per example (`--per-item`, a folder `judge score --rubric` reads per item id).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from judge.errors import InputError, JudgeError

GENERATE_EXAMPLES = """\
examples:
  judge rubric generate pairs.jsonl -o task-rubric.yaml
  judge rubric generate pairs.jsonl --per-item -o rubrics/ && judge score --rubric rubrics/ items.jsonl
  judge rubric generate pairs.jsonl -o r.yaml --backend openai --base-url http://127.0.0.1:8000/v1

input rows: {"id": "1", "prompt": "...", "chosen": "...", "rejected": "..."} (or any `judge eval` data
format with a preference: "responses" + "label", JudgeBench's rows, ...).
"""

EXTRACT_EXAMPLES = """\
examples:
  judge principles extract feedback.jsonl -o principles.yaml
  judge score --mode principle --rubric principles.yaml items.jsonl

input rows: {"id": "1", "prompt": "...", "response": "...", "feedback": "..." or ["...", "..."]}
"""


def add_rubric_parsers(commands: Any, positive: Callable[[str], int]) -> None:
    """`judge rubric generate` and `judge principles extract`."""
    rubric = commands.add_parser("rubric", help="write rubrics from preference pairs (judge rubric generate)",
                                 description="Write rubrics with the judge model, from data.")
    sub = rubric.add_subparsers(dest="rubric_command", metavar="ACTION", required=True,
                                help="generate: rubrics from preference pairs")
    generate = sub.add_parser(
        "generate", help="contrastive rubric generation from preference pairs (OpenRubrics)",
        description=_wrapped("From prompts with a preferred and a rejected response, the judge writes rubric criteria, each a "
        "hard_rule (an explicit, checkable constraint of the prompt; a verifier is proposed where one fits) or a "
        "principle (an implicit quality), with weights. Consistency filter: a rubric is kept only when the judge, "
        "scoring its own pair with it (pairwise, both orders), prefers the preferred response; each pair gets --tries attempts."),
        epilog=GENERATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("input", help="JSONL (or .json array) of preference pairs")
    generate.add_argument("--generator", default="openrubrics", help="a rubric generator plugin (default: openrubrics; see `judge plugins`)")
    generate.add_argument("--no-filter", action="store_true", help="keep every valid rubric, without the consistency filter")
    _shared(generate, positive, what="rubric")
    generate.set_defaults(run=_generate, produces="rubric")

    principles = commands.add_parser("principles", help="principles from free-text feedback (judge principles extract)",
                                     description="Turn data into binary principles with the judge model.")
    sub = principles.add_subparsers(dest="principles_command", metavar="ACTION", required=True,
                                    help="extract: binary principles from feedback")
    extract = sub.add_parser(
        "extract", help="binary principles from free-text feedback on responses (RLBFF)",
        description=_wrapped("Each person's feedback on a response becomes short binary principles a Yes/No question can check, "
        "each with the feedback's words it rests on (a principle whose evidence is not in the feedback verbatim is "
        "dropped, 'partially' statements are dropped, near-duplicates merged). The output is for --mode principle."),
        epilog=EXTRACT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    extract.add_argument("input", help="JSONL (or .json array) of rows with prompt, response and feedback")
    extract.add_argument("--generator", default="rlbff", help="a principle generator plugin (default: rlbff)")
    _shared(extract, positive, what="principles")
    extract.set_defaults(run=_extract, produces="principles", no_filter=True)


def _wrapped(text: str) -> str:
    """A description kept as written by the raw formatter (for the examples), so wrapped here."""
    import textwrap

    return textwrap.fill(text, width=100)


def _shared(parser: argparse.ArgumentParser, positive: Callable[[str], int], what: str) -> None:
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", required=True,
                     help=f"the {what} YAML file; with --per-item, a folder with one file per example id")
    out.add_argument("--per-item", action="store_true",
                     help="one file per example instead of one merged file (examples whose file exists are skipped: a rerun resumes)")
    out.add_argument("--max-criteria", type=positive, default=12, metavar="N", help="merged file: at most N criteria, those most examples share (default 12)")
    out.add_argument("--overwrite", action="store_true", help="replace what --output holds")
    out.add_argument("--report", metavar="FILE", help="also write each example's outcome (attempts, problems, raw texts) as JSONL")
    out.add_argument("--limit", type=positive, help="use only the first N rows")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    gen = parser.add_argument_group("generation")
    gen.add_argument("--tries", type=positive, default=3, help="attempts per example: the first greedy, then sampled (default 3)")
    gen.add_argument("--max-tokens", type=positive, default=384, help="tokens per generation (default 384)")
    gen.add_argument("--seed", type=int, default=0, help="seeds the sampled attempts and the pair order of the filter")
    model = parser.add_argument_group("model")
    model.add_argument("-b", "--backend", help="backend plugin (default: the embedded model); see `judge plugins`")
    model.add_argument("--model", help="model for the backend")
    model.add_argument("--base-url", action="append", default=[], metavar="URL", help="openai backend: server URL (repeatable)")
    model.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE", help="backend option, repeatable")
    model.add_argument("--no-cache", action="store_true", help="do not read or write the cache of model calls")


def _generate(args: argparse.Namespace) -> int:
    from judge.generation import Example
    from judge.evaluation.datasets import read_eval_rows

    examples = []
    for row in read_eval_rows([args.input], limit=args.limit):
        chosen = row.chosen[0] if row.chosen else row.responses[row.label]
        rejected = row.rejected[0] if row.rejected else next(r for i, r in enumerate(row.responses) if i != row.label)
        examples.append(Example(id=row.id, prompt=row.prompt, chosen=chosen, rejected=rejected))
    return _run(args, examples)


def _extract(args: argparse.Namespace) -> int:
    return _run(args, read_feedback(args.input, args.limit))


def read_feedback(source: str, limit: int | None = None) -> list:  # type: ignore[type-arg]
    """Rows with prompt, response and feedback (a string or a list of strings) as examples; the
    first bad row stops the command with its file and line."""
    from judge.generation import Example
    from judge.inputs import read_rows

    examples = []
    for row in read_rows(source):
        if row.error is not None:
            raise row.error
        assert row.item is not None
        item = row.item
        feedback = item.metadata.get("feedback")
        if isinstance(feedback, str):
            feedback = [feedback]
        if not isinstance(feedback, list) or not feedback or not all(isinstance(f, str) and f.strip() for f in feedback):
            problem = "is required" if feedback is None else "must be a non-empty string or a list of them"
            raise InputError(source, row.line, f"field 'feedback' {problem}")
        if len(item.responses) != 1:
            raise InputError(source, row.line, "give one 'response': feedback is about one response")
        examples.append(Example(id=item.id, prompt=item.prompt, response=item.responses[0], feedback=feedback))
        if limit is not None and len(examples) >= limit:
            break
    return examples


def _run(args: argparse.Namespace, examples: list[Any]) -> int:
    from judge.generation import check_example, generator_for
    from judge.plugins import get_registry

    if not examples:
        raise JudgeError(f"{args.input}: no rows")
    generator = generator_for(get_registry().load(), args.generator, args.produces)
    for example in examples:
        check_example(generator, example, f"{args.input} (row '{example.id}')")
    output = Path(args.output)
    if output.exists() and not args.overwrite and not (args.per_item and output.is_dir()):
        raise JudgeError(f"{output} exists; pass --overwrite to replace it" + ("" if args.per_item else ", or choose another -o"))
    if args.per_item and output.exists() and not output.is_dir():
        raise JudgeError(f"{output} is a file; --per-item writes a folder")
    from judge.generation_run import GenerationRun

    run = GenerationRun(args, generator, examples)
    outcome = asyncio.run(run.run())
    print(outcome.summary(), file=sys.stderr)
    for line in outcome.dropped_lines():
        print(f"  {line}", file=sys.stderr)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as handle:
            for entry in outcome.report_rows():
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return 0 if outcome.kept or outcome.skipped else 1


def reasons(problems: list[str]) -> Counter[str]:
    """Dropped examples by the kind of their last problem (the text before the first colon)."""
    return Counter(p.split(":")[0] for p in problems)
