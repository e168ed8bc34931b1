"""Learning-curve fits and what they answer: error(n) = c + a·n^-b, its bootstrap, backtest, inverse and crossings.

Pure functions over arrays of runs (training-set size, test error), fitted with ``scipy.optimize.least_squares``
under bounds (a > 0, b > 0, c >= 0) on the errors themselves (a seed's noise is additive; on log errors the
intervals of 3-seed grids covered the truth less often). Uncertainty comes
from a bootstrap that resamples the runs within each size and refits; every answer carries that interval.

- :func:`fit_curve`: one curve (>= 4 sizes): the fit, intervals on a, b, c and on predictions, the backtest.
- :func:`fit_joint`: error(n, m) = c + a·n^-alpha + b·m^-beta over model sizes m (>= 3 of them).
- :func:`effective_data`: the scratch curve's inverse at a pretrained cell's error (Hernandez et al. 2021's D_T).
- :func:`find_crossover`: where two fitted curves cross, or the sign they keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

MIN_SIZES = 4  # a 3-parameter curve needs at least this many distinct sizes
BACKTEST_MIN_SIZES = 5  # the backtest refits on all sizes but the largest: MIN_SIZES must remain
POOR_BACKTEST = 0.25  # a relative divergence of the held-out error above this marks the fit as poor
EXTRAPOLATION = 2.0  # predictions, crossovers and effective sizes are trusted up to this factor past the largest size
ERROR_FLOOR = 1e-6  # a perfect run's error, for the log


@dataclass(frozen=True)
class PowerLaw:
    """error(n) = c + a·n^-b."""

    a: float
    b: float
    c: float

    def error(self, n):
        return self.c + self.a * np.power(np.asarray(n, dtype=float), -self.b)

    def size_for(self, error: float) -> float:
        """The size n at which the curve reaches ``error``; inf at or below the asymptote c."""
        if error <= self.c:
            return float("inf")
        return float((self.a / (error - self.c)) ** (1.0 / self.b))


def _fit(sizes: np.ndarray, errors: np.ndarray, saturating: bool, start: np.ndarray | None = None) -> np.ndarray | None:
    """Least squares on log error; returns (a, b, c) or None when the optimiser fails."""
    log_n = np.log(sizes)
    top = float(np.max(errors))
    if start is None:
        c0 = 0.5 * float(np.min(errors)) if saturating else 0.0
        slope, intercept = np.polyfit(log_n, np.log(np.maximum(errors - c0, ERROR_FLOOR)), 1)
        start = np.array([intercept, float(np.clip(-slope, 0.05, 3.0)), c0])
    else:
        start = np.array([np.log(max(start[0], 1e-300)), start[1], start[2]])
    lower, upper = [-50.0, 1e-3, 0.0], [50.0, 5.0, max(top, ERROR_FLOOR)]
    start = np.clip(start, np.array(lower) + 1e-9, np.array(upper) - 1e-9)

    def residuals(theta):
        c = theta[2] if saturating else 0.0
        return c + np.exp(theta[0] - theta[1] * log_n) - errors

    if saturating:
        solution = optimize.least_squares(residuals, start, bounds=(lower, upper), method="trf")
        theta = solution.x
    else:
        solution = optimize.least_squares(residuals, start[:2], bounds=(lower[:2], upper[:2]), method="trf")
        theta = np.append(solution.x, 0.0)
    if not solution.success or not np.all(np.isfinite(theta)):
        return None
    return np.array([np.exp(theta[0]), theta[1], theta[2]])


def fit_power_law(sizes, errors, saturating: bool = True) -> PowerLaw | None:
    """The least-squares curve through runs (one size and error each); None when the optimiser fails."""
    params = _fit(np.asarray(sizes, dtype=float), np.asarray(errors, dtype=float), saturating)
    return None if params is None else PowerLaw(*params)


def resample_within_sizes(sizes: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Index arrays (resamples x runs): each row draws, with replacement, as many runs of each size as it has."""
    rows = np.empty((resamples, sizes.size), dtype=int)
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        rows[:, members] = members[rng.integers(0, members.size, size=(resamples, members.size))]
    return rows


@dataclass
class Backtest:
    """The fit without the largest size, asked to predict it."""

    size: float
    predicted_error: float
    low: float
    high: float
    actual_error: float

    @property
    def divergence(self) -> float:
        """|predicted - actual| / actual, on the error."""
        return abs(self.predicted_error - self.actual_error) / max(self.actual_error, ERROR_FLOOR)

    @property
    def poor(self) -> bool:
        return self.divergence > POOR_BACKTEST

    @property
    def covered(self) -> bool:
        return self.low <= self.actual_error <= self.high


@dataclass
class CurveFit:
    """A fitted learning curve with bootstrap samples of its parameters (rows of a, b, c; NaN where a refit failed)."""

    law: PowerLaw
    form: str  # "c + a·n^-b" or "a·n^-b" (the fallback when the saturating fit fails)
    sizes: np.ndarray  # the distinct sizes measured
    mean_errors: np.ndarray  # the mean error at each of them
    samples: np.ndarray
    level: float
    backtest: Backtest | None = None
    backtest_reason: str | None = None
    runs: int = 0

    @property
    def largest(self) -> float:
        return float(self.sizes.max())

    def _quantiles(self, values: np.ndarray) -> tuple[float, float]:
        tail = (1 - self.level) / 2
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return float("nan"), float("nan")
        return float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail))

    def parameter_interval(self, name: str) -> tuple[float, float]:
        return self._quantiles(self.samples[:, "abc".index(name)])

    def sample_errors(self, n) -> np.ndarray:
        """Bootstrap predictions (resamples x len(n))."""
        n = np.atleast_1d(np.asarray(n, dtype=float))
        a, b, c = (self.samples[:, i : i + 1] for i in range(3))
        return c + a * np.power(n[None, :], -b)

    def predict(self, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fitted error at each n and its bootstrap interval (low, high)."""
        n = np.atleast_1d(np.asarray(n, dtype=float))
        tail = (1 - self.level) / 2
        draws = self.sample_errors(n)
        ok = np.isfinite(draws).all(axis=1)
        low, high = np.quantile(draws[ok], [tail, 1 - tail], axis=0) if ok.any() else (n * np.nan, n * np.nan)
        return self.law.error(n), low, high


def inflated_resamples(sizes: np.ndarray, values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Resampled runs spread about their size's mean by sqrt(k / (k - 1)) for k runs of that size: a plain
    bootstrap of k runs has (k - 1) / k of the variance of a fresh set of k (2/3 with 3 seeds), which makes
    intervals too narrow; this restores it (Davison & Hinkley 1997, the adjusted residuals of section 3.3)."""
    means = np.zeros_like(values)
    factor = np.ones_like(values)
    for size in np.unique(sizes):
        members = sizes == size
        means[members] = values[members].mean()
        count = int(members.sum())
        factor[members] = np.sqrt(count / (count - 1)) if count > 1 else 1.0
    return means[index] + factor[index] * (values[index] - means[index])


def _bootstrap_fits(
    sizes: np.ndarray, errors: np.ndarray, saturating: bool, start: np.ndarray, resamples: int, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    samples = np.full((resamples, 3), np.nan)
    for row, index in enumerate(resample_within_sizes(sizes, resamples, rng)):
        params = _fit(sizes[index], inflated_resamples(sizes, errors, index), saturating, start)
        if params is not None:
            samples[row] = params
    return samples


def _fit_with_fallback(sizes: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, bool] | None:
    params = _fit(sizes, errors, saturating=True)
    if params is not None:
        return params, True
    params = _fit(sizes, errors, saturating=False)
    return None if params is None else (params, False)


def fit_curve(sizes, errors, level: float = 0.95, resamples: int = 1000, seed: int = 0) -> CurveFit | str:
    """Fit one learning curve through its runs (``sizes[i]`` images, ``errors[i]`` test error); the reason as a
    string when it cannot be fitted (too few sizes, the optimiser failed)."""
    sizes, errors = np.asarray(sizes, dtype=float), np.asarray(errors, dtype=float)
    keep = np.isfinite(sizes) & np.isfinite(errors) & (sizes > 0)
    sizes, errors = sizes[keep], errors[keep]
    distinct = np.unique(sizes)
    if distinct.size < MIN_SIZES:
        return f"{distinct.size} training-set sizes; a curve c + a·n^-b needs at least {MIN_SIZES}"
    fitted = _fit_with_fallback(sizes, errors)
    if fitted is None:
        return "the least-squares fit did not converge"
    params, saturating = fitted
    samples = _bootstrap_fits(sizes, errors, saturating, params, resamples, seed)
    means = np.array([errors[sizes == size].mean() for size in distinct])
    curve = CurveFit(
        PowerLaw(*params), "c + a·n^-b" if saturating else "a·n^-b", distinct, means, samples, level, runs=sizes.size
    )
    if distinct.size < BACKTEST_MIN_SIZES:
        curve.backtest_reason = f"{distinct.size} sizes; leaving the largest out needs at least {BACKTEST_MIN_SIZES}"
        return curve
    held_out = sizes == distinct[-1]
    rest = _fit_with_fallback(sizes[~held_out], errors[~held_out])
    if rest is None:
        curve.backtest_reason = "the fit without the largest size did not converge"
        return curve
    rest_params, rest_saturating = rest
    rest_samples = _bootstrap_fits(sizes[~held_out], errors[~held_out], rest_saturating, rest_params, resamples, seed)
    partial = CurveFit(PowerLaw(*rest_params), "", distinct[:-1], means[:-1], rest_samples, level)
    predicted, low, high = partial.predict([distinct[-1]])
    curve.backtest = Backtest(float(distinct[-1]), float(predicted[0]), float(low[0]), float(high[0]), float(means[-1]))
    return curve


@dataclass
class TransferValue:
    """What a pretrained cell at ``size`` images is worth: the size ``effective`` at which the scratch curve reaches
    its error. ``more_than`` is set when that lies past the trusted range (or below the asymptote): then ``effective``
    is only a lower bound, ``limit``."""

    size: float
    pretrained_error: float
    effective: float
    low: float
    high: float
    limit: float
    more_than: bool
    high_open: bool  # the interval's upper end lies past the limit

    @property
    def transferred(self) -> float:
        """D_T = n_eff - n, images."""
        return self.effective - self.size

    @property
    def multiplier(self) -> float:
        return self.effective / self.size


def effective_data(scratch: CurveFit, size: float, pretrained_errors, seed: int = 0) -> TransferValue:
    """n_eff for the pretrained runs at ``size`` (their test errors): the point at the mean error, the interval from
    the scratch curve's bootstrap refits paired with resampled pretrained runs."""
    errors = np.asarray(pretrained_errors, dtype=float)
    limit = EXTRAPOLATION * scratch.largest
    mean_error = float(errors.mean())
    point = scratch.law.size_for(mean_error)
    rng = np.random.default_rng(seed)
    draws = errors[rng.integers(0, errors.size, size=(scratch.samples.shape[0], errors.size))].mean(axis=1)
    a, b, c = scratch.samples.T
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        effective = np.where(draws > c, (a / (draws - c)) ** (1.0 / b), np.inf)
    effective = effective[np.isfinite(a)]
    tail = (1 - scratch.level) / 2
    low, high = np.quantile(effective, [tail, 1 - tail]) if effective.size else (np.nan, np.nan)
    more_than = not np.isfinite(point) or point > limit
    return TransferValue(
        float(size),
        mean_error,
        limit if more_than else float(point),
        float(min(low, limit)),
        float(min(high, limit)),
        limit,
        more_than,
        bool(high >= limit),
    )


@dataclass
class Crossover:
    """Where curve A's error falls below (or rises above) curve B's, between ``low`` and ``high`` images."""

    low: float
    high: float
    measured_high: float  # past this, the crossing is an extrapolation
    size: float | None  # the crossing of the fitted curves; None: no crossing in [low, high]
    ci_low: float | None
    ci_high: float | None
    share_crossing: float  # of the bootstrap refits, the share that cross in [low, high]
    a_ahead_before: bool  # A has the lower error below the crossing (throughout, when there is none)
    observed_flips: list[tuple[float, float]] = field(
        default_factory=list
    )  # measured sizes between which the sign flips

    @property
    def consistent(self) -> bool:
        """Every sign flip seen in the cells lies inside the fitted crossing's interval (or there is none and no flip)."""
        if self.size is None:
            return not self.observed_flips
        low, high = self.ci_low or self.size, self.ci_high or self.size
        return all(low <= right and high >= left for left, right in self.observed_flips)


def _first_crossings(log_n: np.ndarray, differences: np.ndarray) -> np.ndarray:
    """Per row of ``differences`` (over the grid ``log_n``), the first size where it changes sign (NaN: none)."""
    sign = np.sign(differences)
    change = (sign[:, :-1] * sign[:, 1:]) < 0
    first = np.argmax(change, axis=1)
    found = change[np.arange(len(first)), first]
    rows = np.arange(len(first))
    left, right = differences[rows, first], differences[rows, first + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = left / (left - right)
    log_cross = np.where(found, log_n[first] + fraction * (log_n[first + 1] - log_n[first]), 0.0)
    return np.where(found, np.exp(log_cross), np.nan)


def find_crossover(a: CurveFit, b: CurveFit, observed: list[tuple[float, float, float]] | None = None) -> Crossover:
    """The crossing of two fitted curves between the larger of their smallest sizes and EXTRAPOLATION x the smaller of
    their largest; ``observed`` holds (size, mean error of A, mean error of B) at the sizes both measured."""
    low = float(max(a.sizes.min(), b.sizes.min()))
    measured_high = float(min(a.largest, b.largest))
    high = EXTRAPOLATION * measured_high
    log_n = np.linspace(np.log(low), np.log(high), 512)
    n = np.exp(log_n)
    point = _first_crossings(log_n, (a.law.error(n) - b.law.error(n))[None, :])[0]
    size = None
    if np.isfinite(point):  # refine on the fitted curves

        def gap(x):
            return float(a.law.error(np.exp(x)) - b.law.error(np.exp(x)))

        index = int(np.searchsorted(n, point))
        size = float(np.exp(optimize.brentq(gap, log_n[max(index - 1, 0)], log_n[min(index, len(n) - 1)])))
    draws = _first_crossings(log_n, a.sample_errors(n) - b.sample_errors(n))
    valid = np.isfinite(a.samples).all(axis=1) & np.isfinite(b.samples).all(axis=1)
    crossing = draws[valid & np.isfinite(draws)]
    share = float(crossing.size / max(valid.sum(), 1))
    tail = (1 - a.level) / 2
    ci = np.quantile(crossing, [tail, 1 - tail]) if size is not None and crossing.size else (None, None)
    ahead = bool(a.law.error(low) < b.law.error(low))
    flips = []
    points = sorted(observed or [])
    for (n0, a0, b0), (n1, a1, b1) in zip(points, points[1:], strict=False):
        if np.sign(a0 - b0) * np.sign(a1 - b1) < 0:
            flips.append((n0, n1))
    return Crossover(
        low,
        high,
        measured_high,
        size,
        None if ci[0] is None else float(ci[0]),
        None if ci[1] is None else float(ci[1]),
        share,
        ahead,
        flips,
    )


@dataclass
class JointFit:
    """error(n, m) = c + a·n^-alpha + b·m^-beta over training-set sizes n and model sizes m (parameters)."""

    values: dict[str, float]  # a, alpha, b, beta, c
    intervals: dict[str, tuple[float, float]]
    model_sizes: list[float]

    def error(self, n, m):
        v = self.values
        return v["c"] + v["a"] * np.power(n, -v["alpha"]) + v["b"] * np.power(m, -v["beta"])


JOINT_NAMES = ("a", "alpha", "b", "beta", "c")


def _fit_joint_once(n: np.ndarray, m: np.ndarray, errors: np.ndarray, start: np.ndarray | None) -> np.ndarray | None:
    log_n, log_m = np.log(n), np.log(m)
    if start is None:
        c0 = 0.5 * float(errors.min())
        slope, intercept = np.polyfit(log_n, np.log(np.maximum(errors - c0, ERROR_FLOOR)), 1)
        start = np.array([intercept, float(np.clip(-slope, 0.05, 3.0)), np.log(c0 + ERROR_FLOOR), 0.5, 0.25 * c0])
    else:
        start = np.array([np.log(start[0]), start[1], np.log(max(start[2], 1e-300)), start[3], start[4]])
    lower = [-50.0, 1e-3, -50.0, 1e-3, 0.0]
    upper = [50.0, 5.0, 50.0, 5.0, max(float(errors.max()), ERROR_FLOOR)]
    start = np.clip(start, np.array(lower) + 1e-9, np.array(upper) - 1e-9)

    def residuals(theta):
        return theta[4] + np.exp(theta[0] - theta[1] * log_n) + np.exp(theta[2] - theta[3] * log_m) - errors

    solution = optimize.least_squares(residuals, start, bounds=(lower, upper), method="trf")
    if not solution.success or not np.all(np.isfinite(solution.x)):
        return None
    t = solution.x
    return np.array([np.exp(t[0]), t[1], np.exp(t[2]), t[3], t[4]])


def fit_joint(n, m, errors, level: float = 0.95, resamples: int = 1000, seed: int = 0) -> JointFit | str:
    """The joint model x data fit of Rosenfeld et al. (2020) through runs at sizes ``n`` with ``m`` parameters;
    the reason as a string when it cannot be identified."""
    n, m, errors = (np.asarray(v, dtype=float) for v in (n, m, errors))
    models = np.unique(m)
    if models.size < 3:
        return (
            f"{models.size} model size{'s' if models.size != 1 else ''}: with fewer than 3, the model term's b and beta "
            "and the asymptote c cannot be told apart (fit each curve alone instead)"
        )
    if np.unique(n).size < MIN_SIZES:
        return f"{np.unique(n).size} training-set sizes; the joint fit needs at least {MIN_SIZES}"
    point = _fit_joint_once(n, m, errors, None)
    if point is None:
        return "the joint least-squares fit did not converge"
    rng = np.random.default_rng(seed)
    cells = n * 1e12 + m  # resample the runs within each (size, model) cell
    samples = np.full((resamples, 5), np.nan)
    for row, index in enumerate(resample_within_sizes(cells, resamples, rng)):
        params = _fit_joint_once(n[index], m[index], errors[index], point)
        if params is not None:
            samples[row] = params
    tail = (1 - level) / 2
    intervals = {}
    for i, name in enumerate(JOINT_NAMES):
        finite = samples[:, i][np.isfinite(samples[:, i])]
        intervals[name] = (
            tuple(float(q) for q in np.quantile(finite, [tail, 1 - tail])) if finite.size else (np.nan,) * 2
        )
    return JointFit(
        dict(zip(JOINT_NAMES, (float(p) for p in point), strict=True)), intervals, [float(x) for x in models]
    )
