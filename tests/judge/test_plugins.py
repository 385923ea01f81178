"""The plugin manager: a real third-party package installed with pip, found through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from judge import hookimpl, hookspecs
from judge.errors import PluginError
from judge.plugins import Registry

from conftest import EXAMPLES, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "judge-example-plugin"


@pytest.fixture(scope="session")
def installed_plugin(tmp_path_factory) -> Path:
    """pip-installs the example plugin package into a folder of its own, as a user would install one."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(FIXTURE)],
        check=True, capture_output=True, timeout=300,
    )
    return target


def env_with(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("JUDGE_PLUGINS", None)
    env["PYTHONPATH"] = str(site) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_judge_plugins_lists_an_installed_third_party_plugin(installed_plugin, judge_cli):
    result = subprocess.run([*judge_cli, "plugins", "--json"], capture_output=True, text=True,
                            env=env_with(installed_plugin), timeout=60, check=True)
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    example = plugins["example"]
    assert example["distribution"] == "judge-example-plugin" and example["version"] == "0.0.1"
    assert example["location"].startswith(str(installed_plugin))
    assert example["registered"] == {"format_packs": ["example"], "parsers": ["last_number"], "aggregators": ["minimum"]}
    assert {"standard", "transformers", "fake"} <= set(plugins)  # first-party plugins, through the same group


def test_a_third_party_format_pack_parser_and_aggregator_drive_a_run(installed_plugin, judge_cli, tmp_path):
    out = tmp_path / "out.jsonl"
    result = subprocess.run(
        [*judge_cli, "score", "-r", "helpfulness", "-b", "fake", "-O", "text=score 2 then finally 4",
         "-O", "exact_candidates=false", "--format-pack", "example", "--aggregator", "minimum",
         str(EXAMPLES / "pointwise.jsonl"), "-o", str(out)],
        capture_output=True, text=True, env=env_with(installed_plugin), timeout=60,
    )
    assert result.returncode == 0, result.stderr
    judgment = json.loads(out.read_text().splitlines()[0])
    scale_verdicts = [v for v in judgment["verdicts"] if v["criterion"] != "no_unwarranted_refusal"]
    assert {v["score"] for v in scale_verdicts} == {4.0}  # last_number, not the standard parser's 2


def test_without_the_plugin_its_names_are_unknown(judge_cli):
    result = subprocess.run([*judge_cli, "score", "-r", "helpfulness", "-b", "fake", "--format-pack", "example",
                             str(EXAMPLES / "pointwise.jsonl")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no format pack named 'example'" in result.stderr


def test_judge_plugins_env_var_limits_what_loads():
    registry = Registry(allowed={"standard"}).load()
    assert [p.name for p in registry.plugins] == ["standard"]
    assert registry.names("backends") == []


class _Clashing:
    @staticmethod
    @hookimpl
    def register_parsers(register):
        register("score", lambda completion, spec: None)


def test_a_name_taken_by_another_plugin_is_refused():
    registry = Registry(allowed={"standard"}).load()
    with pytest.raises(PluginError, match="already registered by plugin 'standard'"):
        registry.register_module(_Clashing(), name="clashing")


def test_a_broken_plugin_is_reported_not_fatal(tmp_path, judge_cli):
    broken = tmp_path / "site"
    dist = broken / "judge_broken-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: judge-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[judge]\nbroken = judge_broken_missing_module\n")
    result = subprocess.run([*judge_cli, "plugins"], capture_output=True, text=True, env=env_with(broken), timeout=60)
    assert result.returncode == 0
    assert "broken  (judge-broken 0.1)" in result.stdout and "FAILED TO LOAD: ModuleNotFoundError" in result.stdout


def test_every_hook_is_documented():
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    hooks = [name for name in dir(hookspecs) if name.startswith(("register_", "default_"))]
    assert hooks, "no hooks found"
    for name in hooks:
        assert f"### `{name}`" in docs, f"docs/plugins.md has no section for hook {name}"
        assert getattr(hookspecs, name).__doc__, f"hook {name} has no docstring"


def test_a_plugin_with_a_misnamed_hook_argument_is_reported_not_fatal(tmp_path, judge_cli):
    site = tmp_path / "site"
    package = site / "judge_misnamed"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from judge import hookimpl\n\n@hookimpl\ndef register_parsers(reg):\n    pass\n"
    )
    dist = site / "judge_misnamed-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: judge-misnamed\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[judge]\nmisnamed = judge_misnamed\n")
    result = subprocess.run([*judge_cli, "plugins"], capture_output=True, text=True, env=env_with(site), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "misnamed  (judge-misnamed 0.1)" in result.stdout and "FAILED TO LOAD" in result.stdout
    assert "standard" in result.stdout
