"""Learning-curve fits against curves of known truth: exponents, asymptotes, intervals, crossovers, D_T."""

import warnings

import numpy as np
import pytest

from scalegrid.analysis.curve_forms import M4, predict
from scalegrid.analysis.scaling_fits import (
    RESIDUAL,
    WITHIN_SIZES,
    PowerLaw,
    effective_data,
    find_crossover,
    fit_curve,
    fit_joint,
    resample_within_sizes,
)

SIZES = np.geomspace(500, 32_000, 6).round()


def noisy(law, rng, seeds=3, noise=0.005, sizes=SIZES):
    n = np.repeat(sizes, seeds)
    return n, law.error(n) + rng.normal(0, noise, n.size)


TRUTH = PowerLaw(2.0, 0.5, 0.05)


def test_recovers_exponent_and_asymptote():
    fit = fit_curve(*noisy(TRUTH, np.random.default_rng(1)), resamples=150, form="M2")
    assert abs(fit.law.b - 0.5) <= 0.05
    assert abs(fit.law.c - 0.05) <= 0.01
    low, high = fit.parameter_interval("b")
    assert low < fit.law.b < high
    assert fit.form == "M2: c + a·n^-b" and fit.interval_kind == WITHIN_SIZES


def test_default_form_is_m4_from_eight_sizes_and_recovers_its_truth():
    truth = np.array([0.03, 0.8, np.log(4.0), 0.45, 0.9])  # c, alpha, log a, b, e0 = a guess among 10 classes
    sizes = np.geomspace(250, 32_000, 8).round()
    n = np.repeat(sizes, 3)
    errors = predict(M4, truth, n)[0] + np.random.default_rng(11).normal(0, 0.004, n.size)
    fit = fit_curve(n, errors, resamples=100, guess_error=0.9)
    assert fit.form_name == "M4" and fit.law.theta[4] == pytest.approx(0.9)
    low, high = fit.parameter_interval("c")
    assert low <= 0.03 <= high and low <= fit.law.c <= high
    predicted, low, high = fit.predict([2 * sizes[-1]])
    assert low[0] <= predict(M4, truth, [2 * sizes[-1]])[0][0] <= high[0]
    seven = fit_curve(n[n < sizes[-1]], errors[n < sizes[-1]], resamples=50, guess_error=0.9)
    assert seven.form_name == "M2"  # fewer sizes: M4's alpha and b trade off


def test_one_run_per_size_gets_a_residual_bootstrap_that_holds_its_point():
    n, errors = noisy(TRUTH, np.random.default_rng(12), seeds=1, noise=0.003)
    fit = fit_curve(n, errors, resamples=100, form="M2")
    assert fit.interval_kind == RESIDUAL
    for name in "bc":
        low, high = fit.parameter_interval(name)
        assert low < high and low <= getattr(fit.law, name) <= high
    predicted, low, high = fit.predict([2 * SIZES[-1]])
    assert low[0] < predicted[0] < high[0]


def test_runs_that_leave_nothing_to_resample_carry_no_interval():
    n = np.repeat(SIZES, 1)
    exact = fit_curve(n, TRUTH.error(n), resamples=50, form="M2")  # on the curve: every residual is 0
    assert not exact.has_interval and "same curve" in exact.interval_reason
    assert np.isnan(exact.predict([1e5])[1][0])
    few = fit_curve(n[:4], TRUTH.error(n[:4]) + [0.001, -0.001, 0.002, 0.0], resamples=50, form="M2")
    assert not few.has_interval and "needs at least 5" in few.interval_reason
    flat = fit_curve(np.repeat(SIZES, 2), np.full(12, 0.2), resamples=50)
    assert flat.flat and not flat.has_interval


def test_a_floor_at_its_bound_is_named():
    fit = fit_curve(*noisy(PowerLaw(3.0, 0.4, 0.0), np.random.default_rng(13), noise=0.001), resamples=50, form="M2")
    assert "floor at 0" in fit.at_bound and not fit.floor_identified


def test_backtest_predicts_the_held_out_size():
    fit = fit_curve(*noisy(TRUTH, np.random.default_rng(2)), resamples=150, form="M2")
    test = fit.backtest
    assert test.size == SIZES[-1]
    assert test.divergence < 0.1 and not test.poor
    assert test.low < test.predicted_error < test.high


def test_a_backtest_outside_its_interval_fails():
    n, errors = noisy(TRUTH, np.random.default_rng(2), noise=0.002)
    errors = np.where(n == SIZES[-1], errors + 0.012, errors)  # the largest size far better than the curve says
    fit = fit_curve(n, errors, resamples=150, form="M2")
    assert not fit.backtest.covered and fit.backtest.poor


def test_too_few_sizes_is_a_reason_not_a_fit():
    reason = fit_curve(*noisy(TRUTH, np.random.default_rng(3), sizes=SIZES[:3]), form="M2")
    assert isinstance(reason, str) and "3 training-set sizes" in reason and "at least 4" in reason


def test_four_sizes_fit_without_a_backtest():
    fit = fit_curve(*noisy(TRUTH, np.random.default_rng(3), sizes=SIZES[:4]), resamples=50)
    assert fit.backtest is None and "at least 5" in fit.backtest_reason


def test_bootstrap_is_reproducible_with_its_seed():
    data = noisy(TRUTH, np.random.default_rng(4))
    first, again = fit_curve(*data, resamples=50, seed=7, form="M2"), fit_curve(*data, resamples=50, seed=7, form="M2")
    other = fit_curve(*data, resamples=50, seed=8, form="M2")
    np.testing.assert_array_equal(first.samples, again.samples)
    assert not np.array_equal(first.samples, other.samples)


def test_resampling_stays_within_each_size():
    sizes = np.repeat(SIZES, 3)
    rows = resample_within_sizes(sizes, 50, np.random.default_rng(0))
    np.testing.assert_array_equal(sizes[rows], np.broadcast_to(sizes, rows.shape))


def test_crossover_of_curves_built_to_cross_at_8000():
    steep = PowerLaw(20.0, 0.6, 0.02)  # worse on little data, better on much
    crossing = 8000.0
    flat_a = 0.5 * steep.a * crossing**-steep.b  # a flatter curve with the same error at 8,000
    flat = PowerLaw(flat_a, 0.3, steep.error(crossing) - flat_a * crossing**-0.3)
    rng = np.random.default_rng(5)
    a, b = (fit_curve(*noisy(law, rng), resamples=100, seed=i, form="M2") for i, law in enumerate((steep, flat)))
    observed = [(n, steep.error(n), flat.error(n)) for n in SIZES]
    result = find_crossover(a, b, observed)
    assert result.size == pytest.approx(crossing, rel=0.15)
    assert result.ci_low <= crossing <= result.ci_high
    assert result.a_ahead_before is False  # the steep curve starts behind
    assert result.observed_flips and result.consistent and len(result.crossings) == 1


def test_every_crossing_is_found():
    from scalegrid.analysis.curve_forms import M2
    from scalegrid.analysis.scaling_fits import CurveFit, Law

    sizes = np.geomspace(100, 32_000, 6)

    def curve(c, a, b):
        law = Law(M2, np.array([c, np.log(a), b]))
        return CurveFit(law, "M2", sizes, law.error(sizes), None, 0.95, interval_reason="test")

    steep, gentle = curve(0.10, 30.0, 1.0), curve(0.0, 0.6, 0.2)  # ahead, behind, ahead again
    result = find_crossover(steep, gentle)
    assert len(result.crossings) == 2 and result.size == result.crossings[0].size
    for crossing in result.crossings:
        assert steep.law.error(crossing.size) == pytest.approx(gentle.law.error(crossing.size), abs=1e-9)
    assert 100 < result.crossings[0].size < 500 < result.crossings[1].size
    assert not result.has_interval and result.crossings[0].ci_low is None


def test_no_crossover_keeps_the_sign():
    rng = np.random.default_rng(6)
    better = fit_curve(*noisy(PowerLaw(1.5, 0.5, 0.03), rng), resamples=100, form="M2")
    worse = fit_curve(*noisy(PowerLaw(2.5, 0.5, 0.06), rng), resamples=100, form="M2")
    result = find_crossover(better, worse)
    assert result.size is None and result.a_ahead_before and result.share_crossing < 0.05


def test_pretrained_curve_at_four_times_the_data_is_worth_four_times():
    rng = np.random.default_rng(7)
    scratch = fit_curve(*noisy(TRUTH, rng), resamples=300, form="M2")
    sizes = SIZES[SIZES * 4 <= SIZES[-1]]  # the pretrained curve where 4x its size was measured from scratch
    exact = [effective_data(scratch, n, [TRUTH.error(4 * n)] * 3, seed=i) for i, n in enumerate(sizes)]
    assert np.median([value.multiplier for value in exact]) == pytest.approx(4, abs=0.5)
    assert values_cover(exact, 4) >= len(sizes) - 1
    # with 3 noisy seeds (sd 0.005) a single cell's value scatters widely; its interval still holds the truth
    noisy_runs = [effective_data(scratch, n, TRUTH.error(4 * n) + rng.normal(0, 0.005, 3)) for n in sizes]
    assert values_cover(noisy_runs, 4) >= len(sizes) - 1
    assert not any(value.more_than for value in exact)
    assert exact[0].transferred == pytest.approx(exact[0].effective - sizes[0])


def values_cover(values, multiplier) -> int:
    return sum(value.low <= multiplier * value.size <= value.high for value in values)


def test_pretrained_error_below_the_asymptote_is_a_lower_bound():
    scratch = fit_curve(*noisy(TRUTH, np.random.default_rng(8)), resamples=50, form="M2")
    value = effective_data(scratch, 2000, [0.01, 0.011, 0.012])  # far below c = 0.05
    assert value.more_than and value.effective == value.limit == 2 * SIZES[-1]


def test_pretrained_error_near_the_asymptote_gives_a_finite_interval_without_warnings():
    # most refits never reach an error at the floor (inf): the quantiles must not turn that into NaN and a warning
    scratch = fit_curve(*noisy(TRUTH, np.random.default_rng(8)), resamples=100, form="M2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = effective_data(scratch, 2000, [0.049, 0.05, 0.051])
    assert np.isfinite(value.low) and np.isfinite(value.high) and value.high == value.limit and value.high_open


def test_joint_fit_needs_three_model_sizes():
    n = np.repeat(SIZES, 2)
    assert "2 model sizes" in fit_joint(n, np.tile([1e4, 1e5], SIZES.size), n * 0 + 0.1)


def test_joint_fit_recovers_both_exponents():
    rng = np.random.default_rng(9)
    n, m = np.meshgrid(SIZES, [1e4, 4e4, 1.6e5, 6.4e5])
    n, m = np.repeat(n.ravel(), 3), np.repeat(m.ravel(), 3)
    errors = 0.02 + 3 * n**-0.6 + 5 * m**-0.4 + rng.normal(0, 0.002, n.size)
    joint = fit_joint(n, m, errors, resamples=100)
    assert joint.values["alpha"] == pytest.approx(0.6, abs=0.1)
    assert joint.values["beta"] == pytest.approx(0.4, abs=0.15)


@pytest.mark.slow
def test_interval_covers_the_truth_in_most_repeats():
    covered_b = covered_c = 0
    for repeat in range(100):
        fit = fit_curve(*noisy(TRUTH, np.random.default_rng(100 + repeat)), resamples=1000, seed=repeat)
        low, high = fit.parameter_interval("b")
        covered_b += low <= 0.5 <= high
        low, high = fit.parameter_interval("c")
        covered_c += low <= 0.05 <= high
    assert covered_b >= 85 and covered_c >= 85


def test_the_backtest_allows_for_the_held_out_means_own_noise():
    from scalegrid.analysis.scaling_fits import Backtest

    tight = Backtest(32_000, 0.060, 0.059, 0.061, 0.0625)  # 1.5 points outside the curve's interval
    assert not tight.covered and tight.poor
    noisy_mean = Backtest(32_000, 0.060, 0.059, 0.061, 0.0625, actual_noise=0.0015)  # 3 seeds of sd 0.0026
    assert noisy_mean.covered and not noisy_mean.poor
    assert not Backtest(32_000, 0.060, 0.059, 0.061, 0.070, actual_noise=0.0015).covered
