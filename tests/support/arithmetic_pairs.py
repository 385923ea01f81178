"""A small preference set where checking the arithmetic decides: each prompt asks for a calculation,
the chosen response does it right, the rejected one makes one subtle slip (a carried digit, a wrong
fraction, an off-by-one percentage) in an otherwise identical answer.

Written by the tests (and by the issue-15 eval, `python tests/support/arithmetic_pairs.py OUT`)
from a fixed seed, so every run judges the same rows. Our own data: no licence beyond the project's.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

Case = tuple[str, str, str]  # prompt, right answer text, wrong answer text


def _product(rng: random.Random) -> Case:
    a, b = rng.randint(23, 98), rng.randint(23, 98)
    right = a * b
    wrong = right + rng.choice([-10, 10, -100, 100])
    return (f"What is {a} × {b}?", f"{a} × {b} = {right}.", f"{a} × {b} = {wrong}.")


def _fractions(rng: random.Random) -> Case:
    p, q = rng.randint(2, 9), rng.randint(2, 9)
    while q == p:
        q = rng.randint(2, 9)
    total = Fraction(1, p) + Fraction(1, q)
    wrong = Fraction(2, p + q)  # the classic slip: adding numerators and denominators
    return (f"Add 1/{p} and 1/{q}. Give the result as a reduced fraction.",
            f"1/{p} + 1/{q} = {total.numerator}/{total.denominator}.", f"1/{p} + 1/{q} = {wrong.numerator}/{wrong.denominator}.")


def _percentage(rng: random.Random) -> Case:
    price, off = rng.choice([80, 120, 250, 360, 480]), rng.choice([15, 20, 25, 35])
    right = price * (100 - off) / 100
    wrong = right + price * 0.05
    return (f"A coat costs ${price} and is {off}% off. What is the sale price?",
            f"The discount is {off}% of ${price}, so the sale price is ${right:g}.",
            f"The discount is {off}% of ${price}, so the sale price is ${wrong:g}.")


def _power(rng: random.Random) -> Case:
    base, exponent = rng.choice([2, 3, 7]), rng.randint(5, 9)
    right = base**exponent
    return (f"Compute {base}^{exponent}.", f"{base}^{exponent} = {right}.", f"{base}^{exponent} = {right + base}.")


def _sum(rng: random.Random) -> Case:
    numbers = [rng.randint(105, 989) for _ in range(4)]
    right = sum(numbers)
    shown = " + ".join(map(str, numbers))
    return (f"What is {shown}?", f"{shown} = {right}.", f"{shown} = {right - 100}.")


KINDS: tuple[Callable[[random.Random], Case], ...] = (_product, _fractions, _percentage, _power, _sum)


def arithmetic_pairs(n: int = 20, seed: int = 15) -> list[dict[str, str]]:
    """`n` rows in the pairs format (`prompt`, `chosen`, `rejected`), kinds taken in turn."""
    rng = random.Random(seed)
    rows = []
    for index in range(n):
        prompt, right, wrong = KINDS[index % len(KINDS)](rng)
        rows.append({"id": f"arith-{index}", "subset": "arithmetic", "prompt": prompt, "chosen": right, "rejected": wrong})
    return rows


def write(path: Path, n: int = 20) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in arithmetic_pairs(n)), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 20))
