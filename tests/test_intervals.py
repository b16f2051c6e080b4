"""Exact and score intervals against values computed by hand or published tables."""

from __future__ import annotations

import math

import pytest

from affectlens.eval.intervals import clopper_pearson, poisson_rate, wilson


def test_clopper_pearson_matches_the_textbook_values() -> None:
    # 0 of 10: upper bound 1 - 0.025 ** (1/10) (the "rule of three" family); 10 of 10 mirrors it.
    low, high = clopper_pearson(0, 10)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** 0.1, abs=1e-9)
    low, high = clopper_pearson(10, 10)
    assert high == 1.0 and low == pytest.approx(0.025 ** 0.1, abs=1e-9)
    # 11 of 25 (the Le2i figure in the falls issue: 24-65%).
    low, high = clopper_pearson(11, 25)
    assert (round(low, 2), round(high, 2)) == (0.24, 0.65)


def test_wilson_is_inside_zero_one_and_not_degenerate_at_the_ends() -> None:
    low, high = wilson(42, 42)
    assert 0.9 < low < 1.0 and high == pytest.approx(1.0)
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-3) and high == pytest.approx(0.7634, abs=1e-3)


def test_poisson_rate_is_the_exact_garwood_interval() -> None:
    low, high = poisson_rate(0, 2.0)  # 0 events in 2 hours: upper 3.689 / 2 per hour
    assert low == 0.0 and high == pytest.approx(3.6889 / 2, abs=1e-3)
    low, high = poisson_rate(1, 1.0)
    assert low == pytest.approx(0.0253, abs=1e-3) and high == pytest.approx(5.5716, abs=1e-3)


def test_no_trials_gives_nan_and_bad_counts_are_refused() -> None:
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)
    with pytest.raises(ValueError):
        wilson(-1, 2)
    with pytest.raises(ValueError):
        poisson_rate(1, 0.0)
