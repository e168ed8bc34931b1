"""Measured coverage of the learning-curve intervals: synthetic curves of known truth, 1, 2, 3 and 5 runs per size,
the 95 % intervals of the exponent b, the floor c and the prediction at twice the largest size (slow: minutes).

The target (issue 27) is 90-98 % coverage. A share measured over 200 repeats has a standard error of about 1.5
points, so the test accepts 87-99 % (the target widened by two standard errors): a measured 88 % is consistent with
90 %, while a method that covers 80 % (the within-size bootstrap with 2 runs per size) or 76 % (the residual
bootstrap without the small-sample widening) fails. The figures are in docs/performance.md."""

from __future__ import annotations

import numpy as np
import pytest

from scalegrid.analysis.scaling_fits import PowerLaw, fit_curve

TRUTH = PowerLaw(2.0, 0.5, 0.05)
SIZES = np.geomspace(500, 32_000, 6).round()
NOISE = 0.004
REPEATS = 200
REFITS = 200
ACCEPTED = (0.87, 0.99)  # the 90-98 % target, widened by two standard errors of a 200-repeat share


def coverage(runs_per_size: int, repeats: int = REPEATS, form: str = "M2", seed: int = 0) -> dict[str, float]:
    """The share of repeats whose interval holds the truth, for b, c and the prediction at 2x the largest size."""
    rng = np.random.default_rng(seed)
    n = np.repeat(SIZES, runs_per_size)
    doubled = 2 * SIZES[-1]
    hits = {"b": 0, "c": 0, "prediction": 0}
    for repeat in range(repeats):
        errors = TRUTH.error(n) + rng.normal(0, NOISE, n.size)
        fit = fit_curve(n, errors, resamples=REFITS, seed=repeat, form=form, backtest=False)
        for name in "bc":
            low, high = fit.parameter_interval(name)
            hits[name] += bool(low <= getattr(TRUTH, name) <= high)
        _, low, high = fit.predict([doubled])
        hits["prediction"] += bool(low[0] <= TRUTH.error(doubled) <= high[0])
    return {name: count / repeats for name, count in hits.items()}


@pytest.mark.slow
@pytest.mark.parametrize("runs_per_size", [1, 2, 3, 5])
def test_intervals_cover_the_truth_at_their_level(runs_per_size):
    measured = coverage(runs_per_size)
    print(f"coverage with {runs_per_size} run(s) per size: {measured}")
    for name, share in measured.items():
        low, high = ACCEPTED
        assert low <= share <= high, f"{name}: {share:.1%} with {runs_per_size} run(s) per size ({measured})"
