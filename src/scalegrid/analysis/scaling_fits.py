"""Learning-curve fits and what they answer: the error at n training images, its bootstrap, backtest, inverse and
crossings.

Pure functions over arrays of runs (training-set size, test error). The laws and the least-squares fit on the log of
the error are :mod:`scalegrid.analysis.curve_forms` (M1-M4 of Alabdulmohsin et al. 2022); :func:`choose_form` is the
one rule that picks a curve's law. Uncertainty comes from refits of resampled runs, and says which kind it is:

- at least 3 runs at every size: the runs are resampled within each size, spread restored to a fresh draw's
  (:func:`within_group_resamples`);
- one or two runs at some size: a residual bootstrap over the curve: the fit's log residuals, each divided by
  sqrt(1 - its leverage), are drawn with replacement onto the fitted curve (:func:`residual_resamples`); with
  fewer than P + 2 runs there is nothing to resample and the fit carries no interval, with the reason.

Percentile intervals of refits are too narrow with few runs (the refits' spread stands in for a noise estimated from
N - P degrees of freedom): each is widened about its point estimate by t(N - P) / z at its level, the usual
small-sample correction (x 1.62 for 6 runs of a 3-parameter curve, x 1.09 for 18). Every interval is widened, where
needed, to hold its own point estimate (a skewed refit distribution can put the point outside its percentiles), and
an interval of zero width is reported as none. Measured coverage: tests/analysis/test_coverage.py (slow).

- :func:`fit_curve`: one curve (>= 4 sizes): the fit, intervals on its parameters and predictions, the backtest.
- :func:`fit_joint`: error(n, m) = c + a·n^-alpha + b·m^-beta over model sizes m (>= 3 of them).
- :func:`effective_data`: the scratch curve's inverse at a pretrained cell's error (Hernandez et al. 2021's D_T).
- :func:`find_crossover`: every crossing of two fitted curves, or the sign they keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

from scalegrid.analysis.curve_forms import (
    ERROR_FLOOR,
    FORMS,
    M2,
    M4,
    Form,
    at_bound,
    fit_best,
    fit_many,
    predict,
    prediction_and_gradient,
)

MIN_SIZES = 4  # a 3-parameter curve needs at least this many distinct sizes
M4_MIN_SIZES = 8  # M4 (4 free parameters with a known guess error) is chosen from this many sizes on
BACKTEST_MIN_SIZES = 5  # the backtest refits on all sizes but the largest: MIN_SIZES must remain
POOR_BACKTEST = 0.25  # a relative divergence of the held-out error above this marks the fit as poor
EXTRAPOLATION = 2.0  # predictions, crossovers and effective sizes are trusted up to this factor past the largest size
REFIT_EVALUATIONS = 25  # a bootstrap refit starts at the point estimate: at most this many solver evaluations
FLAT = 1e-4  # a fitted curve whose error changes less than this over the measured sizes is flat
WITHIN_SIZES = "within-size bootstrap"
WITHIN_SIZE_MIN_RUNS = 3  # with at least this many runs at every size, they are resampled within each size (with 2,
# the within-size bootstrap covered the truth 82-88 % of the time, the residual bootstrap 87-94 %: test_coverage.py)
RESIDUAL = "residual bootstrap"


@dataclass(frozen=True)
class PowerLaw:
    """error(n) = c + a·n^-b (M2's law with its parameters named; a curve of known truth in tests)."""

    a: float
    b: float
    c: float

    def error(self, n):
        return self.c + self.a * np.power(np.asarray(n, dtype=float), -self.b)


@dataclass(frozen=True)
class Law:
    """A fitted law: its form and natural parameters (see curve_forms), with a, b, c named alike for every form:
    a the multiplier, b the exponent, c the floor the error tends to (0 for M1; a·γ^b for M3)."""

    form: Form
    theta: np.ndarray

    def error(self, n):
        n = np.asarray(n, dtype=float)
        return predict(self.form, self.theta, n.ravel())[0].reshape(n.shape)

    @property
    def a(self) -> float:
        return float(named(self.form, self.theta[None, :], "a")[0])

    @property
    def b(self) -> float:
        return float(named(self.form, self.theta[None, :], "b")[0])

    @property
    def c(self) -> float:
        return float(named(self.form, self.theta[None, :], "c")[0])

    def size_for(self, error: float) -> float:
        """The size n at which the curve reaches ``error``; inf at or below the floor c."""
        return float(sizes_for(self.form, self.theta[None, :], np.array([error]))[0])


def named(form: Form, theta: np.ndarray, name: str) -> np.ndarray:
    """Parameter ``name`` (a, b, c, alpha, e0) of each row of ``theta`` (R x P); NaN where the form has none."""
    column = {p: i for i, p in enumerate(form.parameters)}
    rows = theta.shape[0]
    if name == "a":
        return np.exp(theta[:, column["log_a"]])
    if name == "b":
        return theta[:, column["b"]]
    if name == "c":
        if "c" in column:
            return theta[:, column["c"]]
        if "log_gamma" in column:
            return np.exp(theta[:, column["log_a"]] + theta[:, column["b"]] * theta[:, column["log_gamma"]])
        return np.zeros(rows)
    return theta[:, column[name]] if name in column else np.full(rows, np.nan)


def sizes_for(form: Form, theta: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """For each row of ``theta`` (R x P), the size at which it reaches ``errors[row]`` (closed-form inverse of every
    form); inf at or below the floor, NaN for a failed row."""
    a, b, c = (named(form, theta, name) for name in "abc")
    errors = np.asarray(errors, dtype=float)
    with np.errstate(all="ignore"):
        if form.name == "M3":
            inverse = (errors / a) ** (1.0 / b) - np.exp(theta[:, 1])
            size = np.where(inverse > 0, 1.0 / inverse, np.inf)
        elif form is M4:
            alpha, e0 = theta[:, 1], theta[:, 4]
            size = np.where(
                (errors > c) & (errors < e0), (a * (e0 - errors) ** alpha / (errors - c)) ** (1.0 / b), np.inf
            )
            size = np.where(errors >= e0, 0.0, size)
        else:
            size = np.where(errors > c, (a / (errors - c)) ** (1.0 / b), np.inf)
    return np.where(np.isfinite(a), size, np.nan)


def choose_form(distinct_sizes: int, requested: str = "auto") -> Form:
    """The law a curve is fitted with. ``auto`` (the default): M4 from M4_MIN_SIZES distinct sizes on, M2 below.
    M4 extrapolated best on the public benchmark (bench/scaling_benchmark.py, curves of 9 to 59 sizes: at or below the
    best published estimator in every family). With fewer sizes its α and b trade off (6 sizes x 3 seeds of an M2
    truth: b's interval 0.45-1.0 under M4, 0.44-0.59 under M2) and each bootstrap refit costs about ten times M2's,
    so M2 is used."""
    if requested != "auto":
        return FORMS[requested]
    return M4 if distinct_sizes >= M4_MIN_SIZES else M2


def within_group_resamples(groups: np.ndarray, values: np.ndarray, resamples: int, rng: np.random.Generator):
    """Rows (resamples x runs) of the runs drawn with replacement within each group (as many as it has), each spread
    about its group's mean by sqrt(k / (k - 1)) for k runs: a plain bootstrap of k runs has (k - 1) / k of the
    variance of a fresh set of k (2/3 with 3 seeds), which makes intervals too narrow; this restores it (Davison &
    Hinkley 1997, the adjusted residuals of section 3.3)."""
    index = resample_within_sizes(groups, resamples, rng)
    means = np.zeros_like(values)
    factor = np.ones_like(values)
    for group in np.unique(groups):
        members = groups == group
        means[members] = values[members].mean()
        count = int(members.sum())
        factor[members] = np.sqrt(count / (count - 1)) if count > 1 else 1.0
    return means[index] + factor[index] * (values[index] - means[index])


def residual_resamples(
    fitted: np.ndarray, observed: np.ndarray, leverage: np.ndarray, resamples: int, rng: np.random.Generator
):
    """Rows (resamples x runs) of the fitted errors times exp(a log residual drawn with replacement): each log
    residual divided by sqrt(1 - h) for its leverage h (a run at the edge of the sizes pulls the fit toward itself, so
    its residual understates the noise), then centred (Davison & Hinkley 1997, the modified residuals of 6.2)."""
    residuals = np.log(np.maximum(observed, ERROR_FLOOR)) - np.log(np.maximum(fitted, ERROR_FLOOR))
    residuals = residuals / np.sqrt(np.clip(1.0 - leverage, 1e-3, 1.0))
    residuals = residuals - residuals.mean()
    draws = residuals[rng.integers(0, residuals.size, size=(resamples, residuals.size))]
    return fitted[None, :] * np.exp(draws)


def leverages(form: Form, theta: np.ndarray, sizes: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The diagonal of the hat matrix J (J'J)^-1 J' of the fit on log error, over its free parameters."""
    value, gradient = prediction_and_gradient(form, theta[None, :], np.log(sizes)[None, :])
    jacobian = (gradient[0] / np.maximum(value[0], ERROR_FLOOR)[:, None])[:, free]
    inverse = np.linalg.pinv(jacobian.T @ jacobian)
    return np.einsum("ij,jk,ik->i", jacobian, inverse, jacobian)


def refit_each(resampled: np.ndarray, refit: Callable[[np.ndarray], np.ndarray | None], width: int) -> np.ndarray:
    """Each row of ``resampled`` refitted: rows of parameters, NaN where a refit failed. Shared by every bootstrap
    here (curves and the joint fit)."""
    samples = np.full((resampled.shape[0], width), np.nan)
    for row, values in enumerate(resampled):
        params = refit(values)
        if params is not None:
            samples[row] = params
    return samples


def resample_within_sizes(sizes: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Index arrays (resamples x runs): each row draws, with replacement, as many runs of each size as it has."""
    rows = np.empty((resamples, sizes.size), dtype=int)
    for size in np.unique(sizes):
        members = np.flatnonzero(sizes == size)
        rows[:, members] = members[rng.integers(0, members.size, size=(resamples, members.size))]
    return rows


def small_sample_widening(runs: int, free: int, level: float) -> float:
    """t(runs - free) / z at ``level``: how much wider an interval from ``runs`` runs of a ``free``-parameter curve
    must be than its refits' percentiles (1 with no degrees of freedom to speak of: then there is no interval)."""
    dof = runs - free
    if dof < 1:
        return 1.0
    tail = 1 - (1 - level) / 2
    return float(stats.t.ppf(tail, dof) / stats.norm.ppf(tail))


def widen(point, low, high, factor: float, log: bool = False):
    """The interval (low, high) stretched about ``point`` by ``factor`` (in log space for sizes), holding the point."""
    point, low, high = (np.asarray(v, dtype=float) for v in (point, low, high))
    if log:
        with np.errstate(all="ignore"):
            low = np.where(low > 0, point * (low / point) ** factor, low)
            high = np.where(np.isfinite(high), point * (high / point) ** factor, high)
    else:
        low, high = point - factor * (point - low), point + factor * (high - point)
    return np.minimum(low, point), np.maximum(high, point)


def _quantiles(values: np.ndarray, level: float, point: float, factor: float = 1.0) -> tuple[float, float]:
    """The percentile interval of ``values`` at ``level``, widened by ``factor`` about ``point`` and to hold it;
    NaN when none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not np.isfinite(point):
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    low, high = widen(point, *np.quantile(finite, [tail, 1 - tail]), factor)
    return float(low), float(high)


@dataclass
class Backtest:
    """The fit without the largest size, asked to predict it."""

    size: float
    predicted_error: float
    low: float
    high: float
    actual_error: float
    actual_noise: float = 0.0  # the standard error of the held-out mean (its runs' spread / sqrt(k))
    level: float = 0.95

    @property
    def divergence(self) -> float:
        """|predicted - actual| / actual, on the error."""
        return abs(self.predicted_error - self.actual_error) / max(self.actual_error, ERROR_FLOOR)

    @property
    def covered(self) -> bool:
        """The held-out mean error lies inside the refitted curve's interval, each side widened in quadrature by the
        held-out mean's own noise (the interval is the curve's; the mean of k runs scatters about it by its standard
        error). A fit without an interval is not judged."""
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return True
        spread = float(stats.norm.ppf(1 - (1 - self.level) / 2)) * self.actual_noise
        low = self.predicted_error - np.hypot(self.predicted_error - self.low, spread)
        high = self.predicted_error + np.hypot(self.high - self.predicted_error, spread)
        return bool(low <= self.actual_error <= high)

    @property
    def poor(self) -> bool:
        """Fails: diverges by more than POOR_BACKTEST, or the held-out error lies outside the refit's interval."""
        return self.divergence > POOR_BACKTEST or not self.covered


@dataclass
class CurveFit:
    """A fitted learning curve with bootstrap samples of its parameters (R x P natural parameters of its form; NaN
    where a refit failed; None when it carries no interval, ``interval_reason`` says why)."""

    law: Law
    form: str  # the law in words, e.g. "M4: (ε − c)/(ε0 − ε)^α = a·n^-b"
    sizes: np.ndarray  # the distinct sizes measured
    mean_errors: np.ndarray  # the mean error at each of them
    samples: np.ndarray | None
    level: float
    backtest: Backtest | None = None
    backtest_reason: str | None = None
    runs: int = 0
    interval_kind: str | None = None  # WITHIN_SIZES or RESIDUAL; None: no interval
    interval_reason: str | None = None
    at_bound: list[str] = field(default_factory=list)  # parameters that ended on a bound, in words
    widening: float = 1.0  # small_sample_widening for its runs and free parameters

    @property
    def largest(self) -> float:
        return float(self.sizes.max())

    @property
    def form_name(self) -> str:
        return self.law.form.name

    @property
    def has_interval(self) -> bool:
        return self.samples is not None

    @property
    def flat(self) -> bool:
        """The fitted error hardly changes over the measured sizes: nothing to extrapolate."""
        ends = self.law.error(np.array([self.sizes.min(), self.largest]))
        return bool(abs(ends[0] - ends[1]) < FLAT)

    @property
    def floor_identified(self) -> bool:
        return not any(note.startswith("floor") for note in self.at_bound)

    def parameter_interval(self, name: str) -> tuple[float, float]:
        point = float(named(self.law.form, self.law.theta[None, :], name)[0])
        if self.samples is None:
            return float("nan"), float("nan")
        low, high = _quantiles(named(self.law.form, self.samples, name), self.level, point, self.widening)
        return (max(low, 0.0), high) if name in "abc" else (low, high)  # widening stops at the bounds

    def sample_errors(self, n) -> np.ndarray:
        """Bootstrap predictions (resamples x len(n)); an empty array without an interval."""
        n = np.atleast_1d(np.asarray(n, dtype=float))
        if self.samples is None:
            return np.empty((0, n.size))
        return predict(self.law.form, self.samples, n)

    def predict(self, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fitted error at each n and its bootstrap interval (low, high), which holds the fitted error; NaN
        bounds without an interval."""
        n = np.atleast_1d(np.asarray(n, dtype=float))
        point = self.law.error(n)
        draws = self.sample_errors(n)
        ok = np.isfinite(draws).all(axis=1)
        if not ok.any():
            return point, n * np.nan, n * np.nan
        tail = (1 - self.level) / 2
        low, high = widen(point, *np.quantile(draws[ok], [tail, 1 - tail], axis=0), self.widening)
        return point, np.maximum(low, 0.0), high  # an error is never below 0


def _fit_law(form: Form, sizes, errors, guess_error, start=None, ceiling: float | None = None) -> np.ndarray | None:
    """The form's parameters through the runs by least squares on log error (curve_forms.fit_many): from the
    form's multiple starts, or from ``start`` alone (a bootstrap refit near the point estimate)."""
    if start is None:
        theta, _ = fit_best(form, sizes, errors, guess_error, ceiling=ceiling)
        return theta
    theta, cost = fit_many(
        form, sizes, errors[None, :], start[None, :], guess_error, ceiling=ceiling, evaluations=REFIT_EVALUATIONS
    )
    return theta[0] if np.isfinite(cost[0]) else None


def _free_mask(form: Form, guess_error: float | None) -> np.ndarray:
    """Which of the form's parameters the fit moves: all but M4's ε0 when the guess error is known."""
    mask = np.ones(form.size, dtype=bool)
    if form is M4 and guess_error is not None:
        mask[form.parameters.index("e0")] = False
    return mask


def _free_parameters(form: Form, guess_error: float | None) -> int:
    return int(_free_mask(form, guess_error).sum())


def _bootstrap(
    form: Form, sizes: np.ndarray, errors: np.ndarray, theta: np.ndarray, guess_error, level, resamples, seed
) -> tuple[np.ndarray | None, str | None, str | None]:
    """(samples, kind, reason): refits of resampled runs, or None and why there is no interval."""
    rng = np.random.default_rng(seed)
    counts = np.array([np.sum(sizes == size) for size in np.unique(sizes)])
    free = _free_parameters(form, guess_error)
    if counts.min() >= WITHIN_SIZE_MIN_RUNS:
        kind = WITHIN_SIZES
        resampled = within_group_resamples(sizes, errors, resamples, rng)
    else:
        kind = RESIDUAL
        if errors.size < free + 2:
            return (
                None,
                None,
                (
                    f"one run at some size and {errors.size} runs in all: a residual bootstrap of a curve with {free} "
                    f"free parameters needs at least {free + 2}"
                ),
            )
        hat = leverages(form, theta, sizes, _free_mask(form, guess_error))
        resampled = residual_resamples(predict(form, theta, sizes)[0], errors, hat, resamples, rng)
    samples = refit_each(
        np.maximum(resampled, ERROR_FLOOR), lambda row: _fit_law(form, sizes, row, guess_error, theta), form.size
    )
    spread = np.nanstd(predict(form, samples, np.unique(sizes)), axis=0) if np.isfinite(samples).any() else [0.0]
    if np.nanmax(spread) < 1e-9:
        return None, None, "every refit gave the same curve (the runs leave no noise to resample)"
    return samples, kind, None


def fit_point(
    sizes, errors, form: str = "auto", guess_error: float | None = None, error_rate: bool = True
) -> Law | str:
    """The law :func:`choose_form` picks, fitted through the runs (no interval): the estimator fit_curve uses and
    bench/scaling_benchmark.py scores. ``guess_error``: M4's ε0 when known; else 1 for an error rate
    (``error_rate``), learned above the largest value for a loss. The reason as a string when there is no fit."""
    sizes, errors = np.asarray(sizes, dtype=float), np.maximum(np.asarray(errors, dtype=float), ERROR_FLOOR)
    distinct = np.unique(sizes).size
    if distinct < MIN_SIZES:
        return f"{distinct} training-set sizes; a learning curve needs at least {MIN_SIZES}"
    law_form = choose_form(distinct, form)
    if guess_error is None and error_rate:  # M4's ε0 is at most 1 (always wrong): held there, as a free ε0
        guess_error = 1.0  # that α = 0 leaves unidentified slows every bootstrap refit tenfold
    theta = _fit_law(law_form, sizes, errors, guess_error)
    return f"the least-squares fit of {law_form.name} did not converge" if theta is None else Law(law_form, theta)


def fit_curve(
    sizes,
    errors,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    form: str = "auto",
    guess_error: float | None = None,
    backtest: bool = True,
) -> CurveFit | str:
    """Fit one learning curve through its runs (``sizes[i]`` images, ``errors[i]`` test error) with the law
    :func:`choose_form` picks (``form``: auto, M1, M2, M3 or M4; ``guess_error``: the error of a guess, M4's ε0,
    1 when not known; ``backtest``: False skips it);
    the reason as a string when it cannot be fitted (too few sizes, the optimiser failed)."""
    sizes, errors = np.asarray(sizes, dtype=float), np.asarray(errors, dtype=float)
    keep = np.isfinite(sizes) & np.isfinite(errors) & (sizes > 0)
    sizes, errors = sizes[keep], np.maximum(errors[keep], ERROR_FLOOR)
    distinct = np.unique(sizes)
    guess_error = 1.0 if guess_error is None else guess_error  # an error rate: fit_point's rule, here once for all
    law = fit_point(sizes, errors, form, guess_error)
    if isinstance(law, str):
        return law
    law_form, theta = law.form, law.theta
    samples, kind, reason = _bootstrap(law_form, sizes, errors, theta, guess_error, level, resamples, seed)
    means = np.array([errors[sizes == size].mean() for size in distinct])
    curve = CurveFit(
        law,
        f"{law_form.name}: {law_form.formula}",
        distinct,
        means,
        samples,
        level,
        runs=sizes.size,
        interval_kind=kind,
        interval_reason=reason,
        at_bound=at_bound(law_form, theta, errors),
        widening=small_sample_widening(sizes.size, _free_parameters(law_form, guess_error), level),
    )
    if not backtest:
        curve.backtest_reason = "not asked for"
        return curve
    if distinct.size < BACKTEST_MIN_SIZES:
        curve.backtest_reason = f"{distinct.size} sizes; leaving the largest out needs at least {BACKTEST_MIN_SIZES}"
        return curve
    held_out = sizes == distinct[-1]
    rest_theta = _fit_law(law_form, sizes[~held_out], errors[~held_out], guess_error)
    if rest_theta is None:
        curve.backtest_reason = "the fit without the largest size did not converge"
        return curve
    rest_samples, _, _ = _bootstrap(  # half the refits: they judge one held-out point
        law_form, sizes[~held_out], errors[~held_out], rest_theta, guess_error, level, max(resamples // 2, 50), seed
    )
    rest_widening = small_sample_widening(int((~held_out).sum()), _free_parameters(law_form, guess_error), level)
    partial = CurveFit(
        Law(law_form, rest_theta), "", distinct[:-1], means[:-1], rest_samples, level, widening=rest_widening
    )
    predicted, low, high = partial.predict([distinct[-1]])
    held = errors[held_out]
    if held.size > 1:
        noise = float(held.std(ddof=1) / np.sqrt(held.size))
    else:  # one run held out: the noise of a run, from the refit's residuals
        residuals = errors[~held_out] - predict(law_form, rest_theta, sizes[~held_out])[0]
        dof = max(residuals.size - _free_parameters(law_form, guess_error), 1)
        noise = float(np.sqrt(np.sum(residuals**2) / dof))
    curve.backtest = Backtest(
        float(distinct[-1]), float(predicted[0]), float(low[0]), float(high[0]), float(means[-1]), noise, level
    )
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
    the scratch curve's bootstrap refits paired with resampled pretrained runs (NaN bounds when the scratch curve
    carries no interval)."""
    errors = np.asarray(pretrained_errors, dtype=float)
    limit = EXTRAPOLATION * scratch.largest
    mean_error = float(errors.mean())
    point = scratch.law.size_for(mean_error)
    low = high = float("nan")
    if scratch.samples is not None:
        rng = np.random.default_rng(seed)
        draws = errors[rng.integers(0, errors.size, size=(scratch.samples.shape[0], errors.size))].mean(axis=1)
        effective = sizes_for(scratch.law.form, scratch.samples, draws)
        # a refit that never reaches the error gives inf; past the limit every size reads the same (capped below),
        # and a finite stand-in keeps the quantile from interpolating inf - inf (NaN and a RuntimeWarning)
        effective = np.minimum(effective[~np.isnan(effective)], 10 * limit)
        if effective.size:
            tail = (1 - scratch.level) / 2
            quantiles = np.quantile(effective, [tail, 1 - tail])
            if np.isfinite(point):
                low, high = (float(v) for v in widen(point, *quantiles, scratch.widening, log=True))
            else:
                low, high = float(quantiles[0]), float("inf")
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
class Crossing:
    """One size where two fitted curves cross, with the interval of the refits' crossing nearest to it."""

    size: float
    ci_low: float | None
    ci_high: float | None
    share: float  # of the refits, the share with a crossing in this crossing's stretch of sizes


@dataclass
class Crossover:
    """Where curve A's error falls below (or rises above) curve B's, between ``low`` and ``high`` images: every sign
    change of the fitted curves (``crossings``); ``size`` and its CI are the first of them."""

    low: float
    high: float
    measured_high: float  # past this, the crossing is an extrapolation
    size: float | None  # the first crossing of the fitted curves; None: no crossing in [low, high]
    ci_low: float | None
    ci_high: float | None
    share_crossing: float  # of the bootstrap refits, the share that cross in [low, high]
    a_ahead_before: bool  # A has the lower error below the (first) crossing (throughout, when there is none)
    observed_flips: list[tuple[float, float]] = field(
        default_factory=list
    )  # measured sizes between which the sign flips
    crossings: list[Crossing] = field(default_factory=list)
    has_interval: bool = True  # both curves carry bootstrap refits

    @property
    def consistent(self) -> bool:
        """Every sign flip seen in the cells lies inside some fitted crossing's interval (or there is none and no
        flip)."""
        if not self.crossings:
            return not self.observed_flips
        spans = [(c.ci_low or c.size, c.ci_high or c.size) for c in self.crossings]
        return all(any(low <= right and high >= left for low, high in spans) for left, right in self.observed_flips)


def _sign_changes(log_n: np.ndarray, differences: np.ndarray) -> list[np.ndarray]:
    """Per row of ``differences`` (over the grid ``log_n``), the sizes where it changes sign (linear in log n)."""
    sign = np.sign(differences)
    change = (sign[:, :-1] * sign[:, 1:]) < 0
    out = []
    for row, columns in enumerate(change):
        where = np.flatnonzero(columns)
        left, right = differences[row, where], differences[row, where + 1]
        fraction = left / (left - right)
        out.append(np.exp(log_n[where] + fraction * (log_n[where + 1] - log_n[where])))
    return out


def find_crossover(a: CurveFit, b: CurveFit, observed: list[tuple[float, float, float]] | None = None) -> Crossover:
    """Every crossing of two fitted curves between the larger of their smallest sizes and EXTRAPOLATION x the smaller
    of their largest; ``observed`` holds (size, mean error of A, mean error of B) at the sizes both measured. Each
    crossing's interval comes from the refits' crossings in its stretch (halfway, in log n, to its neighbours)."""
    low = float(max(a.sizes.min(), b.sizes.min()))
    measured_high = float(min(a.largest, b.largest))
    high = EXTRAPOLATION * measured_high
    log_n = np.linspace(np.log(low), np.log(high), 160)
    n = np.exp(log_n)

    def gap(x):
        return float(a.law.error(np.exp(x)) - b.law.error(np.exp(x)))

    points = []
    for approximate in _sign_changes(log_n, (a.law.error(n) - b.law.error(n))[None, :])[0]:
        index = int(np.searchsorted(n, approximate))
        points.append(float(np.exp(optimize.brentq(gap, log_n[max(index - 1, 0)], log_n[min(index, len(n) - 1)]))))
    has_interval = a.samples is not None and b.samples is not None
    rows = min(a.samples.shape[0], b.samples.shape[0]) if has_interval else 0
    valid = (np.isfinite(a.samples[:rows]).all(axis=1) & np.isfinite(b.samples[:rows]).all(axis=1)) if rows else []
    draws = _sign_changes(log_n, a.sample_errors(n)[:rows][valid] - b.sample_errors(n)[:rows][valid]) if rows else []
    share = float(sum(d.size > 0 for d in draws) / max(len(draws), 1)) if has_interval else float("nan")
    edges = np.sqrt(np.array(points[:-1]) * np.array(points[1:])) if len(points) > 1 else np.array([])
    bounds = np.concatenate([[0.0], edges, [np.inf]])
    tail = (1 - a.level) / 2
    crossings = []
    for k, point in enumerate(points):
        inside = [d[(d >= bounds[k]) & (d < bounds[k + 1])] for d in draws]
        nearest = np.array([d[np.argmin(np.abs(np.log(d / point)))] for d in inside if d.size])
        if nearest.size:
            factor = max(a.widening, b.widening)
            ci = widen(point, *np.quantile(nearest, [tail, 1 - tail]), factor, log=True)
            crossing = Crossing(point, float(ci[0]), float(ci[1]), nearest.size / len(draws))
        else:
            crossing = Crossing(point, None, None, 0.0)
        crossings.append(crossing)
    ahead = bool(a.law.error(low) < b.law.error(low))
    flips = []
    measured = sorted(observed or [])
    for (n0, a0, b0), (n1, a1, b1) in zip(measured, measured[1:], strict=False):
        if np.sign(a0 - b0) * np.sign(a1 - b1) < 0:
            flips.append((n0, n1))
    first = crossings[0] if crossings else None
    return Crossover(
        low,
        high,
        measured_high,
        first.size if first else None,
        first.ci_low if first else None,
        first.ci_high if first else None,
        share,
        ahead,
        flips,
        crossings,
        has_interval,
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
    cells = n * 1e12 + m  # resample the runs within each (size, model) cell
    resampled = within_group_resamples(cells, errors, resamples, np.random.default_rng(seed))
    samples = refit_each(resampled, lambda row: _fit_joint_once(n, m, row, point), len(JOINT_NAMES))
    intervals = {}
    for i, name in enumerate(JOINT_NAMES):
        intervals[name] = _quantiles(samples[:, i], level, float(point[i]))
    return JointFit(
        dict(zip(JOINT_NAMES, (float(p) for p in point), strict=True)), intervals, [float(x) for x in models]
    )
