"""Pairwise mode's arithmetic: pick the best of N responses (2 <= N <= the pack's labels).

The judge sees the responses in some order and names a label; everything here turns that
back into one probability per response in the item's own order, so a swapped or reversed
showing is already undone when a judgment is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from judge.errors import JudgeError
from judge.formats import FormatPack


def check_count(count: int, pack: FormatPack) -> None:
    """An item shows 2 to len(pack.labels) responses: one label per response it shows."""
    most = len(pack.labels)
    if 2 <= count <= most:
        return
    if most == 2:
        raise JudgeError(f"pairwise mode needs exactly 2 responses, item has {count}")
    raise JudgeError(
        f"pairwise mode needs 2 to {most} responses with format pack '{pack.name}' "
        f"(one per label: {', '.join(pack.labels)}), item has {count}"
    )


def orders(count: int, both_orders: bool) -> list[tuple[int, ...]]:
    """The orders the responses are shown in, as original indexes by position.

    The given order first; with both orders, the reversed one too (for 2 responses, the swap).
    For more than 2, reversing puts every response in a new position save the middle one of an
    odd count: a cheap check of position bias, not every permutation.
    """
    given = tuple(range(count))
    return [given, given[::-1]] if both_orders else [given]


def in_item_order(shown: Sequence[float], order: tuple[int, ...]) -> list[float]:
    """Per-position values (label i = the response shown i-th) moved to the item's own order."""
    values = [0.0] * len(order)
    for position, index in enumerate(order):
        values[index] = shown[position]
    return values


def unique_best(values: Sequence[float]) -> int | None:
    """The index of the strictly highest value; None when two or more share it (a tie)."""
    top = max(values)
    best = [i for i, value in enumerate(values) if value == top]
    return best[0] if len(best) == 1 else None
