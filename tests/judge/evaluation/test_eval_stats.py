"""Wilson interval and McNemar's test against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from judge.evaluation.stats import mcnemar, wilson


def test_wilson_8_of_10() -> None:
    # z = 1.959964, z^2 = 3.841459, n = 10, p = 0.8
    # denominator = 1 + z^2/n = 1.384146
    # centre = (p + z^2/(2n)) / denominator = (0.8 + 0.192073) / 1.384146 = 0.716740
    # half = z * sqrt(p(1-p)/n + z^2/(4n^2)) / denominator
    #      = 1.959964 * sqrt(0.016 + 0.009604) / 1.384146 = 1.959964 * 0.160011 / 1.384146 = 0.226578
    # interval = (0.716740 - 0.226578, 0.716740 + 0.226578) = (0.490162, 0.943318)
    interval = wilson(8, 10)
    assert interval is not None
    assert interval.low == pytest.approx(0.490162, abs=1e-6)
    assert interval.high == pytest.approx(0.943318, abs=1e-6)
    assert interval.method == "wilson" and interval.level == 0.95


def test_wilson_extremes_stay_in_unit_interval() -> None:
    # k = 0, n = 5: denominator = 1 + 3.841459/5 = 1.768292; centre = (0 + 0.384146) / 1.768292 = 0.217241;
    # half = 1.959964 * sqrt(0 + 3.841459/100) / 1.768292 = 1.959964 * 0.196000 / 1.768292 = 0.217241
    # -> low = 0 (clamped from ~0), high = 0.434482
    zero = wilson(0, 5)
    assert zero is not None
    assert zero.low == 0.0
    assert zero.high == pytest.approx(0.434482, abs=1e-6)
    # k = n = 5 mirrors it: (1 - 0.434482, 1) = (0.565518, 1.0)
    full = wilson(5, 5)
    assert full is not None
    assert full.low == pytest.approx(0.565518, abs=1e-6)
    assert full.high == 1.0


def test_wilson_no_trials_and_bad_counts() -> None:
    assert wilson(0, 0) is None
    with pytest.raises(ValueError, match="outside"):
        wilson(3, 2)


def test_wilson_other_z() -> None:
    # z = 1, k = 1, n = 2: p = 0.5, denominator = 1.5, centre = (0.5 + 0.25) / 1.5 = 0.5,
    # half = sqrt(0.125 + 0.0625) / 1.5 = 0.433013 / 1.5 = 0.288675
    interval = wilson(1, 2, z=1.0)
    assert interval is not None
    assert interval.low == pytest.approx(0.5 - 0.288675, abs=1e-6)
    assert interval.high == pytest.approx(0.5 + 0.288675, abs=1e-6)


def test_mcnemar_exact_small() -> None:
    # b = 1, c = 6: X ~ Bin(7, 1/2); P(X <= 1) = (C(7,0) + C(7,1)) / 2^7 = (1 + 7) / 128
    # p = 2 * 8 / 128 = 0.125
    p, method = mcnemar(1, 6)
    assert method == "exact"
    assert p == pytest.approx(0.125)
    # symmetric in b and c
    assert mcnemar(6, 1) == (p, "exact")


def test_mcnemar_exact_caps_at_one_and_no_disagreements() -> None:
    # b = c = 2: 2 * P(X <= 2), X ~ Bin(4, 1/2) = 2 * (1 + 4 + 6) / 16 = 1.375 -> capped at 1
    assert mcnemar(2, 2) == (1.0, "exact")
    assert mcnemar(0, 0) == (1.0, "exact")


def test_mcnemar_exact_at_the_boundary() -> None:
    # b + c = 25 is still exact: b = 5, c = 20: 2 * sum_{i<=5} C(25, i) / 2^25
    # sum = 1 + 25 + 300 + 2300 + 12650 + 53130 = 68406; p = 136812 / 33554432 = 0.0040773...
    p, method = mcnemar(5, 20)
    assert method == "exact"
    assert p == pytest.approx(136812 / 33554432)


def test_mcnemar_chi2_branch() -> None:
    # b = 20, c = 10: b + c = 30 > 25 -> chi-squared with continuity correction
    # x = (|20 - 10| - 1)^2 / 30 = 81 / 30 = 2.7; p = erfc(sqrt(1.35)) = 0.100348 (chi2, 1 df, at 2.7)
    p, method = mcnemar(20, 10)
    assert method == "chi2"
    assert p == pytest.approx(0.100348, abs=1e-6)
    assert p == pytest.approx(math.erfc(math.sqrt(1.35)))


def test_mcnemar_chi2_equal_counts_is_one() -> None:
    # b = c = 13 (26 > 25): |b - c| - 1 = -1, floored at 0 -> x = 0 -> p = erfc(0) = 1
    assert mcnemar(13, 13) == (1.0, "chi2")


def test_mcnemar_negative_counts_refused() -> None:
    with pytest.raises(ValueError, match="b=-1"):
        mcnemar(-1, 2)
