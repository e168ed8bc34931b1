"""Confidence intervals for few-seed results: percentile bootstrap of a cell's mean, paired differences of two arms.

Pure functions over arrays (the seeds of a cell), after rliable: every compared number carries its interval. The
resampling is scipy's (``scipy.stats.bootstrap``, vectorised), seeded so that a report is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

FEW_SEEDS = 3  # fewer seeds than this: the interval is marked as resting on too few runs


@dataclass(frozen=True)
class Interval:
    """A mean over ``count`` runs with its interval: a percentile bootstrap from 3 runs, Student's t with 2, None with
    one run or runs that do not vary (never an interval of zero width)."""

    mean: float
    low: float | None
    high: float | None
    count: int

    @property
    def few_seeds(self) -> bool:
        return self.count < FEW_SEEDS


@dataclass(frozen=True)
class PairedDifference:
    """Mean of A - B over the seeds both arms ran, its interval, and the bootstrap probability that A's mean is higher."""

    interval: Interval
    probability_a_higher: float | None


def _bootstrap_means(values: np.ndarray, level: float, resamples: int, seed: int):
    return stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=resamples,
        confidence_level=level,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )


def mean_interval(values, level: float = 0.95, resamples: int = 10_000, seed: int = 0) -> Interval:
    """The mean of ``values`` (one per seed) and its percentile bootstrap interval at ``level``."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("mean_interval needs at least one finite value")
    mean = float(values.mean())
    if values.size == 1 or np.all(values == values[0]):  # nothing varies: no interval rather than one of zero width
        return Interval(mean, None, None, int(values.size))
    if values.size == 2:  # a bootstrap of two values can only return them: Student's t interval instead
        low, high = _t_interval(values, level)
        return Interval(mean, low, high, 2)
    low, high = _bootstrap_means(values, level, resamples, seed).confidence_interval
    return Interval(mean, float(low), float(high), int(values.size))


def _t_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    half = float(stats.t.ppf(1 - (1 - level) / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return float(values.mean() - half), float(values.mean() + half)


def paired_difference(a, b, level: float = 0.95, resamples: int = 10_000, seed: int = 0) -> PairedDifference:
    """A - B seed by seed (``a[i]`` and ``b[i]`` ran with the same seed, split and data order): the mean difference,
    its bootstrap interval, and P(A > B), the share of resampled mean differences above zero (ties count half)."""
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if differences.size == 0:
        raise ValueError("paired_difference needs at least one pair")
    if differences.size == 1:
        return PairedDifference(Interval(float(differences[0]), None, None, 1), None)
    if np.all(differences == differences[0]):
        mean = float(differences[0])
        return PairedDifference(Interval(mean, None, None, int(differences.size)), float(mean > 0) + 0.5 * (mean == 0))
    if differences.size == 2:
        low, high = _t_interval(differences, level)
        probability = float(stats.t.sf(-differences.mean() / (differences.std(ddof=1) / np.sqrt(2)), 1))
        return PairedDifference(Interval(float(differences.mean()), low, high, 2), probability)
    result = _bootstrap_means(differences, level, resamples, seed)
    distribution = result.bootstrap_distribution
    higher = float(np.mean(distribution > 0) + 0.5 * np.mean(distribution == 0))
    low, high = result.confidence_interval
    return PairedDifference(Interval(float(differences.mean()), float(low), float(high), int(differences.size)), higher)


MULTIPLICITY_METHOD = "Holm"  # how the paired comparisons' p-values are adjusted for their number


def paired_p_value(a, b) -> float | None:
    """The two-sided paired t-test p-value of A - B (seed by seed); None with fewer than 2 pairs, 1.0 when every
    difference is 0, 0.0 when every difference is the same non-zero value."""
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if differences.size < 2:
        return None
    if np.all(differences == differences[0]):
        return 1.0 if differences[0] == 0 else 0.0
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def holm_adjusted(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (Holm 1979) of a family of p-values (None entries are left out of the family):
    the k-th smallest of m is multiplied by m - k + 1, made monotone, capped at 1. Controls the chance of any false
    claim among them at the nominal level."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(present)
    for rank, (p, index) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted
