"""Rubrics per item: generated once per prompt (--rubric auto), or read from a per-item folder.

The generator here is a test's own (`FakeChecklist`), driven by the in-process fake backend; the
first-party generators have their own tests, and the real models run them in test_generation_cli.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from judge.backend import Request
from judge.engine import Judge
from judge.errors import JudgeError
from judge.generation import Example, GenerationContext, GenerationRejected, generate
from judge.models import Item, Status
from judge.rubric import Criterion, Rubric
from judge.rubric_merge import write_rubric
from judge.rubric_sources import GeneratedRubrics, PerItemRubrics, item_file_name
from judge.strategy import StrategyOptions
from judge_fake.backend import FakeBackend

MARK = "Write the checklist"


class FakeChecklist:
    """A test generator: one call, each '- ' line of the answer a 1-5 criterion."""

    name = "fake-checklist"
    description = "test"
    version = "1"
    needs: tuple[str, ...] = ()
    produces = "rubric"

    async def generate(self, example: Example, ctx: GenerationContext) -> Rubric:
        from judge.models import Message

        text = await ctx.ask([Message(role="user", content=f"{MARK} for: {example.prompt_text}")])
        lines = [line[2:] for line in text.splitlines() if line.startswith("- ")]
        if not lines:
            raise GenerationRejected("no '- ' lines")
        return Rubric(name="fake", criteria=[Criterion(id=f"c{i}", text=t, high="good", low="bad") for i, t in enumerate(lines)])


def answer(request: Request) -> str:
    first = str(request.messages[0].content)
    if first.startswith(MARK):
        return "- Answers the question.\n- Is brief."
    return "4"


def generation_calls(backend: FakeBackend) -> list[Request]:
    return [r for r in backend.requests if str(r.messages[0].content).startswith(MARK)]


def auto_judge(backend: FakeBackend, **options) -> Judge:
    return Judge(GeneratedRubrics(FakeChecklist(), lambda: backend.model), backend=backend, **options)


def test_n_responses_to_one_prompt_with_k_samples_make_exactly_one_generation_call():
    backend = FakeBackend(answer, exact_candidates=False)
    judge = auto_judge(backend, strategy="vote", strategy_options=StrategyOptions(samples=3, trace=True))
    items = [Item(id=str(i), prompt="Name a prime.", responses=[f"{n}"]) for i, n in enumerate([2, 3, 5, 7])]
    judgments = judge.score(items)
    assert [j.status for j in judgments] == [Status.ok] * 4
    assert len(generation_calls(backend)) == 1
    assert all(len(j.verdicts) == 2 for j in judgments)  # the generated rubric's two criteria, judged
    notes = [j.trace[0] for j in judgments]
    assert all(n["step"] == "rubric" and n["generator"] == "fake-checklist" for n in notes)
    assert sorted(n["reused"] for n in notes) == [False, True, True, True]
    assert notes[0]["rubric"]["criteria"][1]["text"] == "Is brief."
    assert judgments[0].rubric == "auto:fake-checklist" and judgments[0].setup["rubric"] == "auto:fake-checklist"


def test_each_prompt_gets_its_own_generation_and_a_second_run_reuses_them():
    backend = FakeBackend(answer, exact_candidates=False)
    judge = auto_judge(backend)
    items = [Item(id=str(i), prompt=f"Question {i % 2}?", responses=["x"]) for i in range(6)]
    judge.score(items)
    assert len(generation_calls(backend)) == 2
    judge.score(items)  # the same judge, a new run (a new event loop): nothing generated again
    assert len(generation_calls(backend)) == 2


def test_a_prompt_the_generator_cannot_write_for_is_an_error_judgment_with_the_reason():
    backend = FakeBackend(lambda r: "no list here", exact_candidates=False)
    [judgment] = auto_judge(backend).score([Item(id="a", prompt="Hi?", responses=["Hello"])])
    assert judgment.status is Status.error
    assert "wrote no usable rubric for this prompt in 2 tries: no '- ' lines" in judgment.error
    assert len(generation_calls(backend)) == 2  # the two tries, then no model call to score
    assert [r.texts for r in judgment.raw] == [["no list here", "no list here"]]  # the raw texts are kept


def test_generate_retries_a_rejected_answer_sampled_with_a_seed_and_keeps_every_text():
    backend = FakeBackend(script=["nothing", "- Is correct."])

    async def call(request: Request):
        return (await backend.complete([request]))[0]

    result = asyncio.run(generate(FakeChecklist(), Example(id="e", prompt="2+2?"), call, tries=3, seed=5))
    assert result.rubric is not None and result.attempts == 2 and result.calls == 2
    assert result.problems == ["no '- ' lines"] and result.texts == ["nothing", "- Is correct."]
    first, second = backend.requests
    assert first.sampling.temperature == 0.0 and second.sampling.temperature == 0.7 and second.sampling.seed == 5 + 7919


def test_generate_drops_a_rubric_its_check_refuses_and_a_schema_break_with_the_field():
    backend = FakeBackend(text="- Fine.")

    async def call(request: Request):
        return (await backend.complete([request]))[0]

    async def refuse(rubric: Rubric) -> str:
        return "consistency filter: the pair came out the other way"

    refused = asyncio.run(generate(FakeChecklist(), Example(id="e", prompt="q"), call, tries=2, accept=refuse))
    assert refused.rubric is None and refused.attempts == 2 and refused.reason.startswith("consistency filter")

    class Broken(FakeChecklist):
        async def generate(self, example, ctx):
            await ctx.ask([])
            return Rubric.model_construct(name="b", criteria=[])  # built without validation: checked by the core

    broken = asyncio.run(generate(Broken(), Example(id="e", prompt="q"), call, tries=1))
    assert broken.rubric is None and broken.reason.startswith("not a valid rubric: field 'criteria'")


def test_a_folder_of_per_item_rubrics_judges_each_item_by_its_own(tmp_path: Path):
    folder = tmp_path / "rubrics"
    for item_id, text in [("a/1", "Mentions Paris."), ("b", "Mentions Rome.")]:
        rubric = Rubric(name=item_id, criteria=[Criterion(id="c1", text=text, scale="binary", high="Yes", low="No")])
        write_rubric(rubric, folder / item_file_name(item_id))
    assert (folder / "a%2F1.yaml").exists()
    backend = FakeBackend(text="Yes", exact_candidates=False)
    judge = Judge(PerItemRubrics(folder), backend=backend)
    items = [Item(id="a/1", prompt="Capital of France?", responses=["Paris"]),
             Item(id="b#r0", prompt="Capital of Italy?", responses=["Rome"], metadata={"eval": {"group": "b"}}),
             Item(id="c", prompt="?", responses=["x"])]
    first, second, missing = judge.score(items)
    assert first.status is Status.ok and second.status is Status.ok and first.rubric == "per-item:rubrics"
    shown = [str(r.messages) for r in backend.requests]
    assert any("Mentions Paris." in s for s in shown) and any("Mentions Rome." in s for s in shown)
    assert missing.status is Status.error and "no rubric for item 'c'" in missing.error


def test_a_per_item_folder_that_is_empty_or_not_a_folder_is_refused(tmp_path: Path):
    with pytest.raises(JudgeError, match="holds no rubric files"):
        PerItemRubrics(tmp_path)
    with pytest.raises(JudgeError, match="is not a folder"):
        PerItemRubrics(tmp_path / "nowhere")
