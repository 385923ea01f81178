"""`import judge` is cheap: the CLI's `--help` and `from judge.errors import ...` load no engine.

The package's top-level names (`Judge`, `Item`, `load_rubric`, ...) are imported on first use
(PEP 562), so importing `judge.errors` or `judge.cli` does not pay for pydantic, jinja2 and the
compiler (about 0.4 s, which made `judge --help` take 9-10 times a bare `python -c pass`).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("pydantic", "jinja2", "judge.engine", "judge.compiler", "judge.models", "judge.templates")


@pytest.mark.parametrize("statement", ["import judge.errors", "import judge.cli; judge.cli.build_parser()"])
def test_importing_the_errors_or_the_cli_loads_no_engine(statement):
    probe = f"import sys; {statement}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_top_level_names_still_import():
    import judge
    from judge import Item, Judge, JudgeError, load_rubric
    from judge.engine import Judge as EngineJudge

    assert Judge is EngineJudge
    assert issubclass(judge.BackendError, JudgeError)
    assert Item(id="1", prompt="p", responses=["r"]).id == "1"
    assert load_rubric("helpfulness").name == "helpfulness"
    assert set(judge.__all__) <= set(dir(judge))


def test_an_unknown_name_is_an_attribute_error():
    import judge

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        judge.nope  # noqa: B018
