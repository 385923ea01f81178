"""Verifiers decide hard rules before any model call: "answer in under 50 words" and "respond in
valid JSON" at their boundaries, the other first-party checks, and how the engine uses them (no
model call, `decided_by`, bad arguments refused at compile, a crash is an error, None defers)."""

from __future__ import annotations

import json

import pytest

from judge import Item, Judge, Rubric, Status
from judge.errors import JudgeError
from judge.hookspecs import hookimpl
from judge.plugins import Registry
from judge.rubric import Criterion, load_rubric
from judge.verifiers import Check, VerifierSpec
from judge_fake.backend import FakeBackend
from judge_standard.verifiers import VERIFIERS, count_sentences, count_words

BY_NAME = {v.name: v for v in VERIFIERS}
ITEM = Item(id="x", prompt="p", responses=["r"])


def check(_name: str, _text: str, **args) -> Check:
    verifier = BY_NAME[_name]
    result = verifier.function(_text, verifier.arguments.model_validate(args), ITEM)
    assert result is not None
    return result


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


@pytest.mark.parametrize(("n", "passed"), [(0, True), (49, True), (50, False), (51, False)])
def test_under_50_words_at_the_boundary(n, passed):
    result = check("words", words(n), max=49)
    assert result.passed is passed and result.reason == f"{n} words (at most 49 allowed)"


def test_what_a_word_is():
    assert count_words("Don't over-think it: 3.5 apples, e.g. two!") == 9  # don't over-think it 3 5 apples e g two
    assert count_words("") == 0 and count_words("  \n ") == 0
    assert count_words("well-known rock'n'roll") == 2


@pytest.mark.parametrize(("text", "passed"), [
    ('{"a": 1}', True),
    ("[1, 2]", True),
    ('  {"a": 1}\n', True),
    ('```json\n{"a": 1}\n```', True),
    ('{"a": 1,}', False),
    ("{'a': 1}", False),
    ('Here it is: {"a": 1}', False),
    ("", False),
    ('{"a": 1} {"b": 2}', False),
])
def test_valid_json_at_the_boundary(text, passed):
    assert check("json", text).passed is passed


def test_json_against_a_schema_says_where_it_fails():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert check("json", '{"n": 3}', schema=schema).passed
    failed = check("json", '{"n": "3"}', schema=schema)
    assert not failed.passed and failed.reason == "valid JSON, but n: '3' is not of type 'integer'"


def test_the_other_checks():
    assert check("characters", "abcde", max=5).passed and not check("characters", "abcdef", max=5).passed
    assert count_sentences("One. Two! Three?") == 3 and count_sentences("One. Two") == 2 and count_sentences("") == 0
    assert check("sentences", "One. Two.", min=2, max=2).passed
    assert check("paragraphs", "a\n\nb\n \nc", min=3).passed and not check("paragraphs", "a\nb", min=2).passed
    assert check("contains", "The Answer is 42.", phrases=["answer", "42"]).passed
    assert not check("contains", "answers only", phrases=["answer"]).passed  # whole words
    assert check("contains", "only x", phrases=["x", "y"], all=False).passed
    assert not check("forbids", "As an AI language model, I", phrases=["as an AI"]).passed
    assert check("regex", "call 555-1234", pattern=r"\d{3}-\d{4}").passed
    assert not check("regex", "call 555-1234", pattern=r"\d{3}-\d{4}", must_match=False).passed
    assert check("code_block", "x\n```python\nprint(1)\n```\n", language="python").passed
    assert not check("code_block", "```python\nprint(1\n```", language="python").passed
    assert not check("code_block", "no code here").passed
    assert check("starts_with", "  Dear Sir, hello", text="Dear Sir").passed
    assert not check("ends_with", "Thanks.", text="Thanks!").passed


RULES = Rubric(name="rules", criteria=[
    Criterion(id="short", text="The answer is under 50 words.", kind="hard_rule", scale="binary", high="short", low="long",
              verifier=VerifierSpec(name="words", args={"max": 49})),
    Criterion(id="json", text="The response is valid JSON.", kind="hard_rule", scale="binary", high="JSON", low="not JSON",
              verifier=VerifierSpec(name="json")),
    Criterion(id="helpful", text="Is it helpful?", high="very", low="not at all"),
])


def test_the_engine_decides_verified_rules_without_the_model_and_says_which():
    fake = FakeBackend()
    items = [Item(id="ok", prompt="Give JSON.", responses=[json.dumps({"w": words(40)})]),
             Item(id="long", prompt="Give JSON.", responses=[json.dumps({"w": words(59)})]),  # 60 with the key
             Item(id="prose", prompt="Give JSON.", responses=["Sure! Here is the JSON you asked for."])]
    judgments = {j.id: j for j in Judge(RULES, backend=fake).score(items)}
    assert len(fake.requests) == 3  # only `helpful`, once per item: the two rules asked the model nothing
    for judgment in judgments.values():
        by = {v.criterion: v for v in judgment.verdicts}
        assert by["short"].decided_by == "words" and by["json"].decided_by == "json" and by["helpful"].decided_by == "model"
    ok, long, prose = (judgments[k] for k in ("ok", "long", "prose"))
    assert [v.passed for v in ok.verdicts[:2]] == [True, True] and ok.scores[0] > 0
    long_short = next(v for v in long.verdicts if v.criterion == "short")
    assert long_short.passed is False and long_short.score == 0.0 and long_short.reason == "60 words (at most 49 allowed)"
    assert long.scores == [0.0]  # a failed hard rule decided by a program zeroes the score
    prose_json = next(v for v in prose.verdicts if v.criterion == "json")
    assert prose_json.passed is False and prose_json.reason.startswith("not valid JSON: Expecting value")


def test_a_rubric_file_names_its_verifier_and_bad_arguments_fail_at_compile(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("name: rules\ncriteria:\n  - id: short\n    kind: hard_rule\n    scale: binary\n    text: Under 50 words.\n"
                    "    high: short\n    low: long\n    verifier: {name: words, args: {max: 49}}\n")
    rubric = load_rubric(path)
    assert rubric.criteria[0].verifier == VerifierSpec(name="words", args={"max": 49})
    [judgment] = Judge(rubric, mode="principle", backend=FakeBackend()).score([Item(id="1", prompt="p", responses=[words(49)])])
    assert judgment.reward == 1.0 and judgment.usage.requests == 0
    path.write_text(path.read_text().replace("max: 49", "max: lots"))
    with pytest.raises(JudgeError, match="criterion 'short': verifier 'words' argument 'max': Input should be a valid integer"):
        Judge(load_rubric(path), backend=FakeBackend())
    path.write_text(path.read_text().replace("name: words", "name: wordz"))
    with pytest.raises(JudgeError, match="no verifier named 'wordz'"):
        Judge(load_rubric(path), backend=FakeBackend())


def test_a_verifier_that_cannot_tell_defers_to_the_model_and_one_that_crashes_is_an_error():
    from pydantic import BaseModel

    from judge.verifiers import Verifier

    class NoArgs(BaseModel):
        pass

    class Plugin:
        @staticmethod
        @hookimpl
        def register_verifiers(register):
            register(Verifier("unsure", "never decides", NoArgs, lambda text, args, item: None))
            register(Verifier("broken", "always raises", NoArgs, lambda text, args, item: 1 / 0))

    registry = Registry(allowed={"standard", "fake"})
    registry.register_module(Plugin(), name="test-verifiers")

    def rubric(name: str) -> Rubric:
        return Rubric(name="r", criteria=[Criterion(id="c", text="t", scale="binary", high="h", low="l",
                                                    verifier=VerifierSpec(name=name))])

    fake = FakeBackend()
    [deferred] = Judge(rubric("unsure"), mode="principle", backend=fake, registry=registry).score([ITEM])
    assert deferred.verdicts[0].decided_by == "model" and len(fake.requests) == 1
    [crashed] = Judge(rubric("broken"), mode="principle", backend=FakeBackend(), registry=registry).score([ITEM])
    assert crashed.status is Status.error and "verifier 'broken' failed: ZeroDivisionError" in crashed.error


def test_pairwise_mode_leaves_verifiers_to_the_comparison():
    fake = FakeBackend()
    Judge(RULES, mode="pairwise", backend=fake).score([Item(id="p", prompt="p", responses=["a", "b"])])
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("text", "language", "passed"), [
    ("The quick brown fox jumps over the lazy dog.", "en", True),
    ("Le renard brun saute par-dessus le chien paresseux.", "en", False),
    ("Der schnelle braune Fuchs springt über den faulen Hund.", "de", True),
    ("这是一个用中文写的句子，用来测试语言检测。", "zh-cn", True),
])
def test_the_language_of_a_response(text, language, passed):
    result = check("language", text, language=language)
    assert result.passed is passed and result.reason.startswith("detected ")


def test_a_text_too_short_to_tell_its_language_is_left_to_the_model():
    verifier = BY_NAME["language"]
    assert verifier.function("Hi there", verifier.arguments.model_validate({"language": "en"}), ITEM) is None
