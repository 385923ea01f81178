"""Principle rewards on the embedded model (SmolLM2-135M): for examples/principle_rewards.jsonl,
a response that clearly satisfies a principle should get a higher reward than one that clearly
violates it. The 135M judge orders 3 of the 6 cases right (number, polite, one-word); those three
are pinned here. It gets French, correctness and topic wrong: its P(Yes) is low and flat (0.1-0.3)."""

from __future__ import annotations

import json

from conftest import ROOT

from judge.models import Status
from judge.rewards import PrincipleReward

PINNED = {"number", "polite", "one-word"}


def test_satisfied_principles_outrank_violated_ones_for_the_pinned_cases(embedded):
    rows = [json.loads(line) for line in (ROOT / "examples" / "principle_rewards.jsonl").read_text().splitlines()]
    ordered = {}
    for row in rows:
        reward = PrincipleReward([row["principle"]], backend=embedded)
        good, bad = reward.score([row["prompt"]] * 2, [row["satisfies"], row["violates"]])
        assert good.status is Status.ok and bad.status is Status.ok
        assert 0.0 < good.value < 1.0 and 0.0 < bad.value < 1.0  # exact P(Yes), never a rounded 0 or 1
        ordered[row["id"]] = good.value > bad.value
    assert {name for name, right in ordered.items() if right} >= PINNED, ordered
