"""judge.integrations.ray: a Ray Dataset judged on an actor pool, one judge engine per actor.

The first tests drive the actor class in this process on the in-process fake backend (named as
such), for what it does with rows; the rest run a real local Ray cluster (CPU only): the embedded
model in two actors against one in-process judge, and two real HTTP judge servers on 127.0.0.1
shared by two actors, each bounded in requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pyarrow as pa
import pytest
from conftest import pair_rows
from support.hostile_server import Answer, HostileServer
from support.yes_no import judge_that_sees

from judge import Judge
from judge.integrations.parquet import COLUMNS
from judge.integrations.ray import JudgeWorker, judge_dataset, row_item
from judge.models import Judgment
from judge.rubric import Rubric
from judge_fake.backend import FakeBackend

PRINCIPLE = "The response answers the question that was asked."


def pair_items(n: int) -> list[dict]:
    return [{"id": row["id"], "prompt": row["prompt"], "response": row["chosen"]} for row in pair_rows(n)]


def fake_judge() -> Judge:
    """A principle judge on the in-process fake backend: P(Yes) 0.9 for a response saying 'good'."""
    return Judge(Rubric.from_principles([PRINCIPLE]), mode="principle",
                 backend=FakeBackend(judge_that_sees("good", 0.9, 0.2)))


def test_a_row_without_an_id_is_named_by_its_content_the_same_in_every_run():
    first = row_item('{"prompt": "p", "response": "r"}')
    again = row_item('{"prompt": "p", "response": "r"}')
    other = row_item('{"prompt": "p", "response": "s"}')
    assert first.id == again.id != other.id and first.id.startswith("row-")
    assert row_item({"id": 7, "prompt": "p", "response": "r"}).id == "7"
    # Parquet rows carry every column; a null one is an absent field, not a second answer.
    assert row_item({"id": "a", "prompt": "p", "response": "r", "responses": None}).responses == ["r"]


def test_a_row_that_is_not_an_item_is_an_error_judgment_that_keeps_its_text():
    broken = row_item('{"prompt": "p", "respons')
    assert isinstance(broken, Judgment) and broken.status.value == "error"
    assert broken.error.startswith("not JSON") and broken.metadata["row"] == '{"prompt": "p", "respons'
    missing = row_item({"id": "x", "prompt": "p"})
    assert missing.id == "x" and "field 'response'" in missing.error


def test_a_worker_judges_a_block_writes_it_as_a_part_and_skips_what_is_done(tmp_path):
    worker = JudgeWorker(fake_judge, parts=str(tmp_path / "parts"), done=frozenset({"done"}), lines=True)
    rows = [json.dumps({"id": "a", "prompt": "p", "response": "a good one"}),
            json.dumps({"id": "b", "prompt": "p", "response": "meh"}),
            json.dumps({"id": "a", "prompt": "p", "response": "a again, in the same block"}),
            json.dumps({"id": "done", "prompt": "p", "response": "judged by an earlier run"}),
            "not json", "  "]
    block = worker(pa.table({"text": rows}))
    assert block.column_names == list(COLUMNS)
    got = {row["id"]: row for row in block.to_pylist()}
    assert set(got) == {"a", "b", row_item("not json").id}
    assert got["a"]["reward"] == pytest.approx(0.9) and got["b"]["reward"] == pytest.approx(0.2)
    assert got["a"]["requests"] == 1 and Judgment.model_validate_json(got["a"]["judgment"]).id == "a"
    assert got[row_item("not json").id]["status"] == "error"
    part = next((tmp_path / "parts").iterdir())
    assert sorted(json.loads(line)["id"] for line in part.read_text().splitlines()) == sorted(got)


def test_judge_dataset_refuses_a_backend_object_it_cannot_send_to_workers():
    with pytest.raises(TypeError, match="by name"):
        judge_dataset(object(), Rubric.from_principles([PRINCIPLE]), backend=FakeBackend(judge_that_sees("x", 0.5, 0.5)))
    with pytest.raises(TypeError, match="not both"):
        judge_dataset(object(), Rubric.from_principles([PRINCIPLE]), make_judge=fake_judge)


@pytest.fixture(scope="module")
def ray_driver(ray_cluster):
    """This process as a Ray driver of the session's cluster."""
    import ray

    ray.init(address=ray_cluster, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_two_actors_on_the_embedded_model_judge_a_file_as_one_process_does(ray_driver, embedded, tmp_path):
    import ray.data

    rows = pair_items(12)
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    rubric = Rubric.from_principles([PRINCIPLE])
    single = {j.id: j for j in Judge(rubric, mode="principle", backend=embedded).score(
        [row_item(row) for row in rows])}
    dataset = ray.data.read_text(str(items), override_num_blocks=6)  # blocks enough for both actors
    judged = judge_dataset(dataset, rubric, mode="principle", workers=2, batch_size=2, lines=True,
                           parts=tmp_path / "parts").take_all()
    assert sorted(row["id"] for row in judged) == sorted(single)
    for row in judged:
        mine, theirs = Judgment.model_validate_json(row["judgment"]), single[row["id"]]
        assert mine.status == theirs.status == "ok"
        assert mine.reward == pytest.approx(theirs.reward, abs=1e-5)  # greedy; batches differ by padding only
        assert [v.passed for v in mine.verdicts] == [v.passed for v in theirs.verdicts]
    workers = {part.name.split("-")[1] for part in (tmp_path / "parts").iterdir()}  # a part is named by its pid
    assert len(workers) == 2


class SlowJudgeServer(HostileServer):
    """An OpenAI-compatible judge on 127.0.0.1 (the hostile server's default, well-behaved answers)
    that answers a chat request after 50 ms and counts the chat requests in flight across every
    server sharing `gauge`."""

    kind = "judge server"

    def __init__(self, gauge: dict, lock: threading.Lock) -> None:
        super().__init__()
        self.gauge, self.lock = gauge, lock

    @property
    def answered(self) -> int:
        return self.requests["POST /v1/chat/completions"]

    async def _act(self, action: Answer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if isinstance(action.payload, dict) and "choices" in action.payload:
            with self.lock:
                self.gauge["now"] += 1
                self.gauge["most"] = max(self.gauge["most"], self.gauge["now"])
            await asyncio.sleep(0.05)
            with self.lock:
                self.gauge["now"] -= 1
        return await super()._act(action, reader, writer)


@pytest.mark.slow
def test_actors_share_several_servers_each_with_a_bound_on_requests_in_flight(ray_driver):
    import ray.data

    gauge, lock = {"now": 0, "most": 0}, threading.Lock()
    with SlowJudgeServer(gauge, lock) as first, SlowJudgeServer(gauge, lock) as second:
        judged = judge_dataset(
            ray.data.from_items([{**row, "id": f"{row['id']}-{k}"} for k in range(3) for row in pair_items(16)]),
            Rubric.from_principles([PRINCIPLE]), mode="principle", workers=2, batch_size=8, num_cpus=0.5,
            backend="openai", model="toy", backend_options={"base_url": [first.url, second.url], "max_in_flight": 2},
        ).take_all()
    assert len(judged) == 48 and {row["status"] for row in judged} == {"ok"}
    assert first.answered > 0 and second.answered > 0  # both servers judged
    assert 2 < gauge["most"] <= 4  # two workers at once, neither above its 2 requests in flight
