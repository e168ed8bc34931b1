"""Bootstrap intervals of few-seed means and paired differences."""

import numpy as np
import pytest

from scalegrid.analysis.uncertainty import mean_interval, paired_difference


def test_mean_interval_brackets_the_mean_and_is_seeded():
    values = [0.91, 0.93, 0.95]
    first, again = mean_interval(values, seed=3), mean_interval(values, seed=3)
    assert first == again
    assert first.low < first.mean < first.high and first.mean == pytest.approx(0.93)
    assert 0.91 <= first.low and first.high <= 0.95
    assert first.few_seeds is False and mean_interval(values[:2]).few_seeds is True


def test_single_run_has_no_interval():
    single = mean_interval([0.9])
    assert single.low is None and single.high is None and single.count == 1


def test_wider_level_gives_a_wider_interval():
    values = np.random.default_rng(0).normal(0.9, 0.01, 5)
    narrow, wide = mean_interval(values, level=0.5), mean_interval(values, level=0.99)
    assert wide.low < narrow.low and narrow.high < wide.high


def test_paired_difference_and_probability():
    a, b = np.array([0.95, 0.96, 0.94]), np.array([0.90, 0.92, 0.91])
    result = paired_difference(a, b)
    assert result.interval.mean == pytest.approx(0.04)
    assert result.interval.low > 0 and result.probability_a_higher == 1.0
    reverse = paired_difference(b, a)
    assert reverse.interval.high < 0 and reverse.probability_a_higher == 0.0
    mixed = paired_difference([0.9, 0.92, 0.91], [0.91, 0.91, 0.91])
    assert 0 < mixed.probability_a_higher < 1
