"""The whole plugin contract of judge: every hook a plugin may implement.

Plugins are packages that expose a module through the `judge` entry-point group and implement
some of these hooks with `@judge.hookimpl`. Each `register_*` hook receives a `register`
callback instead of returning a list, so the core owns names and reports conflicts: a name an
earlier plugin already holds (first-party plugins always come first) is refused for the later
one, which stays reachable as `PLUGIN:NAME` (`--backend rival:openai`). Hooks are called once per
process, the first time the registry is used, never at import of `judge`; a plugin whose import
or register hook fails (even with `sys.exit`) is reported by `judge plugins` and left out whole.
docs/plugins.md documents each hook with an example; a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("judge")
hookimpl = pluggy.HookimplMarker("judge")


@hookspec
def register_backends(register: Callable[..., None]) -> None:
    """Register model backends: `register(name, factory, description="")`.

    `factory(model: str | None, **options) -> Backend` builds the backend; it is called only when
    a user picks that backend, so heavy imports (torch, vllm) belong inside it.
    """


@hookspec
def register_format_packs(register: Callable[..., None]) -> None:
    """Register format packs: `register(pack: FormatPack)`.

    A format pack is how one judge model (or family) wants to be prompted and read: its
    templates, parsers, and candidate tokens (Yes/No, A/B, score digits).
    """


@hookspec
def register_parsers(register: Callable[..., None]) -> None:
    """Register output parsers: `register(name, parser)`.

    `parser(completion: Completion, spec: ParseSpec) -> Parsed` reads one model answer. A parser
    that cannot read the answer returns status `unparsed`; it never invents a value.
    """


@hookspec
def register_aggregators(register: Callable[..., None]) -> None:
    """Register aggregators: `register(name, aggregator)`.

    `aggregator(verdicts: list[Verdict], rubric: Rubric) -> float | None` combines one
    response's per-criterion verdicts into its score.
    """


@hookspec
def register_strategies(register: Callable[..., None]) -> None:
    """Register strategies, how a judge thinks about one question: `register(strategy)`.

    A strategy has `name`, `description`, `modes` (the modes it runs in), `check(setup)` (raise
    JudgeError when it cannot run a compiled setup: a missing template, a backend capability)
    and `async decide(ctx) -> Parsed`, a coroutine over the `judge.strategy.StrategyContext` the
    core hands it: render the pack's templates, ask the model, parse, rate with the meta reward
    model, record. It never touches a backend, the scheduler or the cache.
    """


@hookspec
def register_tools(register: Callable[..., None]) -> None:
    """Register tools a judge may call before it judges: `register(tool: judge.tools.Tool)`.

    A tool has a name, a description and an argument schema (a pydantic model or a JSON schema)
    the judge is shown, a function (sync, run in a worker thread, or async), a time limit and an
    output cap, optional settings a user configures (`--tool-option NAME.KEY=VALUE`) and a
    `check(settings)` saying why it cannot run (a missing package, nothing configured). A refusal
    is `raise ToolRefused(reason)`; every failure reaches the judge as an observation. See
    judge/tools.py and docs/tools.md.
    """


@hookspec
def register_commands(register: Callable[..., None]) -> None:
    """Register `judge` subcommands: `register(command)`.

    A command has `name`, `help`, `description`, `add_arguments(parser)` and `run(args) -> int`
    (the exit status). `judge plugins` lists it; it is loaded only when the command line names
    no built-in command, which it cannot replace. The search tool's `judge index build` is one.
    """


@hookspec
def register_verifiers(register: Callable[..., None]) -> None:
    """Register deterministic verifiers: `register(verifier: judge.verifiers.Verifier)`.

    A verifier has a name, a description, a pydantic model of its arguments and
    `function(text, args, item) -> Check | None`: whether a hard rule holds for one response's
    text, with a reason, or None when it cannot tell. A rubric criterion names one
    (`verifier: {name, args}`); in pointwise and principle modes it decides that criterion before
    any model call, and the verdict records `decided_by` with the verifier's name.
    """


@hookspec
def register_rubric_generators(register: Callable[..., None]) -> None:
    """Register rubric generators: `register(generator: judge.generation.RubricGenerator)`.

    A generator has `name`, `description`, `version`, `needs` (the `Example` fields it reads:
    chosen/rejected, response/feedback), `produces` ("rubric" or "principles") and
    `async generate(example, ctx) -> Rubric`: it renders its prompt, asks the model through the
    `GenerationContext` and reads the answer, raising `GenerationRejected(reason)` for text it
    cannot read (the core retries, then reports the example dropped). `judge rubric generate`,
    `judge principles extract` and `--rubric auto:NAME` run it. See judge/generation.py.
    """


@hookspec(firstresult=True)
def default_backend() -> tuple[str, dict[str, Any]] | None:
    """Name the backend (and its options) used when the user names none; the first answer wins.

    Hooks are asked in pluggy's order (the plugin loaded last first). One that raises is recorded
    against its plugin (shown by `judge plugins`, warned once) and the next answer is used.
    """
