"""`judge rubric generate`'s run, with the in-process fake backend standing in for the model: the
consistency filter, the merged file and the per-item folder (resumed), the report, bad input."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from judge.backend import Request
from judge.errors import InputError
from judge.generation import Example, GenerationContext, GenerationRejected
from judge.generation_run import GenerationRun
from judge.models import Message
from judge.rubric import Criterion, Rubric, load_rubric
from judge.rubric_commands import read_feedback
from judge.rubric_sources import PerItemRubrics
from judge_fake.backend import FakeBackend

MARK = "Contrast these"


class FakeContrast:
    """A test generator: asks once, each '- ' line a criterion (lines with 'rule' a binary hard rule)."""

    name = "fake-contrast"
    description = "test"
    version = "1"
    needs = ("chosen", "rejected")
    produces = "rubric"

    async def generate(self, example: Example, ctx: GenerationContext) -> Rubric:
        text = await ctx.ask([Message(role="user", content=f"{MARK}: {example.prompt_text}")])
        lines = [line[2:] for line in text.splitlines() if line.startswith("- ")]
        if not lines:
            raise GenerationRejected("no '- ' lines")
        return Rubric(name="x", criteria=[
            Criterion(id=f"c{i}", text=t, kind="hard_rule" if "rule" in t else "principle",
                      scale="binary" if "rule" in t else {"min": 1, "max": 5}, high="Yes", low="No")
            for i, t in enumerate(lines)])


def judge_that_prefers(word: str, generation: str = "- Is correct.\n- Follows the rule of brevity.") -> FakeBackend:
    """Generation requests get `generation`; a pairwise request gets the label of the response holding `word`."""

    def answer(request: Request) -> str:
        shown = " ".join(str(m.content) for m in request.messages)
        if shown.startswith(MARK):
            return generation
        a, b = shown.find("Response A"), shown.find("Response B")
        at = shown.find(word)
        return "A" if a <= at < b else "B"

    return FakeBackend(answer, exact_candidates=False)


def args_for(tmp_path: Path, **given) -> argparse.Namespace:
    defaults = dict(input="pairs.jsonl", output=str(tmp_path / "task.yaml"), per_item=False, max_criteria=12,
                    overwrite=False, report=None, limit=None, quiet=True, tries=2, max_tokens=64, seed=0,
                    backend="fake", model=None, base_url=[], option=[], no_cache=True, no_filter=False)
    return argparse.Namespace(**(defaults | given))


def examples() -> list[Example]:
    return [Example(id=f"e{i}", prompt=f"Question {i}?", chosen=f"GOOD answer {i}", rejected=f"BAD answer {i}") for i in range(3)]


def run(args: argparse.Namespace, backend: FakeBackend, given: list[Example] | None = None):
    job = GenerationRun(args, FakeContrast(), given or examples())
    job.backend = lambda: backend  # type: ignore[method-assign]
    return asyncio.run(job.run())


def test_rubrics_that_reproduce_the_preference_are_kept_and_merged_into_one_file(tmp_path):
    backend = judge_that_prefers("GOOD")
    outcome = run(args_for(tmp_path), backend)
    assert outcome.kept == 3 and "kept 3, dropped 0" in outcome.summary()
    assert "3 attempts (3 generation calls, 6 for the consistency filter)" in outcome.summary()
    rubric = load_rubric(tmp_path / "task.yaml")
    assert [c.text for c in rubric.criteria] == ["Is correct.", "Follows the rule of brevity."]  # duplicates merged
    assert rubric.criteria[1].kind == "hard_rule" and rubric.criteria[1].binary
    pairwise = [r for r in backend.requests if "Response A" in str(r.messages)]
    assert len(pairwise) == 6  # each example's pair judged in both orders


def test_a_rubric_under_which_the_judge_prefers_the_rejected_response_is_dropped_after_its_tries(tmp_path):
    outcome = run(args_for(tmp_path, report=None), judge_that_prefers("BAD"))
    assert outcome.kept == 0 and not (tmp_path / "task.yaml").exists()
    assert "dropped 3 (3 consistency filter)" in outcome.summary()
    assert outcome.results[0].attempts == 2
    assert outcome.dropped_lines()[0] == ("dropped 'e0' after 2 attempt(s): consistency filter: judged with this "
                                          "rubric, the pair came out the rejected response")


def test_per_item_writes_a_file_per_kept_example_and_a_rerun_skips_them(tmp_path):
    folder = tmp_path / "rubrics"
    outcome = run(args_for(tmp_path, output=str(folder), per_item=True), judge_that_prefers("GOOD"))
    assert outcome.kept == 3 and sorted(p.name for p in folder.iterdir()) == ["e0.yaml", "e1.yaml", "e2.yaml"]
    assert PerItemRubrics(folder).rubrics["e1.yaml"].name == "e1"
    again = judge_that_prefers("GOOD")
    more = examples() + [Example(id="e3", prompt="Q3?", chosen="GOOD", rejected="BAD")]
    second = run(args_for(tmp_path, output=str(folder), per_item=True), again, more)
    assert second.skipped == 3 and second.kept == 1 and len(again.requests) == 1 + 2  # e3 only: generation + filter


def test_without_the_filter_every_valid_rubric_is_kept_and_an_unreadable_one_is_dropped(tmp_path):
    outcome = run(args_for(tmp_path, no_filter=True), judge_that_prefers("BAD", generation="no list"))
    assert outcome.kept == 0 and outcome.results[0].problems == ["no '- ' lines"] * 2
    rows = outcome.report_rows()
    assert rows[0]["texts"] == ["no list", "no list"] and rows[0]["kept"] is False


def test_feedback_rows_missing_a_field_name_the_file_and_line(tmp_path):
    path = tmp_path / "feedback.jsonl"
    path.write_text(json.dumps({"prompt": "p", "response": "r", "feedback": "Too long."}) + "\n"
                    + json.dumps({"prompt": "p", "response": "r"}) + "\n")
    with pytest.raises(InputError, match=r"feedback.jsonl:2: field 'feedback' is required"):
        read_feedback(str(path))
    path.write_text(json.dumps({"prompt": "p", "feedback": "x"}) + "\n")
    with pytest.raises(InputError, match=r"feedback.jsonl:1: field 'response' \(or 'responses'\) is required"):
        read_feedback(str(path))
    path.write_text(json.dumps({"id": 7, "prompt": "p", "response": "r", "feedback": ["Clear.", "Cites no source."]}) + "\n")
    [example] = read_feedback(str(path))
    assert example.id == "7" and example.feedback == ["Clear.", "Cites no source."]
