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

FIXTURES = ROOT / "tests" / "fixtures"
FIXTURE = FIXTURES / "judge-example-plugin"


def pip_install(package: Path, target: Path) -> Path:
    """pip-installs a fixture package into a folder of its own, as a user would install one."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(package)],
        check=True, capture_output=True, timeout=300,
    )
    return target


@pytest.fixture(scope="session")
def installed_plugin(tmp_path_factory) -> Path:
    return pip_install(FIXTURE, tmp_path_factory.mktemp("site"))


def env_with(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("JUDGE_PLUGINS", None)
    env["PYTHONPATH"] = str(site) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_with(judge_cli: list[str], site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`judge ARGS` with the packages installed in `site` importable, as a user who installed them runs it."""
    return subprocess.run([*judge_cli, *args], capture_output=True, text=True, env=env_with(site), timeout=120)


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


# Issue 12 point 18: a rival name, a default_backend hook that raises, a plugin that calls sys.exit
# at import. Each is a real package pip-installed into a folder of its own, found on sys.path (in
# process) or PYTHONPATH (the CLI) ahead of judge's own entry points.

@pytest.fixture(scope="session")
def rival_site(tmp_path_factory) -> Path:
    """Registers a backend `fake` and an aggregator `weighted_mean`, as the built-ins do."""
    return pip_install(FIXTURES / "judge-rival-plugin", tmp_path_factory.mktemp("rival-site"))


@pytest.fixture(scope="session")
def raising_site(tmp_path_factory) -> Path:
    """Its default_backend hook raises RuntimeError."""
    return pip_install(FIXTURES / "judge-raising-default-plugin", tmp_path_factory.mktemp("raising-site"))


@pytest.fixture(scope="session")
def exiting_site(tmp_path_factory) -> Path:
    """Calls sys.exit(3) when imported."""
    return pip_install(FIXTURES / "judge-exiting-plugin", tmp_path_factory.mktemp("exiting-site"))


@pytest.fixture
def on_path(monkeypatch):
    """Puts installed folders first on sys.path, as PYTHONPATH would, for an in-process Registry."""
    monkeypatch.delenv("JUDGE_PLUGINS", raising=False)

    def add(*sites: Path) -> None:
        for site in sites:
            monkeypatch.syspath_prepend(str(site))

    return add


def plugin(registry: Registry, name: str):
    return next(p for p in registry.plugins if p.name == name)


def plugin_block(listing: str, header: str) -> list[str]:
    """The indented lines under one plugin's header in `judge plugins`."""
    lines = listing.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header)) + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line.strip())
    return block


def score_fake(judge_cli, env, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*judge_cli, "score", "-r", "helpfulness", "-b", "fake", *extra, str(EXAMPLES / "pointwise.jsonl"), "-o", str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )


def test_a_rival_name_stays_with_the_built_in_and_the_rival_is_reachable_by_plugin_name(rival_site, on_path, capsys):
    on_path(rival_site)
    from importlib import metadata

    from judge_fake import build as built_in_fake

    assert [ep.name for ep in metadata.entry_points(group="judge")][0] == "rival"  # found before judge's own
    registry = Registry().load()
    assert [p.name for p in registry.plugins][-1] == "rival"  # yet first-party plugins come first
    assert registry.get("backends", "fake") is built_in_fake
    rival = plugin(registry, "rival")
    assert rival.error is None and not rival.first_party and plugin(registry, "fake").first_party
    assert rival.refused == {"backends": {"fake": "fake"}, "aggregators": {"weighted_mean": "standard"}}
    assert rival.registered == {"aggregators": ["lowest"]}  # its other names are kept
    assert registry.get("backends", "rival:fake").__module__ == "judge_rival_plugin"
    assert registry.get("aggregators", "rival:weighted_mean") is registry.get("aggregators", "lowest")
    assert registry.get("aggregators", "standard:weighted_mean") is not registry.get("aggregators", "lowest")
    registry.get("aggregators", "weighted_mean")
    registry.get("aggregators", "weighted_mean")
    warnings = capsys.readouterr().err.strip().splitlines()  # once per name, however often it is used
    assert warnings == [
        "judge: warning: backend 'fake' is registered by plugin 'fake' and also by 'rival'; "
        "using the one from plugin 'fake' (rival:fake names the other)",
        "judge: warning: aggregator 'weighted_mean' is registered by plugin 'standard' and also by 'rival'; "
        "using the one from plugin 'standard' (rival:weighted_mean names the other)",
    ]


def test_qualified_names_that_do_not_resolve_say_which_plugin_is_wrong(rival_site, exiting_site, on_path):
    on_path(rival_site, exiting_site)
    registry = Registry().load()
    with pytest.raises(PluginError, match="no plugin named 'nobody'"):
        registry.get("backends", "nobody:fake")
    with pytest.raises(PluginError, match=r"plugin 'exiting' failed to load: it called sys.exit\(3\)"):
        registry.get("backends", "exiting:fake")
    with pytest.raises(PluginError, match=r"plugin 'rival' registers no backend named 'openai' \(its backends: fake\)"):
        registry.get("backends", "rival:openai")
    with pytest.raises(PluginError, match=r"known: .*rival:fake.*plugins that failed to load: exiting"):
        registry.get("backends", "missing")


def test_judge_plugins_shows_the_conflict_and_score_still_runs_with_the_rival_installed(rival_site, judge_cli, tmp_path):
    env = env_with(rival_site)
    listing = subprocess.run([*judge_cli, "plugins"], capture_output=True, text=True, env=env, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "Traceback" not in listing.stderr
    assert "backends REFUSED: fake (taken by plugin 'fake'; use rival:fake)" in listing.stdout
    assert "aggregators REFUSED: weighted_mean (taken by plugin 'standard'; use rival:weighted_mean)" in listing.stdout
    as_json = {p["name"]: p for p in json.loads(subprocess.run(
        [*judge_cli, "plugins", "--json"], capture_output=True, text=True, env=env, timeout=60, check=True).stdout)}
    assert as_json["rival"]["refused"] == {"backends": {"fake": "fake"}, "aggregators": {"weighted_mean": "standard"}}

    built_in = score_fake(judge_cli, env, tmp_path / "built-in.jsonl")
    assert built_in.returncode == 0, built_in.stderr
    rows = [json.loads(line) for line in (tmp_path / "built-in.jsonl").read_text().splitlines()]
    assert rows and all(r["status"] == "ok" and r["model"] == "fake" for r in rows)
    assert "Traceback" not in built_in.stderr and "aggregator 'weighted_mean' is registered by" in built_in.stderr

    chosen = score_fake(judge_cli, env, tmp_path / "rival.jsonl", "-b", "rival:fake", "--aggregator", "rival:weighted_mean")
    assert chosen.returncode == 0, chosen.stderr
    rows = [json.loads(line) for line in (tmp_path / "rival.jsonl").read_text().splitlines()]
    assert rows and all(r["status"] == "ok" and r["model"] == "rival-fake" for r in rows)


def test_a_default_backend_hook_that_raises_is_recorded_and_the_next_answer_used(raising_site, on_path, capsys):
    on_path(raising_site)
    registry = Registry().load()
    assert registry.default_backend() == ("transformers", {})
    assert registry.default_from == "standard"
    raising = plugin(registry, "raising_default")
    assert raising.error is None and raising.registered == {"aggregators": ["raising_default_mean"]}
    assert raising.problems == ["its default_backend hook failed: RuntimeError: the raising plugin cannot choose a backend"]
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("judge: warning: plugin 'raising_default': its default_backend")
    assert "using the next answer, 'transformers' from plugin 'standard'" in warning[0]


def test_judge_plugins_shows_a_failing_default_backend_hook(raising_site, judge_cli, tmp_path):
    env = env_with(raising_site)
    listing = subprocess.run([*judge_cli, "plugins"], capture_output=True, text=True, env=env, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert plugin_block(listing.stdout, "raising_default  (judge-raising-default-plugin 0.0.1)") == [
        "aggregators: raising_default_mean",
        "PROBLEM: its default_backend hook failed: RuntimeError: the raising plugin cannot choose a backend",
    ]
    assert "default backend: transformers (from plugin 'standard')" in listing.stdout
    result = score_fake(judge_cli, env, tmp_path / "out.jsonl")
    assert result.returncode == 0, result.stderr


def test_a_plugin_that_calls_sys_exit_at_import_is_reported_not_fatal(exiting_site, on_path):
    on_path(exiting_site)
    registry = Registry().load()  # SystemExit is not an Exception: before the fix this ended the process
    exiting = plugin(registry, "exiting")
    assert exiting.error == "it called sys.exit(3) (while importing judge_exiting_plugin)"
    assert "fake" in registry.names("backends") and registry.default_backend() == ("transformers", {})


def test_judge_plugins_and_score_survive_a_plugin_that_calls_sys_exit(exiting_site, judge_cli, tmp_path):
    env = env_with(exiting_site)
    listing = subprocess.run([*judge_cli, "plugins"], capture_output=True, text=True, env=env, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "exiting  (judge-exiting-plugin 0.0.1)" in listing.stdout
    assert "FAILED TO LOAD: it called sys.exit(3) (while importing judge_exiting_plugin)" in listing.stdout
    assert "standard  (judge 0.1.0)" in listing.stdout
    result = score_fake(judge_cli, env, tmp_path / "out.jsonl")
    assert result.returncode == 0, result.stderr
    assert all(json.loads(line)["status"] == "ok" for line in (tmp_path / "out.jsonl").read_text().splitlines())


def test_a_third_party_entry_point_named_like_a_built_in_plugin_is_not_loaded(tmp_path, on_path):
    site = tmp_path / "site"
    dist = site / "judge_impostor-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: judge-impostor\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[judge]\nfake = judge_impostor_never_imported\n")
    on_path(site)
    registry = Registry().load()
    impostor = next(p for p in registry.plugins if p.distribution == "judge-impostor")
    assert impostor.error == "the plugin name 'fake' is already taken by the plugin from distribution 'judge'; this one is not loaded"
    assert plugin(registry, "fake").error is None and registry.get("backends", "fake").__module__ == "judge_fake"


def test_a_plugin_whose_register_hook_fails_halfway_is_left_out_whole(tmp_path, on_path):
    site = tmp_path / "site"
    package = site / "judge_halfway"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import sys\nfrom judge import hookimpl\n\n@hookimpl\ndef register_parsers(register):\n"
        "    register('halfway_parser', lambda completion, spec: None)\n    sys.exit('no more')\n\n"
        "@hookimpl\ndef default_backend():\n    return ('halfway', {})\n"
    )
    dist = site / "judge_halfway-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: judge-halfway\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[judge]\nhalfway = judge_halfway\n")
    on_path(site)
    registry = Registry().load()
    assert plugin(registry, "halfway").error == "it called sys.exit('no more') (in its register_parsers hook)"
    assert "halfway_parser" not in registry.names("parsers")
    assert registry.default_backend() == ("transformers", {})  # its hooks are withdrawn with it


class _HalfClashing:
    @staticmethod
    @hookimpl
    def register_parsers(register):
        register("own_parser", lambda completion, spec: None)
        register("yes_no", lambda completion, spec: None)


def test_an_in_process_plugin_with_a_conflict_registers_nothing():
    registry = Registry(allowed={"standard"}).load()
    with pytest.raises(PluginError, match="plugin 'half': parser 'yes_no' is already registered by plugin 'standard'"):
        registry.register_module(_HalfClashing(), name="half")
    assert "own_parser" not in registry.names("parsers") and "half" not in [p.name for p in registry.plugins]
