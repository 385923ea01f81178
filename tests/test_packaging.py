"""The wheel carries prompts/, rubrics/ and the first-party plugins, and works outside the repo."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [built] = out.glob("judge-*.whl")
    return built


def test_wheel_contains_prompts_rubrics_and_plugins(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for rubric in (ROOT / "rubrics").glob("*.yaml"):
        assert f"judge/rubrics/{rubric.name}" in names
    for template in (ROOT / "prompts").rglob("*.j2"):
        assert f"judge/prompts/{template.relative_to(ROOT / 'prompts')}" in names
    assert {"judge_standard/__init__.py", "judge_transformers/backend.py", "judge_fake/backend.py"} <= names
    [entry_points] = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[judge]" in text and "standard = judge_standard" in text


def test_installed_wheel_finds_its_data_outside_the_repository(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    probe = (
        "import judge, judge.rubric as r, judge.templates as t;"
        "assert judge.__file__.startswith(%r), judge.__file__;"
        "print(sorted(r.shipped_rubrics())); print(t.shipped_prompts_dir())" % str(target)
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, capture_output=True, text=True,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "'helpfulness'" in result.stdout and str(target) in result.stdout
