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


def test_two_seeds_get_a_t_interval_and_equal_values_none():
    two = mean_interval([0.90, 0.92])
    assert two.low < 0.90 and two.high > 0.92  # not just the two observed values
    assert two.high - two.low == pytest.approx(2 * 12.706 * np.std([0.90, 0.92], ddof=1) / np.sqrt(2), rel=1e-3)
    same = mean_interval([0.9, 0.9, 0.9])
    assert same.low is None and same.high is None and same.count == 3
    assert paired_difference([0.9, 0.9], [0.8, 0.8]).interval.low is None


def test_holm_adjustment_and_paired_p_values():
    from scalegrid.analysis.uncertainty import holm_adjusted, paired_p_value

    assert holm_adjusted([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06], nan_ok=True)
    assert holm_adjusted([0.5, 0.9]) == [1.0, 1.0]  # 2 x 0.5 caps at 1; monotone after
    assert paired_p_value([0.9], [0.8]) is None
    clear = paired_p_value([0.95, 0.96, 0.94, 0.95], [0.90, 0.91, 0.90, 0.89])
    mixed = paired_p_value([0.90, 0.92, 0.91], [0.91, 0.91, 0.91])
    assert clear < 0.01 < mixed
