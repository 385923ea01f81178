"""The compiler: a rubric or principles plus a mode become a reusable prompt program.

A program is built once and run for every item. Running it is a coroutine that awaits model
calls through `call`, so many items advance side by side, each at its own pace, and a later
multi-turn or tool strategy is just another coroutine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from judge.backend import Completion, Request, SamplingParams
from judge.errors import BackendError, JudgeError
from judge.formats import FormatPack
from judge.models import Item, Judgment, Message, RawOutput, Status, Usage, Verdict, content_text
from judge.pairwise import check_count, in_item_order, orders, unique_best
from judge.parsing import ParseSpec, Parsed
from judge.plugins import Registry
from judge.rubric import Criterion, Rubric
from judge.templates import render_messages

Call = Callable[[Request], Awaitable[Completion]]
ScoreFrom = Literal["auto", "probabilities", "text"]
MODES = ("pointwise", "pairwise", "principle")


@dataclass(frozen=True)
class CompileOptions:
    mode: str = "pointwise"
    format_pack: str = "default"
    aggregator: str = "weighted_mean"
    score_from: ScoreFrom = "auto"
    both_orders: bool = False
    sampling: SamplingParams | None = None


@dataclass
class _Step:
    """One model call of a program, and how to read its answer."""

    name: str
    request: Request
    spec: ParseSpec
    criterion: Criterion | None
    response: int
    swapped: bool = False
    order: tuple[int, ...] = ()  # pairwise: the item's index of the response shown at each position


class Program:
    """A compiled judge: templates, sampling, parsers and aggregation for one rubric and mode."""

    def __init__(self, rubric: Rubric, options: CompileOptions, registry: Registry, exact: bool) -> None:
        if options.mode not in MODES:
            raise JudgeError(f"unknown mode '{options.mode}' (modes: {', '.join(MODES)})")
        self.rubric = rubric
        self.options = options
        self.pack: FormatPack = registry.get("format_packs", options.format_pack)
        if options.mode not in self.pack.templates:
            raise JudgeError(f"format pack '{self.pack.name}' has no template for mode '{options.mode}'")
        if options.mode not in self.pack.parsers:
            raise JudgeError(f"format pack '{self.pack.name}' names no parser for mode '{options.mode}'")
        if options.mode == "pairwise" and len(self.pack.labels) < 2:
            raise JudgeError(f"format pack '{self.pack.name}' has {len(self.pack.labels)} label(s); pairwise mode needs at least 2")
        self.parser = registry.get("parsers", self.pack.parsers[options.mode])
        self.binary_parser = registry.get("parsers", self.pack.parsers.get("principle", "yes_no"))
        self.aggregate = registry.get("aggregators", options.aggregator)
        self.exact = exact
        self.use_probabilities = _use_probabilities(options, exact)
        self._sampling_by_step: dict[str, SamplingParams] = {}
        self.stamp: dict[str, Any] = {}  # fields every judgment carries (model, setup): set by the Judge

    @property
    def mode(self) -> str:
        return self.options.mode

    async def run(self, item: Item, call: Call) -> Judgment:
        """Judge one item; never raises for model trouble: that becomes the judgment's status."""
        started = time.perf_counter()
        try:
            steps = self._steps(item)
        except JudgeError as exc:
            return self._judgment(item, Status.error, error=str(exc), started=started)
        if len(steps) == 1:  # the common RL case: one verdict, no gather machinery
            completions = [await call(steps[0].request)]
        else:
            completions = list(await asyncio.gather(*(call(step.request) for step in steps)))
        return self._judge(item, steps, completions, started)

    # -- building the steps -------------------------------------------------------------------

    def probability_candidates(self) -> list[tuple[str, tuple[str, ...]]]:
        """The answers whose exact probabilities decide verdicts, each with what asks for them."""
        if self.mode == "pairwise":
            if not self.use_probabilities:
                return []
            labels = self.pack.labels  # an item of N responses reads labels[:N]
            return [("pairwise mode's labels", tuple(labels[:2]))] + [
                (f"pairwise mode's labels for {count} responses", tuple(labels[:count])) for count in range(3, len(labels) + 1)
            ]
        found: list[tuple[str, tuple[str, ...]]] = []
        for criterion in self.rubric.criteria:
            if self.mode == "principle" or criterion.binary:
                if self.mode == "principle" or self.use_probabilities:
                    found.append((f"criterion '{criterion.id}'", (self.pack.yes, self.pack.no)))
            elif self.use_probabilities:
                scale = criterion.scale
                points = tuple(str(p) for p in scale.points())  # type: ignore[union-attr]
                found.append((f"criterion '{criterion.id}' (scale {scale.min}-{scale.max})", points))  # type: ignore[union-attr]
        return found

    def _steps(self, item: Item) -> list[_Step]:
        check_prompt(item)
        if self.mode == "pairwise":
            check_count(len(item.responses), self.pack)
            shown = orders(len(item.responses), self.options.both_orders)
            return [self._pair_step(item, order, swapped=index > 0) for index, order in enumerate(shown)]
        return [
            self._criterion_step(item, index, criterion)
            for index in range(len(item.responses))
            for criterion in self.rubric.criteria
        ]

    def _variables(self, item: Item) -> dict[str, Any]:
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
            "rubric": self.rubric,
            "yes": self.pack.yes,
            "no": self.pack.no,
            "labels": self.pack.labels,
        }

    def _sampling(self, step: str) -> SamplingParams:
        if self.options.sampling is not None:
            return self.options.sampling
        known = self._sampling_by_step.get(step)
        if known is None:
            known = self._sampling_by_step[step] = SamplingParams(max_tokens=self.pack.max_tokens.get(step, 16))
        return known

    def _criterion_step(self, item: Item, index: int, criterion: Criterion) -> _Step:
        step_kind = "principle" if self.mode == "principle" else "pointwise"
        binary = step_kind == "principle" or criterion.binary
        variables = self._variables(item) | {
            "response": item.responses[index],
            "criterion": criterion,
            "binary": binary,
            "points": [] if binary else [str(p) for p in criterion.scale.points()],  # type: ignore[union-attr]
        }
        messages = render_messages(self.pack.template_dirs, self.pack.templates[step_kind], variables)
        self._check_nothing_dropped(item, [item.responses[index]], messages, self.pack.templates[step_kind])
        candidates = (self.pack.yes, self.pack.no) if binary else tuple(variables["points"])
        use_probabilities = self.use_probabilities or step_kind == "principle"
        spec = ParseSpec(kind="yes_no" if binary else "score", candidates=candidates, use_probabilities=use_probabilities)
        # Built from validated parts (rendered messages, cached sampling, the pack's candidates):
        # constructing skips a second validation of every message on the hot path.
        request = Request.model_construct(
            messages=tuple(messages),
            sampling=self._sampling(step_kind),
            candidates=candidates if use_probabilities else (),
        )
        name = f"{criterion.id}" if len(item.responses) == 1 else f"{criterion.id}@{index}"
        return _Step(name, request, spec, criterion, index)

    def _pair_step(self, item: Item, order: tuple[int, ...], swapped: bool) -> _Step:
        shown = [item.responses[index] for index in order]
        variables = self._variables(item) | {"responses": shown}
        if len(shown) == 2:  # a two-way template names them; with more, only `responses` exists
            variables |= {"response_a": shown[0], "response_b": shown[1]}
        messages = render_messages(self.pack.template_dirs, self.pack.templates["pairwise"], variables)
        self._check_nothing_dropped(item, list(item.responses), messages, self.pack.templates["pairwise"])
        candidates = tuple(self.pack.labels[: len(shown)])
        spec = ParseSpec(kind="choice", candidates=candidates, use_probabilities=self.use_probabilities)
        request = Request.model_construct(
            messages=tuple(messages),
            sampling=self._sampling("pairwise"),
            candidates=candidates if self.use_probabilities else (),
        )
        return _Step("pairwise-swapped" if swapped else "pairwise", request, spec, None, 0, swapped, order)

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

    # -- reading the answers ------------------------------------------------------------------

    def _judge(self, item: Item, steps: list[_Step], completions: list[Completion], started: float) -> Judgment:
        usage = Usage.model_construct(**{
            field: sum(getattr(c.usage, field) for c in completions)
            for field in ("prompt_tokens", "completion_tokens", "requests", "cached_requests")
        })
        raw: list[RawOutput] = []
        errors: list[str] = []
        parsed: list[Parsed] = []
        for step, completion in zip(steps, completions):
            raw.append(RawOutput.model_construct(step=step.name, texts=completion.texts, finish_reasons=completion.finish_reasons))
            if completion.error is not None:
                errors.append(f"{step.name}: {completion.error}")
                parsed.append(Parsed(status=Status.error, reason=completion.error))
                continue
            parser = self.binary_parser if step.spec.kind == "yes_no" else self.parser
            parsed.append(parser(completion, step.spec))
        if errors:
            return self._judgment(item, Status.error, error="; ".join(errors), raw=raw, usage=usage, started=started)
        if self.mode == "pairwise":
            return self._judge_pair(item, steps, parsed, raw, usage, started)
        return self._judge_criteria(item, steps, parsed, raw, usage, started)

    def _judge_criteria(self, item, steps, parsed, raw, usage, started) -> Judgment:  # type: ignore[no-untyped-def]
        verdicts: list[Verdict] = []
        for step, answer in zip(steps, parsed):
            criterion: Criterion = step.criterion
            score = passed = None
            if answer.status is Status.ok and answer.value is not None:
                score = answer.value
                if step.spec.kind == "yes_no":
                    passed = answer.value >= 0.5
            verdicts.append(Verdict.model_construct(
                criterion=criterion.id,
                response=step.response,
                status=answer.status,
                score=score,
                passed=passed,
                probabilities=answer.probabilities,
                step=step.name,
                reason=answer.reason,
            ))
        scores: list[float | None] = []
        for index in range(len(item.responses)):
            own = [v for v in verdicts if v.response == index]
            scores.append(self.aggregate(own, self.rubric) if all(v.status is Status.ok for v in own) else None)
        status = Status.ok if all(v.status is Status.ok for v in verdicts) else Status.unparsed
        reward = scores[0] if self.mode == "principle" else None
        return self._judgment(item, status, raw=raw, usage=usage, started=started, verdicts=verdicts, scores=scores, reward=reward)

    def _judge_pair(self, item, steps, parsed, raw, usage, started) -> Judgment:  # type: ignore[no-untyped-def]
        """`scores`: P(each response is the best), in the item's order, averaged over the orders judged;
        `preferred`: the strictly best one (None on a tie). Each verdict's score is P(response 0 wins)."""
        labels = steps[0].spec.candidates
        verdicts: list[Verdict] = []
        preferences: list[list[float] | None] = []
        for step, answer in zip(steps, parsed):
            probs = None
            if answer.probabilities is not None:
                probs = in_item_order([answer.probabilities[label] for label in labels], step.order)
            elif answer.choice is not None:
                probs = in_item_order([1.0 if label == answer.choice else 0.0 for label in labels], step.order)
            preferences.append(probs)
            verdicts.append(
                Verdict(
                    criterion="preference",
                    status=answer.status,
                    probabilities=answer.probabilities,
                    score=None if probs is None else probs[0],
                    step=step.name,
                    reason=answer.reason,
                )
            )
        if any(p is None for p in preferences):
            return self._judgment(item, Status.unparsed, raw=raw, usage=usage, started=started, verdicts=verdicts)
        mean = [sum(p[i] for p in preferences) / len(preferences) for i in range(len(labels))]  # type: ignore[index]
        judgment = self._judgment(item, Status.ok, raw=raw, usage=usage, started=started, verdicts=verdicts,
                                  scores=mean, preferred=unique_best(mean))
        if len(preferences) == 2:
            firsts = [unique_best(p) for p in preferences]  # type: ignore[arg-type]
            judgment.metadata["position_consistent"] = firsts[0] == firsts[1]
        return judgment

    def _judgment(self, item: Item, status: Status, *, error: str | None = None, raw=None, usage=None, started: float, **fields: Any) -> Judgment:  # type: ignore[no-untyped-def]
        # Every value here was built and checked by this program: constructing skips revalidating
        # the verdicts, raw texts and usage on the hot path (the output is validated when read back).
        stamp = {key: dict(value) if isinstance(value, dict) else value for key, value in self.stamp.items()}
        return Judgment.model_construct(
            id=item.id,
            status=status,
            mode=self.mode,
            rubric=self.rubric.name,
            raw=raw or [],
            usage=usage or Usage(),
            error=error,
            latency_s=round(time.perf_counter() - started, 4),
            metadata=dict(item.metadata),
            **stamp,
            **fields,
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


def compile_program(rubric: Rubric, options: CompileOptions, registry: Registry, exact_candidates: bool) -> Program:
    """Build the program for a rubric and mode; fails early on unknown packs, parsers or modes."""
    return Program(rubric, options, registry, exact_candidates)
