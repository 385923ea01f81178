"""The compiler: a rubric or principles, a mode and a strategy become a reusable prompt program.

A program is built once and run for every item. The mode says what is compared: it turns an
item into questions (one verdict each: a criterion of one response, an order of a pair, a list).
The strategy, a plugin, says how the judge thinks about each question (judge/strategy.py). The
program runs every question's strategy as a coroutine that awaits model calls through `call`, so
many items advance side by side, each at its own pace, and assembles the judgment from the
answers (judge/verdicts.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from judge.backend import Capabilities, Completion, Request, SamplingParams
from judge.errors import BackendError, JudgeError
from judge.formats import FormatPack
from judge.models import Item, Judgment, Message, Status, content_text
from judge.pairwise import check_count, orders
from judge.parsing import ParseSpec, Parsed, Parser
from judge.plugins import Registry
from judge.rubric import Criterion, Rubric
from judge.rubric_sources import ItemRubric, RubricSource, RubricUnavailable, scale_key
from judge.strategy import Question, Rate, Record, StepFailed, Strategy, StrategyContext, StrategyOptions, StrategySetup
from judge.templates import render_messages
from judge.tools import ToolBox, build_toolbox
from judge.verifiers import BoundVerifier, bind
from judge.verdicts import Answer, assemble

Call = Callable[[Request], Awaitable[Completion]]
ScoreFrom = Literal["auto", "probabilities", "text"]
MODES = ("pointwise", "pairwise", "principle", "listwise")
LISTWISE_SCALE = (1, 5)  # a listwise score's scale where the format pack fixes none (RewardAnything's)


@dataclass(frozen=True)
class CompileOptions:
    mode: str = "pointwise"
    format_pack: str = "default"
    aggregator: str = "weighted_mean"
    score_from: ScoreFrom = "auto"
    both_orders: bool = False
    sampling: SamplingParams | None = None
    strategy: str = "direct"
    strategy_options: StrategyOptions = field(default_factory=StrategyOptions)


class Program:
    """A compiled judge: mode, strategy, templates, sampling, parsers and aggregation."""

    def __init__(
        self, rubric: Rubric, options: CompileOptions, registry: Registry, exact: bool,
        capabilities: Capabilities | None = None, has_meta: bool = False, rubrics: RubricSource | None = None,
    ) -> None:
        if options.mode not in MODES:
            raise JudgeError(f"unknown mode '{options.mode}' (modes: {', '.join(MODES)})")
        # With a rubric source (per-item files, --rubric auto) each item brings its own rubric;
        # `rubric` is then the source's shape: one criterion per scale, for the checks at prepare.
        self.rubrics = rubrics
        self.rubric = rubrics.shape() if rubrics is not None else rubric
        self.rubric_name = rubrics.label if rubrics is not None else rubric.name
        self.options = options
        self.registry = registry
        self.pack: FormatPack = registry.get("format_packs", options.format_pack)
        if options.mode == "pairwise" and len(self.pack.labels) < 2:
            raise JudgeError(f"format pack '{self.pack.name}' has {len(self.pack.labels)} label(s); pairwise mode needs at least 2")
        self.binary_parser = registry.get("parsers", self.pack.parsers.get("principle", "yes_no"))
        self.aggregate = registry.get("aggregators", options.aggregator)
        self.exact = exact
        self.capabilities = capabilities
        self.use_probabilities = _use_probabilities(options, exact)
        self.strategy_options = options.strategy_options
        self.strategy: Strategy = registry.get("strategies", options.strategy)
        self.toolbox: ToolBox | None = self._toolbox()
        self.verifiers: dict[str, BoundVerifier] = self._verifiers()
        self._check_strategy(StrategySetup(options.mode, self.pack, capabilities, self.strategy_options,
                                           self.use_probabilities, has_meta, self.toolbox))
        self.whole: set[str] = set()  # scales (scale_key) whose points are scored as whole token sequences
        self.from_text: set[str] = set()  # scales read from text: points of several tokens, no whole scoring
        self._sampling_cache: dict[tuple[Any, ...], SamplingParams] = {}
        self._parsers: dict[str, Parser] = {}
        self.stamp: dict[str, Any] = {}  # fields every judgment carries (model, setup): set by the Judge

    def _check_strategy(self, setup: StrategySetup) -> None:
        """Every mode x strategy pair either runs or is refused here, saying which pairs exist."""
        if self.options.mode not in self.strategy.modes:
            combos = "; ".join(
                f"{entry.name}: {', '.join(entry.value.modes)}" for entry in self.registry.entries("strategies")
            )
            raise JudgeError(f"strategy '{self.strategy.name}' does not run in {self.options.mode} mode (strategies and their modes: {combos})")
        self.strategy.check(setup)

    def _toolbox(self) -> ToolBox | None:
        """The tools the strategy may call, built only for one that calls tools."""
        chosen = self.strategy_options
        if not getattr(self.strategy, "uses_tools", False):
            if chosen.tools is not None or chosen.tool_options:
                raise JudgeError(f"--tools and --tool-option are for a strategy that calls tools (e.g. -s tools), not '{self.strategy.name}'")
            return None
        return build_toolbox(self.registry, chosen.tools, chosen.tool_options)

    def _verifiers(self, rubric: Rubric | None = None) -> dict[str, BoundVerifier]:
        """Criteria decided by a program, not the model (pointwise and principle: one response
        each); arguments checked now, so a typo fails before any item (an item's own rubric: before
        that item)."""
        if self.options.mode not in ("pointwise", "principle"):
            return {}
        rubric = rubric or self.rubric
        return {c.id: bind(self.registry, c.id, c.verifier) for c in rubric.criteria if c.verifier is not None}

    @property
    def mode(self) -> str:
        return self.options.mode

    # -- what the strategies use ----------------------------------------------------------------

    def render(
        self, question: Question, part: str | None, order: tuple[int, ...], extra: dict[str, Any] | None = None,
    ) -> list[Message]:
        """The pack's template for a question's mode (or part), its responses shown in `order`."""
        variables = question.variables if not extra else extra | question.variables
        if question.mode in ("pairwise", "listwise"):
            shown = [question.item.responses[index] for index in order]
            variables = variables | {"responses": shown}
            if len(shown) == 2:  # a two-way template names them; with more, only `responses` exists
                variables |= {"response_a": shown[0], "response_b": shown[1]}
            given = list(question.item.responses)
        else:
            given = [question.item.responses[question.response]]
        template = self.pack.templates[self.pack.step(question.mode, part)]
        messages = render_messages(self.pack.template_dirs, template, variables)
        self._check_nothing_dropped(question.item, given, messages, template)
        return messages

    def sampling(
        self, step: str, max_tokens: int | None = None, stop: tuple[str, ...] = (), n: int = 1,
        temperature: float | None = None, seed: int | None = None,
    ) -> SamplingParams:
        """A step's sampling: the user's settings, else the pack's per-step defaults (made once)."""
        key = (step, max_tokens, stop, n, temperature, seed)
        known = self._sampling_cache.get(key)
        if known is not None:
            return known
        user = self.options.sampling
        tokens = max_tokens or (user.max_tokens if user is not None else None) or self.pack.max_tokens.get(
            step, self.pack.max_tokens.get(step.split(":")[0], 16))
        base = user or SamplingParams()
        update: dict[str, Any] = {"max_tokens": tokens, "n": n, "stop": stop or base.stop}
        if temperature is not None:
            update["temperature"] = temperature
        if seed is not None:
            update["seed"] = seed
        known = self._sampling_cache[key] = base.model_copy(update=update)
        return known

    def parser_for(self, mode: str, part: str | None, spec: ParseSpec) -> Parser:
        if spec.kind == "yes_no" and mode != "principle":  # a binary criterion in pointwise mode
            return self.binary_parser
        name = self.pack.parser_name(mode, part)
        if name is None:
            raise JudgeError(f"format pack '{self.pack.name}' names no parser for '{self.pack.step(mode, part)}'")
        parser = self._parsers.get(name)
        if parser is None:
            parser = self._parsers[name] = self.registry.get("parsers", name)
        return parser

    # -- running --------------------------------------------------------------------------------

    async def run(self, item: Item, call: Call, rate: Rate | None = None) -> Judgment:
        """Judge one item; never raises for model trouble: that becomes the judgment's status."""
        started = time.perf_counter()
        given, verifiers = ItemRubric(self.rubric), self.verifiers
        try:
            if self.rubrics is not None:
                given = await self.rubrics.rubric_for(item, call)
                verifiers = self._verifiers(given.rubric)
            questions = self.questions(item, given.rubric)
        except RubricUnavailable as exc:
            return assemble(self, item, [], started, error=str(exc), given=ItemRubric(self.rubric, exc.note, exc.raw))
        except JudgeError as exc:
            return assemble(self, item, [], started, error=str(exc), given=given)
        if len(questions) == 1:  # the common RL case: one verdict, no gather machinery
            answers = [await self._answer(questions[0], call, rate, verifiers)]
        else:
            answers = list(await asyncio.gather(*(self._answer(q, call, rate, verifiers) for q in questions)))
        return assemble(self, item, answers, started, given=given)

    async def _answer(self, question: Question, call: Call, rate: Rate | None, verifiers: dict[str, BoundVerifier]) -> Answer:
        """The strategy's answer to one question, retried within the budget while unparsed; a
        criterion with a verifier that can tell is decided by it, with no model call."""
        record = Record(trace=[] if self.strategy_options.trace else None)
        bound = verifiers.get(question.criterion.id) if question.criterion is not None else None
        if bound is not None:
            decided = await asyncio.to_thread(self._verify, bound, question)  # a symbolic check may take a while
            if decided is not None:
                return Answer(question, decided, record, decided_by=bound.name)
        attempts = 0
        parsed: Parsed | None = None
        for attempt in range(self.strategy_options.retries + 1):
            attempts += 1
            try:
                parsed = await self.strategy.decide(StrategyContext(self, question, call, rate, record, attempt))
            except (StepFailed, JudgeError) as exc:  # a failed call, or an item its templates cannot show
                parsed = Parsed(status=Status.error, reason=str(exc))
                break
            if parsed.status is not Status.unparsed:
                break
        if attempts > 1:
            record.detail["attempts"] = attempts
        assert parsed is not None  # the loop runs at least once
        return Answer(question, parsed, record, attempts - 1)

    def _verify(self, bound: BoundVerifier, question: Question) -> Parsed | None:
        """The verifier's decision as an answer on the question's scale (pass: Yes or the top
        point; fail: No or the bottom), None when it cannot tell; a verifier that crashes is an
        error of this verdict, never a silent pass."""
        text = content_text(question.item.responses[question.response])
        try:
            check = bound.check(text, question.item)
        except Exception as exc:  # a verifier's bug: this verdict fails, with the reason
            return Parsed(status=Status.error, reason=f"verifier '{bound.name}' failed: {type(exc).__name__}: {exc}")
        if check is None:
            return None
        if question.spec.kind == "yes_no":
            value = 1.0 if check.passed else 0.0
        else:
            low, high = self._scale(question.criterion)  # type: ignore[arg-type]
            value = float(high if check.passed else low)
        return Parsed(status=Status.ok, value=value, reason=check.reason)

    # -- questions ------------------------------------------------------------------------------

    def probability_candidates(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(key, owner, answers) for every set of answers whose exact probabilities decide verdicts.

        The key is a criterion's scale (`scale_key`: binary, 1-5), or `pairwise`: what `whole` and
        `from_text` name. Criteria on one scale share its answers, so each scale is listed once.
        """
        if self.mode == "listwise" or (self.mode == "pairwise" and self.pack.scale is not None):
            return []
        prefix_of = getattr(self.strategy, "candidate_prefix", None)
        prefix = prefix_of(self.pack) if prefix_of is not None else ""
        if self.mode == "pairwise":
            if not self.use_probabilities:
                return []
            labels = tuple(prefix + label for label in self.pack.labels)  # an item of N responses reads labels[:N]
            return [("pairwise", "pairwise mode's labels", labels[:2])] + [
                ("pairwise", f"pairwise mode's labels for {count} responses", labels[:count])
                for count in range(3, len(labels) + 1)
            ]
        found: list[tuple[str, str, tuple[str, ...]]] = []
        seen: set[str] = set()
        for criterion in self.rubric.criteria:
            key = self._answer_key(criterion)
            if key in seen:
                continue
            seen.add(key)
            if key == "binary":
                if self.mode == "principle" or self.use_probabilities:
                    found.append((key, f"criterion '{criterion.id}'", (prefix + self.pack.yes, prefix + self.pack.no)))
            elif self.use_probabilities:
                low, high = self._scale(criterion)
                points = tuple(prefix + str(p) for p in range(low, high + 1))
                found.append((key, f"criterion '{criterion.id}' (scale {low}-{high})", points))
        return found

    def _answer_key(self, criterion: Criterion) -> str:
        """Which answers a criterion's verdict reads: Yes/No in principle mode, else its scale's."""
        return "binary" if self.mode == "principle" else scale_key(criterion)

    def _scale(self, criterion: Criterion) -> tuple[int, int]:
        """The points a score is asked on: the format's own scale where it fixes one, else the criterion's."""
        if self.pack.scale is not None:
            return self.pack.scale
        return criterion.scale.min, criterion.scale.max  # type: ignore[union-attr]

    def questions(self, item: Item, rubric: Rubric | None = None) -> list[Question]:
        check_prompt(item)
        rubric = rubric or self.rubric
        variables = self._variables(item, rubric)
        count = len(item.responses)
        if self.mode == "pairwise":
            check_count(count, self.pack)
            spec = self._pair_spec(count)
            return [
                Question("pairwise-swapped" if index else "pairwise", "pairwise", item, variables, spec, order)
                for index, order in enumerate(orders(count, self.options.both_orders))
            ]
        if self.mode == "listwise":
            if count < 2:
                raise JudgeError(f"listwise mode needs at least 2 responses, item has {count}")
            low, high = self.pack.scale or LISTWISE_SCALE
            spec = ParseSpec(kind="ranking", candidates=tuple(str(i + 1) for i in range(count)), use_probabilities=False,
                             count=count, low=low, high=high)
            return [Question("listwise", "listwise", item, variables, spec, tuple(range(count)))]
        return [self._criterion_question(item, variables, index, criterion)
                for index in range(count) for criterion in rubric.criteria]

    def _pair_spec(self, count: int) -> ParseSpec:
        labels = tuple(self.pack.labels[:count])
        if self.pack.scale is not None:  # the format scores each response (DeepSeek-GRM): read from text
            low, high = self.pack.scale
            return ParseSpec(kind="scores", candidates=labels, use_probabilities=False, count=count, low=low, high=high)
        return ParseSpec(kind="choice", candidates=labels, use_probabilities=self.use_probabilities, count=count)

    def _criterion_question(self, item: Item, variables: dict[str, Any], index: int, criterion: Criterion) -> Question:
        principle = self.mode == "principle"
        binary = principle or criterion.binary
        if binary:
            points: list[str] = []
            candidates = (self.pack.yes, self.pack.no)
        else:
            low, high = self._scale(criterion)
            points = [str(p) for p in range(low, high + 1)]
            candidates = tuple(points)
        key = self._answer_key(criterion)
        use_probabilities = (self.use_probabilities or principle) and key not in self.from_text
        spec = ParseSpec(kind="yes_no" if binary else "score", candidates=candidates, use_probabilities=use_probabilities)
        name = criterion.id if len(item.responses) == 1 else f"{criterion.id}@{index}"
        variables = variables | {"response": item.responses[index], "criterion": criterion, "binary": binary, "points": points}
        return Question(name, self.mode, item, variables, spec, (), index, criterion, whole=key in self.whole)

    def _variables(self, item: Item, rubric: Rubric) -> dict[str, Any]:
        prompt_messages = (
            [Message(role="user", content=item.prompt)] if isinstance(item.prompt, str) else item.prompt
        )
        # An item's system message instructed the assistant, not the judge: templates quote it as
        # `system_prompt` and replay `conversation`; `prompt_messages` (everything) is there for a
        # template that deliberately wants the item's system turn as its own.
        system = [content_text(m.content) for m in prompt_messages if m.role == "system"]
        return {
            "item": item,
            "prompt": item.prompt_text,
            "prompt_messages": prompt_messages,
            "conversation": [m for m in prompt_messages if m.role != "system"],
            "system_prompt": "\n\n".join(system) or None,
            "reference": item.reference,
            "context": item.context,
            "rubric": rubric,
            "yes": self.pack.yes,
            "no": self.pack.no,
            "labels": self.pack.labels,
            "scale": self.pack.scale or (LISTWISE_SCALE if self.mode == "listwise" else None),
        }

    def _check_nothing_dropped(self, item: Item, responses: list[Any], messages: list[Message], template: str) -> None:
        """An image (or any non-text part) the template does not pass on would be judged unseen."""
        given = media_parts([item.prompt, item.reference, *item.context, *responses])
        if not given:
            return
        shown = media_parts([m.content for m in messages])
        if len(shown) < len(given):
            kinds = ", ".join(sorted(set(given)))
            raise JudgeError(
                f"the item has {len(given)} non-text part(s) ({kinds}) but template '{template}' of format pack "
                f"'{self.pack.name}' shows the judge {len(shown)}: it would judge content it cannot see "
                f"({self.mode} mode of this pack reads text only; try a mode or format pack that passes content parts)"
            )


def check_prompt(item: Item) -> None:
    """A prompt with nothing to answer cannot be judged: an empty text, an empty or system-only chat."""
    if isinstance(item.prompt, str):
        if not item.prompt.strip():
            raise JudgeError("the prompt is empty: there is nothing the response could answer")
        return
    if not item.prompt:
        raise JudgeError("the prompt is an empty chat (no messages)")
    if not any(m.role == "user" for m in item.prompt):
        roles = ", ".join(sorted({m.role for m in item.prompt}))
        raise JudgeError(f"the prompt chat has no user message (only: {roles}): there is nothing the response answers")


def media_parts(values: list[Any]) -> list[str]:
    """The types of the non-text content parts in some content values (and chat messages)."""
    found: list[str] = []
    for value in values:
        if isinstance(value, list):
            for entry in value:
                if isinstance(entry, Message):
                    found += media_parts([entry.content])
                elif isinstance(entry, dict) and entry.get("type", "text") != "text":
                    found.append(str(entry.get("type")))
    return found


def _use_probabilities(options: CompileOptions, exact: bool) -> bool:
    if options.mode == "listwise":
        if options.score_from == "probabilities":
            raise BackendError("listwise mode reads its scores and order from the judge's text; --score-from probabilities does not apply to it")
        return False
    if options.score_from == "text":
        if options.mode == "principle":
            raise BackendError("principle mode reads P(Yes) from token probabilities; --score-from text does not apply to it")
        return False
    if options.score_from == "probabilities" or options.mode == "principle":
        if not exact:
            raise BackendError(
                "this backend cannot give exact next-token probabilities, which "
                f"{'principle mode' if options.mode == 'principle' else '--score-from probabilities'} needs; "
                "use a backend that can (transformers, vllm, or openai against a vLLM server)"
                + ("" if options.mode == "principle" else ", or --score-from text")
            )
        return True
    return exact


def compile_program(
    rubric: Rubric, options: CompileOptions, registry: Registry, exact_candidates: bool,
    capabilities: Capabilities | None = None, has_meta: bool = False, rubrics: RubricSource | None = None,
) -> Program:
    """Build the program for a rubric (or a source of per-item rubrics), mode and strategy;
    fails early on unknown packs, parsers, modes, strategies, and on pairs of them that cannot run."""
    return Program(rubric, options, registry, exact_candidates, capabilities, has_meta, rubrics)
