"""Unit tests for rubrics: shipped files load, and every malformed file names file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from judge.errors import JudgeError, RubricError
from judge.rubric import Criterion, Rubric, Scale, load_rubric, parse_rubric, resolve_rubric, shipped_rubrics

EXPECTED_SHIPPED = {
    "code-quality",
    "factuality",
    "harmlessness",
    "helpfulness",
    "instruction-following",
    "math-reasoning",
    "rlbff-principles",
    "meta-critique",
}


def write(tmp_path: Path, body: str, name: str = "rubric.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def load_error(path: Path) -> RubricError:
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    return info.value


# -- shipped rubrics -----------------------------------------------------------------------------


def test_shipped_rubric_names():
    assert set(shipped_rubrics()) == EXPECTED_SHIPPED


@pytest.mark.parametrize("name", sorted(EXPECTED_SHIPPED))
def test_every_shipped_rubric_loads_and_is_named_after_its_file(name):
    path = shipped_rubrics()[name]
    rubric = load_rubric(path)
    assert rubric.name == path.stem == name
    assert rubric.description.strip()
    assert rubric.criteria
    assert rubric.source == str(path)
    for criterion in rubric.criteria:
        assert criterion.text.strip() and criterion.high.strip() and criterion.low.strip()
        assert criterion.weight > 0
        if criterion.kind == "hard_rule":
            assert criterion.binary


def test_rlbff_principles_are_all_binary():
    rubric = load_rubric("rlbff-principles")
    assert all(c.binary for c in rubric.criteria)


def test_load_by_name_and_by_path_agree(tmp_path):
    by_name = load_rubric("helpfulness")
    by_path = load_rubric(shipped_rubrics()["helpfulness"])
    by_str_path = load_rubric(str(shipped_rubrics()["helpfulness"]))
    assert by_name == by_path == by_str_path
    assert [c.id for c in by_name.criteria] == [
        "addresses_request", "correctness", "completeness", "clarity_and_concision", "no_unwarranted_refusal"
    ]
    assert by_name.criteria[0].weight == 3
    assert by_name.criteria[0].scale == Scale(min=1, max=5)
    assert by_name.criteria[-1].binary
    assert by_name.criteria[-1].kind == "hard_rule"


GOOD = """
name: mine
description: A small rubric.
criteria:
  - id: tone
    text: Is the tone polite?
    high: Polite throughout.
    low: Rude.
  - id: has_source
    kind: hard_rule
    weight: 2.5
    scale: binary
    text: Cites a source.
    high: Yes.
    low: No.
"""


def test_load_user_file_by_path_with_defaults(tmp_path):
    path = write(tmp_path, GOOD, "mine.yaml")
    rubric = load_rubric(str(path))
    assert rubric.name == "mine"
    assert rubric.source == str(path)
    tone, source = rubric.criteria
    assert (tone.kind, tone.weight, tone.scale, tone.binary) == ("principle", 1.0, Scale(min=1, max=5), False)
    assert (source.kind, source.weight, source.scale, source.binary) == ("hard_rule", 2.5, "binary", True)


def test_yml_suffix_is_a_path(tmp_path):
    path = write(tmp_path, GOOD, "mine.yml")
    assert load_rubric(path).name == "mine"


def test_missing_path_is_a_rubric_error(tmp_path):
    error = load_error(tmp_path / "absent.yaml")
    assert str(tmp_path / "absent.yaml") in str(error)
    assert "no such file" in str(error)


def test_unknown_name_lists_shipped_names():
    with pytest.raises(RubricError) as info:
        resolve_rubric("helpfullness")
    message = str(info.value)
    assert "helpfullness" in message
    for name in EXPECTED_SHIPPED:
        assert name in message


# -- malformed files -----------------------------------------------------------------------------


def test_missing_text_names_file_line_and_field(tmp_path):
    path = write(
        tmp_path,
        """
        name: bad
        description: x
        criteria:
          - id: a
            text: first
            high: h
            low: l
          - id: b
            high: h
            low: l
        """,
    )
    error = load_error(path)
    assert error.path == str(path)
    assert error.line == 8  # the line of the second criterion, where `text` belongs
    assert error.field == "criteria.1.text"
    message = str(error)
    assert f"{path}:8:" in message
    assert "criteria.1.text" in message
    assert "required" in message


def test_missing_criteria_names_the_field(tmp_path):
    error = load_error(write(tmp_path, "name: bad\ndescription: none\n"))
    assert error.field == "criteria"
    assert error.line == 1


def test_empty_criteria_list(tmp_path):
    error = load_error(write(tmp_path, "name: bad\ncriteria: []\n"))
    assert error.field == "criteria"
    assert error.line == 2


@pytest.mark.parametrize("weight", ["-1", "0", "heavy"])
def test_bad_weight_names_line_and_field(tmp_path, weight):
    path = write(
        tmp_path,
        f"""
        name: bad
        criteria:
          - id: a
            text: first
            weight: {weight}
            high: h
            low: l
        """,
    )
    error = load_error(path)
    assert error.line == 5
    assert error.field == "criteria.0.weight"
    assert f"{path}:5: field 'criteria.0.weight'" in str(error)
    if weight == "heavy":
        assert "number" in error.problem
    else:
        assert "greater than 0" in error.problem


def test_yaml_syntax_error_line(tmp_path):
    path = write(
        tmp_path,
        """
        name: bad
        criteria:
          - id: a
            text: first: second
            high: h
        """,
    )
    error = load_error(path)
    assert error.line == 4
    assert "YAML syntax error" in str(error)
    assert str(error).startswith(f"{path}:4:")


def test_yaml_unclosed_quote_line(tmp_path):
    path = write(tmp_path, 'name: bad\ndescription: "never closed\ncriteria: []\n')
    error = load_error(path)
    assert "YAML syntax error" in str(error)
    assert error.line in (2, 4)  # where the quote opens, or where YAML hit the end of the stream


def test_not_a_mapping(tmp_path):
    error = load_error(write(tmp_path, "- just\n- a list\n"))
    assert error.line == 1
    assert "mapping" in str(error)


def test_empty_file(tmp_path):
    error = load_error(write(tmp_path, ""))
    assert "mapping" in str(error)


def test_duplicate_criterion_ids(tmp_path):
    path = write(
        tmp_path,
        """
        name: bad
        criteria:
          - id: a
            text: first
            high: h
            low: l
          - id: a
            text: second
            high: h
            low: l
        """,
    )
    error = load_error(path)
    assert "'a' is already the id of criteria.0" in str(error)
    assert str(path) in str(error)


def test_duplicate_criterion_id_points_at_the_duplicate(tmp_path):
    path = write(
        tmp_path,
        """
        name: bad
        criteria:
          - id: a
            text: first
            high: h
            low: l
          - id: a
            text: second
            high: h
            low: l
        """,
    )
    error = load_error(path)
    assert error.line == 7
    assert error.field is not None and error.field.startswith("criteria.1")


@pytest.mark.parametrize(("scale", "problem"), [("{min: 5, max: 1}", "greater than min"), ("{min: 3, max: 3}", "greater than min"), ("{min: 0, max: 101}", "at most 101 points")])
def test_bad_scale(tmp_path, scale, problem):
    path = write(
        tmp_path,
        f"""
        name: bad
        criteria:
          - id: a
            text: first
            high: h
            low: l
            scale: {scale}
        """,
    )
    error = load_error(path)
    assert error.line == 7
    assert error.field == "criteria.0.scale"
    assert problem in error.problem


def test_scale_word_other_than_binary(tmp_path):
    path = write(tmp_path, "name: bad\ncriteria:\n  - id: a\n    text: t\n    high: h\n    low: l\n    scale: bin\n")
    error = load_error(path)
    assert error.line == 7
    assert error.field == "criteria.0.scale"


def test_bad_criterion_id_pattern(tmp_path):
    path = write(tmp_path, "name: bad\ncriteria:\n  - id: Has Space\n    text: t\n    high: h\n    low: l\n")
    error = load_error(path)
    assert error.line == 3
    assert error.field == "criteria.0.id"


def test_bad_kind(tmp_path):
    path = write(tmp_path, "name: bad\ncriteria:\n  - id: a\n    kind: rule\n    text: t\n    high: h\n    low: l\n")
    error = load_error(path)
    assert error.line == 4
    assert error.field == "criteria.0.kind"


def test_unknown_field_is_refused_on_its_line(tmp_path):
    path = write(
        tmp_path,
        """
        name: bad
        criteria:
          - id: a
            text: first
            colour: red
            high: h
            low: l
        """,
    )
    error = load_error(path)
    assert error.line == 5
    assert "not permitted" in error.problem
    assert (error.field or "").startswith("criteria.0")


def test_unknown_top_level_field(tmp_path):
    path = write(tmp_path, GOOD + "author: me\n")
    error = load_error(path)
    assert error.line == 15
    assert "not permitted" in error.problem


def test_unknown_field_is_named(tmp_path):
    path = write(
        tmp_path,
        """
        name: bad
        criteria:
          - id: a
            text: first
            colour: red
            high: h
            low: l
        """,
    )
    error = load_error(path)
    assert "colour" in str(error)


def test_rubric_error_is_a_judge_error(tmp_path):
    with pytest.raises(JudgeError):
        parse_rubric("name: [", "inline.yaml")


def test_parse_rubric_uses_the_given_source():
    with pytest.raises(RubricError) as info:
        parse_rubric("name: x\ncriteria:\n  - id: a\n    text: t\n    high: h\n", "memory.yaml")
    assert str(info.value) == "memory.yaml:3: field 'criteria.0.low': is required"


# -- from_principles -----------------------------------------------------------------------------


def test_from_principles():
    rubric = Rubric.from_principles(["Cites a source for every number.", "Uses metric units."])
    assert rubric.name == "principles"
    assert [c.id for c in rubric.criteria] == ["p1", "p2"]
    assert [c.text for c in rubric.criteria] == ["Cites a source for every number.", "Uses metric units."]
    assert all(c.binary and c.scale == "binary" for c in rubric.criteria)
    assert all(c.high == "Yes" and c.low == "No" for c in rubric.criteria)
    assert all(c.kind == "principle" and c.weight == 1.0 for c in rubric.criteria)


def test_from_principles_custom_name():
    assert Rubric.from_principles(["x"], name="mine").name == "mine"


@pytest.mark.parametrize("principles", [[""], []])
def test_from_principles_invalid_is_a_judge_error(principles):
    with pytest.raises(JudgeError):
        Rubric.from_principles(principles)


def test_criterion_model_directly():
    criterion = Criterion(id="c-1", text="t", high="h", low="l", scale={"min": 0, "max": 2})
    assert criterion.scale.points() == [0, 1, 2]
    assert not criterion.binary


def test_yaml_boolean_word_in_text_field_explains_quoting(tmp_path):
    path = write(tmp_path, "name: bad\ncriteria:\n  - id: a\n    text: t\n    high: yes\n    low: no\n")
    error = load_error(path)
    assert error.line == 5
    assert error.field == "criteria.0.high"
    assert "quotes" in error.problem
