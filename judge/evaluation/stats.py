"""The two statistics an evaluation needs, in plain Python: an interval for an accuracy, and a
paired test for two judges on the same questions (no scipy: the core installs without it)."""

from __future__ import annotations

import math

from judge.evaluation.report import Interval

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: a two-sided 95% interval
EXACT_MAX = 25  # McNemar: exact binomial up to this many disagreements, chi-squared above


def wilson(k: int, n: int, z: float = Z95) -> Interval | None:
    """Wilson score interval for k successes in n trials; None when there were no trials.

    Chosen over the normal (Wald) interval because it stays inside [0, 1] and keeps its
    coverage at small n and near 0% or 100%, which is where judge accuracies on small
    subsets live.
    """
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"wilson: k={k} successes is outside 0..n={n}")
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return Interval(low=max(0.0, center - half), high=min(1.0, center + half))


def mcnemar(b: int, c: int) -> tuple[float, str]:
    """Two-sided McNemar p-value from the discordant pairs and the method used.

    `b`: units A got right and B wrong; `c`: units B got right and A wrong. Exact binomial
    (X ~ Bin(b + c, 1/2), p = min(1, 2 P(X <= min(b, c)))) for b + c <= 25, where the
    chi-squared approximation is poor; above, chi-squared with Edwards' continuity correction
    (the correction is floored at 0 so that b == c gives p = 1).
    """
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar: counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0, "exact"
    if n <= EXACT_MAX:
        tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
        return min(1.0, 2 * tail / 2**n), "exact"
    x = max(abs(b - c) - 1, 0) ** 2 / n
    return math.erfc(math.sqrt(x / 2)), "chi2"
