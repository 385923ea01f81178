"""Reward shaping helpers: GRPO group normalisation, clipping, delta, gates, ensembles; None stays None."""

from __future__ import annotations

import pytest

from judge.shaping import clip, delta, ensemble, gate, group_normalise


def test_group_normalise_is_grpos_advantage_per_group_and_skips_missing_rewards():
    shaped = group_normalise([1.0, 0.0, None, 0.5, 0.5], ["a", "a", "a", "b", "b"], eps=0.0 + 1e-9)
    assert shaped[0] == pytest.approx(1.0) and shaped[1] == pytest.approx(-1.0) and shaped[2] is None
    assert shaped[3] == pytest.approx(0.0) and shaped[4] == pytest.approx(0.0)  # equal rewards: no advantage
    assert group_normalise([1.0, 3.0], [0, 0], scale=False) == [-1.0, 1.0]
    with pytest.raises(ValueError, match="2 rewards but 1 group keys"):
        group_normalise([1.0, 2.0], ["a"])


def test_clip_and_delta_pass_none_through():
    assert clip([-2.0, 0.5, 3.0, None], -1, 1) == [-1, 0.5, 1, None]
    assert clip([5.0], high=2.0) == [2.0]
    with pytest.raises(ValueError, match="low"):
        clip([1.0], 2, 1)
    assert delta([0.9, None, 0.4], [0.5, 0.5, None]) == [pytest.approx(0.4), None, None]


def test_gate_keeps_a_reward_only_when_every_component_clears_its_bar():
    components = [{"safe": 0.9, "helpful": 0.7}, {"safe": 0.3, "helpful": 0.9}, {"safe": None, "helpful": 0.9}]
    assert gate([0.8, 0.9, 0.9], components, {"safe": 0.5}) == [0.8, 0.0, None]
    with pytest.raises(ValueError, match="no component named 'honest'"):
        gate([0.8], components[:1], {"honest": 0.5})


def test_ensembles_mean_min_and_pessimistic_mean_minus_spread():
    a, b = [0.2, 0.8, None], [0.4, 0.8, 0.5]
    assert ensemble([a, b]) == [pytest.approx(0.3), pytest.approx(0.8), None]
    assert ensemble([a, b], "min") == [0.2, 0.8, None]
    assert ensemble([a, b], "mean_minus_std", k=2.0) == [pytest.approx(0.3 - 2 * 0.1), pytest.approx(0.8), None]
    with pytest.raises(ValueError, match="one per response"):
        ensemble([[0.1], [0.1, 0.2]])
