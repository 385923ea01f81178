"""Reward shaping for RL: plain functions over lists of rewards, where None stays None.

A missing reward (an unparsed or failed judgment) is never made a number here: every helper
passes None through, and group statistics are taken over the rewards that exist.

- `group_normalise`: GRPO's advantage, (r - mean of the group) / (std of the group + eps).
- `clip`: bound rewards to [low, high].
- `delta`: a reward relative to a reference's (the same prompt's reference-policy response),
  so a trainer optimises the improvement, not the level (delta shaping).
- `gate`: per-component thresholds: a reward counts only when every component clears its bar.
- `ensemble`: several judges' rewards as one: mean, min, or mean minus k times their spread
  (reward-robust RLHF's pessimistic combination).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

Rewards = Sequence[float | None]


def group_normalise(rewards: Rewards, groups: Sequence[Hashable], eps: float = 1e-4, scale: bool = True) -> list[float | None]:
    """Each reward minus its group's mean (divided by the group's std + eps when `scale`); a
    group's std is the population std over its present rewards, as GRPO computes it."""
    if len(rewards) != len(groups):
        raise ValueError(f"{len(rewards)} rewards but {len(groups)} group keys")
    members: dict[Hashable, list[float]] = {}
    for reward, group in zip(rewards, groups):
        if reward is not None:
            members.setdefault(group, []).append(reward)
    stats = {g: (_mean(v), _std(v)) for g, v in members.items()}
    shaped: list[float | None] = []
    for reward, group in zip(rewards, groups):
        if reward is None:
            shaped.append(None)
            continue
        mean, std = stats[group]
        shaped.append((reward - mean) / (std + eps) if scale else reward - mean)
    return shaped


def clip(rewards: Rewards, low: float | None = None, high: float | None = None) -> list[float | None]:
    if low is not None and high is not None and low > high:
        raise ValueError(f"clip: low ({low}) is above high ({high})")
    return [None if r is None else min(max(r, low if low is not None else r), high if high is not None else r) for r in rewards]


def delta(rewards: Rewards, references: Rewards) -> list[float | None]:
    """Each reward minus its reference's; None where either is missing."""
    if len(rewards) != len(references):
        raise ValueError(f"{len(rewards)} rewards but {len(references)} reference rewards")
    return [None if r is None or b is None else r - b for r, b in zip(rewards, references)]


def gate(rewards: Rewards, components: Sequence[Mapping[str, float | None]], thresholds: Mapping[str, float],
         fail_value: float = 0.0) -> list[float | None]:
    """The reward where every thresholded component is at or above its bar, else `fail_value`;
    None where the reward, or a thresholded component, is missing."""
    if len(rewards) != len(components):
        raise ValueError(f"{len(rewards)} rewards but {len(components)} component sets")
    shaped: list[float | None] = []
    for reward, parts in zip(rewards, components):
        missing = [name for name in thresholds if name not in parts]
        if missing:
            raise ValueError(f"gate: no component named {', '.join(repr(m) for m in missing)} (components: {', '.join(parts)})")
        values = [parts[name] for name in thresholds]
        if reward is None or any(v is None for v in values):
            shaped.append(None)
        else:
            shaped.append(reward if all(parts[n] >= bar for n, bar in thresholds.items()) else fail_value)  # type: ignore[operator]
    return shaped


def ensemble(judges: Sequence[Rewards], how: Literal["mean", "min", "mean_minus_std"] = "mean", k: float = 1.0) -> list[float | None]:
    """Per response, several judges' rewards as one; None unless every judge gave one (a missing
    judge would bias a mean or a min silently)."""
    if not judges:
        raise ValueError("ensemble: give at least one judge's rewards")
    if len({len(j) for j in judges}) != 1:
        raise ValueError(f"ensemble: the judges gave {sorted({len(j) for j in judges})} rewards; each must give one per response")
    shaped: list[float | None] = []
    for values in zip(*judges):
        if any(v is None for v in values):
            shaped.append(None)
        elif how == "mean":
            shaped.append(_mean(values))  # type: ignore[arg-type]
        elif how == "min":
            shaped.append(min(values))  # type: ignore[type-var]
        elif how == "mean_minus_std":
            shaped.append(_mean(values) - k * _std(values))  # type: ignore[arg-type]
        else:
            raise ValueError(f"ensemble: how is mean, min or mean_minus_std, not '{how}'")
    return shaped


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _std(values: Sequence[float]) -> float:
    mean = _mean(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
