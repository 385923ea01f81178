"""judge.integrations.inspect: a judge rubric grading real inspect-ai evals, run offline.

inspect's own `mockllm/model` answers the tasks; the judge is ours (the embedded model, or the
fake backend where the point is what a failed grade becomes). Every eval writes its log, traces
and sample buffer under the test's tmp_path: HOME and the working folder are pointed at empty
folders that must still be empty afterwards.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai", reason="inspect-ai is an optional extra")

from inspect_ai import Task, eval  # noqa: E402
from inspect_ai.dataset import Sample  # noqa: E402
from inspect_ai.log import EvalLog, read_eval_log  # noqa: E402
from inspect_ai.model import ChatMessageSystem, ChatMessageUser, Model, ModelOutput, ModelUsage, get_model  # noqa: E402
from inspect_ai.solver import generate  # noqa: E402

from conftest import ROOT  # noqa: E402
from judge import Item, Judge, Rubric, load_rubric  # noqa: E402
from judge.errors import JudgeError, PluginError, RubricError  # noqa: E402
from judge.integrations.inspect import SharedJudge, rubric_scorer  # noqa: E402
from judge_fake.backend import FakeBackend  # noqa: E402

SAMPLES = [
    Sample(id="capital", input="What is the capital of France?", target="Paris"),
    Sample(id="sum", input="What is 2 + 2?", target="4"),
    Sample(id="colour", input=[
        ChatMessageSystem(content="Answer in one word."), ChatMessageUser(content="Name a primary colour."),
    ]),
]
ANSWERS = {
    "What is the capital of France?": "The capital of France is Paris.",
    "What is 2 + 2?": "2 + 2 = 5.",
    "Name a primary colour.": "Blue.",
}
GARBAGE = {"backend": "fake", "backend_options": {"exact_candidates": False, "text": "no idea"}}


def mock_model(answers: dict[str, str]) -> Model:
    """inspect's mockllm answering each prompt from `answers`. The usage is given: without it,
    mockllm counts tokens with tiktoken, which downloads its vocabulary (no network here)."""

    def answer(messages, tools, tool_choice, config) -> ModelOutput:
        output = ModelOutput.from_content(model="mockllm", content=answers[messages[-1].text])
        output.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
        return output

    return get_model("mockllm/model", custom_outputs=answer)


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> Path:
    """inspect writes traces, a sample buffer and viewer state under the user's data dir (and
    logs under ./logs unless told): every such place is a folder of tmp_path here. The control
    server (a socket for `inspect ctl`) is off: nothing here talks to a running eval."""
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "xdg" / name.lower()))
    monkeypatch.setenv("INSPECT_TRACE_FILE", str(tmp_path / "inspect-trace.log"))
    monkeypatch.setenv("INSPECT_EVAL_CTL_SERVER", "false")  # its AF_UNIX socket path would not fit under tmp_path
    for folder in ("home", "cwd"):
        (tmp_path / folder).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path


def run(task: Task, model: Model, sandbox: Path) -> EvalLog:
    """One offline eval, its log under sandbox/logs; nothing may land in HOME or the working folder."""
    [log] = eval(task, model=model, display="none", log_dir=str(sandbox / "logs"))
    assert Path(log.location).parent == sandbox / "logs"
    assert list((sandbox / "home").iterdir()) == [], "inspect or the judge wrote into HOME"
    assert list((sandbox / "cwd").iterdir()) == [], "inspect or the judge wrote into the working folder"
    return read_eval_log(log.location)  # what was written, not only what is in memory


def scores_of(log: EvalLog) -> dict[str, object]:
    return {str(sample.id): sample.scores["rubric_scorer"] for sample in log.samples or []}


@pytest.mark.slow
def test_the_embedded_model_grades_a_real_inspect_eval(embedded, sandbox):
    # `embedded` loads the model once for the session; the scorer's own transformers backend
    # (the default) is then served from the process's cache of loaded models.
    task = Task(dataset=SAMPLES, solver=generate(), scorer=rubric_scorer("helpfulness"))
    log = run(task, mock_model(ANSWERS), sandbox)

    assert log.status == "success", log.error
    criteria = [c.id for c in load_rubric("helpfulness").criteria]
    scores = scores_of(log)
    assert set(scores) == {"capital", "sum", "colour"}
    for sample in log.samples or []:
        score = scores[str(sample.id)]
        judgment = score.metadata["judgment"]
        assert score.metadata["status"] == "ok" and judgment["status"] == "ok"
        assert isinstance(score.value, float) and 0.0 <= score.value <= 1.0
        assert score.value == judgment["scores"][0]
        assert score.metadata["passed"] is (score.value >= 0.5)
        assert score.answer == sample.output.completion == ANSWERS[_prompt_text(sample.input)]
        assert judgment["model"] == "SmolLM2-135M-Instruct" and judgment["rubric"] == "helpfulness"
        # The explanation is the judge model's own text (which may span lines), criterion by criterion.
        assert [raw["step"] for raw in judgment["raw"]] == criteria
        where = [score.explanation.index(f"{raw['step']}: {raw['texts'][0]}") for raw in judgment["raw"]]
        assert where == sorted(where) and where[0] == 0
        assert all(raw["texts"][0].strip() for raw in judgment["raw"])
    assert scores["capital"].metadata["judgment"]["id"] == "capital"
    [result] = log.results.scores
    assert (result.scored_samples, result.unscored_samples) == (3, 0)
    values = [scores[k].value for k in ("capital", "sum", "colour")]
    assert result.metrics["mean"].value == pytest.approx(statistics.mean(values))
    assert result.metrics["pass_rate"].value == pytest.approx(sum(v >= 0.5 for v in values) / 3)


def _prompt_text(value) -> str:
    return value if isinstance(value, str) else value[-1].text


def test_a_judge_answering_garbage_is_unscored_not_a_number(sandbox):
    task = Task(dataset=SAMPLES, solver=generate(), scorer=rubric_scorer("helpfulness", **GARBAGE))
    log = run(task, mock_model(ANSWERS), sandbox)

    assert log.status == "success", log.error
    criteria = [c.id for c in load_rubric("helpfulness").criteria]
    for sample_id, score in scores_of(log).items():
        assert isinstance(score.value, float) and math.isnan(score.value), sample_id  # read back from the log file
        assert score.reason == "grader_failed"
        assert score.metadata["status"] == "unparsed" and score.metadata["passed"] is None
        assert score.metadata["judgment"]["status"] == "unparsed" and score.metadata["judgment"]["scores"] == [None]
        # each unparsed answer was retried once (the default budget); every attempt's text is kept
        assert score.explanation.splitlines() == [line for c in criteria for line in (f"{c}: no idea", f"{c}#retry1: no idea")]
        assert score.answer in ANSWERS.values()
    [result] = log.results.scores
    assert (result.scored_samples, result.unscored_samples) == (0, 3)
    # No sample was graded, so no mean: NaN, where NOANSWER ("N", read as 0) would have said 0.0.
    assert math.isnan(result.metrics["mean"].value) and math.isnan(result.metrics["pass_rate"].value)


def test_the_mean_counts_graded_samples_only(sandbox):
    """Two principles answered Yes, one No, one garbage: the garbage is unscored, not a zero."""
    verdicts = {"Paris": "Yes", "5.": "No", "Blue.": "I cannot say", "Yellow.": "Yes"}

    def responder(request):
        prompt = request.messages[-1].content
        return next(text for answer, text in verdicts.items() if answer in prompt)

    samples = [*SAMPLES, Sample(id="colour2", input="Name another primary colour.")]
    answers = ANSWERS | {"Name another primary colour.": "Yellow."}
    scorer = rubric_scorer(
        principles=["The response is correct."], mode="pointwise", threshold=0.5,
        backend="fake", backend_options={"exact_candidates": False, "responder": responder},
    )
    log = run(Task(dataset=samples, solver=generate(), scorer=scorer), mock_model(answers), sandbox)

    scores = scores_of(log)
    assert {k: s.metadata["status"] for k, s in scores.items()} == {
        "capital": "ok", "sum": "ok", "colour": "unparsed", "colour2": "ok"}
    assert [scores[k].value for k in ("capital", "sum", "colour2")] == [1.0, 0.0, 1.0]
    assert math.isnan(scores["colour"].value) and scores["colour"].explanation == "p1: I cannot say\np1#retry1: I cannot say"  # retried once, both kept
    [result] = log.results.scores
    assert (result.scored_samples, result.unscored_samples) == (3, 1)
    # mean over the graded: (1 + 0 + 1) / 3 = 0.6667 (NOANSWER would give (1 + 0 + 0 + 1) / 4 = 0.5);
    # stderr = sample sd / sqrt(n): deviations 1/3, -2/3, 1/3 -> var (1/9 + 4/9 + 1/9) / 2 = 1/3,
    # sd 0.5774, / sqrt(3) = 0.3333; pass rate: 2 of 3 graded reach 0.5 = 0.6667.
    assert result.metrics["mean"].value == pytest.approx(2 / 3)
    assert result.metrics["stderr"].value == pytest.approx(1 / 3)
    assert result.metrics["pass_rate"].value == pytest.approx(2 / 3)


def test_the_judge_sees_the_input_the_completion_and_the_target(sandbox):
    prompts: list[str] = []

    def responder(request):
        prompts.append(request.messages[-1].content)
        return "Yes"

    scorer = rubric_scorer(principles=["The response is correct."], mode="pointwise",
                           backend="fake", backend_options={"exact_candidates": False, "responder": responder})
    run(Task(dataset=[SAMPLES[0], SAMPLES[2]], solver=generate(), scorer=scorer), mock_model(ANSWERS), sandbox)
    [capital] = [p for p in prompts if "France" in p]
    assert "[Question]\nWhat is the capital of France?" in capital
    assert "[Reference answer]\nParis" in capital and "[Response]\nThe capital of France is Paris." in capital
    [colour] = [p for p in prompts if "colour" in p]  # a chat input: its system message is quoted as such
    assert "[System prompt the assistant was given]\nAnswer in one word." in colour
    assert "Name a primary colour." in colour and "[Response]\nBlue." in colour
    assert "[Reference answer]" not in colour  # no target, no reference


def test_a_judge_that_cannot_be_built_fails_the_samples_with_its_reason(sandbox):
    scorer = rubric_scorer("helpfulness", backend="no-such-backend")  # checked at the first sample
    log = run(Task(dataset=SAMPLES[:1], solver=generate(), scorer=scorer), mock_model(ANSWERS), sandbox)
    assert log.status == "error"
    assert "no-such-backend" in log.error.message


def test_concurrent_samples_share_one_judge_and_one_batch():
    """Three samples scored at once: one Judge built, their requests in one batch of the backend
    (an `ascore` per sample would send three batches of one)."""
    backend = FakeBackend(exact_candidates=False, text="Yes", batch_size=8)
    built: list[Judge] = []

    def build() -> Judge:
        built.append(Judge(Rubric.from_principles(["The response is polite."]), backend=backend))
        return built[-1]

    shared = SharedJudge(build)
    items = [Item(id="s", prompt=f"Say hi {i}", responses=[f"Hi {i}"]) for i in range(3)]  # the same sample id 3 times

    async def both_rounds():
        first = await asyncio.gather(*(shared.judge_item(item) for item in items))
        second = await shared.judge_item(items[0])
        return first, second

    first, second = asyncio.run(both_rounds())
    assert [j.status.value for j in first] == ["ok"] * 3 and [j.scores for j in first] == [[1.0]] * 3
    assert len({j.id for j in first}) == 3  # the same id at once is told apart
    assert backend.batches == [3, 1] and len(built) == 1 and shared.judge is built[0]
    assert second.scores == [1.0]


def test_a_judge_that_fails_to_start_fails_every_waiting_sample_and_is_retried():
    calls = 0

    def build() -> Judge:
        nonlocal calls
        calls += 1
        return Judge(load_rubric("helpfulness"), backend="no-such-backend")

    shared = SharedJudge(build)
    items = [Item(id=str(i), prompt="p", responses=["r"]) for i in range(2)]

    async def gather():
        return await asyncio.gather(*(shared.judge_item(item) for item in items), return_exceptions=True)

    outcomes = asyncio.run(gather())
    assert [type(o) for o in outcomes] == [PluginError, PluginError] and calls == 1
    with pytest.raises(PluginError):
        asyncio.run(shared.judge_item(items[0]))
    assert calls == 2


@pytest.mark.parametrize("kwargs, error, message", [
    ({"mode": "pairwise"}, JudgeError, "one response to grade"),
    ({"rubric": "helpfulnes"}, RubricError, "not a file nor a shipped rubric"),
    ({"rubric": "factuality", "principles": ["Be brief."]}, JudgeError, "not both"),
    ({"rubric": None}, JudgeError, "say what to grade by"),
    ({"threshold": 2}, JudgeError, "from 0 to 1"),
])
def test_a_bad_setup_fails_when_the_scorer_is_made(kwargs, error, message):
    with pytest.raises(error, match=message):
        rubric_scorer(**kwargs)


def test_importing_or_making_the_scorer_loads_no_model():
    probe = (
        "import sys\n"
        "import judge, judge.integrations\n"
        "assert 'inspect_ai' not in sys.modules, 'import judge loaded inspect_ai'\n"
        "from judge.integrations.inspect import rubric_scorer\n"
        "rubric_scorer('helpfulness'); rubric_scorer(principles=['Be kind.'])\n"
        "heavy = ('torch', 'transformers', 'vllm', 'judge_transformers', 'judge.engine')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


ENTRY_POINT = "judge.integrations.inspect"


def test_inspect_finds_the_scorer_by_name_through_its_entry_point(sandbox):
    """`inspect score LOG --scorer judge/rubric_scorer` finds the scorer through the `inspect_ai`
    entry-point group. The entry point is declared here by a stand-in distribution on PYTHONPATH,
    so the test holds whether or not the installed package declares it yet (the next test checks
    that pyproject.toml does)."""
    log = run(Task(dataset=SAMPLES[:2], solver=generate()), mock_model(ANSWERS), sandbox)  # no scorer
    stand_in = sandbox / "entry-points" / "judge_inspect_entry-0.dist-info"
    stand_in.mkdir(parents=True)
    (stand_in / "METADATA").write_text("Metadata-Version: 2.1\nName: judge-inspect-entry\nVersion: 0\n")
    (stand_in / "entry_points.txt").write_text(f"[inspect_ai]\njudge = {ENTRY_POINT}\n")
    scored = sandbox / "scored.eval"
    inspect_cli = Path(sys.executable).parent / "inspect"
    env = dict(os.environ, PYTHONPATH=str(stand_in.parent))
    result = subprocess.run(
        [str(inspect_cli), "score", log.location, "--scorer", "judge/rubric_scorer",
         "-S", "backend=fake", "--output-file", str(scored), "--log-dir", str(sandbox / "logs")],
        capture_output=True, text=True, timeout=300, env=env, cwd=sandbox / "cwd", input="",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rescored = read_eval_log(str(scored))
    values = {str(s.id): s.scores["rubric_scorer"].value for s in rescored.samples or []}
    # The fake backend gives every candidate the same probability: each 1-5 criterion is 3 (0.5
    # scaled) and the hard rule P(Yes) = 0.5, so weighted_mean gives 0.5 x 0.5 = 0.25 (docs/api.md).
    assert values == {"capital": 0.25, "sum": 0.25}
    assert list((sandbox / "home").iterdir()) == [] and list((sandbox / "cwd").iterdir()) == []


def test_pyproject_declares_the_inspect_entry_point():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    group = declared["project"].get("entry-points", {}).get("inspect_ai", {})
    if not group:
        pytest.skip(f'pyproject.toml has no [project.entry-points.inspect_ai] group yet: add judge = "{ENTRY_POINT}"')
    assert group == {"judge": ENTRY_POINT}
