"""What a grid answers: learning-curve fits per curve, crossovers, what pretraining is worth, paired comparisons.

Works on :func:`scalegrid.analysis.grid_frame.load_grid`'s table. A *curve* is the completed runs that share every
swept key but the data size and the seed; two curves that differ in one key are compared (crossover), and a
pretrained curve is measured against the scratch curve it differs from in one key (effective data transferred).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalegrid.analysis.figure_layout import SIZE_KEYS
from scalegrid.analysis.grid_frame import ERROR_COLUMN, SIZE_COLUMN
from scalegrid.analysis.grid_table import SEED_KEY, sort_key
from scalegrid.analysis.scaling_fits import (
    EXTRAPOLATION,
    Crossover,
    CurveFit,
    JointFit,
    TransferValue,
    effective_data,
    find_crossover,
    fit_curve,
    fit_joint,
)
from scalegrid.analysis.uncertainty import PairedDifference, mean_interval, paired_difference


@dataclass(frozen=True)
class AnswerSettings:
    """The statistics' knobs (``runtime.report`` in conf/train.yaml: ci_level, resamples, fit_resamples, bootstrap_seed)."""

    level: float = 0.95
    resamples: int = 10_000  # bootstrap resamples for means and paired differences
    fit_resamples: int = 1_000  # bootstrap refits per learning curve
    seed: int = 0


@dataclass
class Curve:
    """The completed runs of one curve: its settings (every swept key but size and seed) and the fit or why none."""

    settings: dict[str, str]
    runs: pd.DataFrame
    pretrained: bool
    fit: CurveFit | None = None
    reason: str | None = None

    @property
    def name(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.settings.items()) or "all runs"

    @property
    def params(self) -> float | None:
        values = self.runs["params_total"].dropna()
        return float(values.median()) if len(values) else None


@dataclass
class CurvePair:
    """Two curves that differ in one key, and their crossing."""

    key: str
    a: Curve
    b: Curve
    crossover: Crossover


@dataclass
class PretrainingValue:
    """A pretrained curve against the scratch curve it differs from in ``key``, one entry per measured size."""

    key: str
    pretrained: Curve
    scratch: Curve
    values: list[TransferValue]


@dataclass
class Comparison:
    """Two cells that differ in one key, paired on the seeds both ran: test accuracy A - B."""

    key: str
    settings: dict[str, str]  # the cell's other settings
    a: str
    b: str
    difference: PairedDifference


@dataclass
class Answers:
    size_key: str | None
    curves: list[Curve] = field(default_factory=list)
    pairs: list[CurvePair] = field(default_factory=list)
    pretraining: list[PretrainingValue] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    joint: JointFit | str | None = None
    excluded: pd.DataFrame | None = None  # runs left out: not completed, or no test accuracy
    reason: str | None = None  # why nothing was fitted at all
    settings: AnswerSettings = field(default_factory=AnswerSettings)


def _differ_in_one(a: dict[str, str], b: dict[str, str]) -> str | None:
    different = [key for key in a if a[key] != b.get(key)]
    return different[0] if len(different) == 1 else None


def curves_of(frame: pd.DataFrame, size_key: str) -> list[Curve]:
    """Completed runs grouped into curves by every swept key but ``size_key`` and the seed."""
    keys = [key for key in frame.attrs.get("swept_keys", []) if key not in (size_key, SEED_KEY)]
    curves = []
    groups = frame.groupby(keys, sort=False, dropna=False) if keys else [((), frame)]
    for values, members in groups:
        values = values if isinstance(values, tuple) else (values,)
        settings = dict(zip(keys, (str(v) for v in values), strict=True))
        curves.append(Curve(settings, members, bool(members["pretrained"].all())))
    return sorted(curves, key=lambda c: tuple(sort_key(v) for v in c.settings.values()))


def _observed(a: Curve, b: Curve) -> list[tuple[float, float, float]]:
    mean_a = a.runs.groupby(SIZE_COLUMN)[ERROR_COLUMN].mean()
    mean_b = b.runs.groupby(SIZE_COLUMN)[ERROR_COLUMN].mean()
    shared = mean_a.index.intersection(mean_b.index)
    return [(float(n), float(mean_a[n]), float(mean_b[n])) for n in shared]


def _pretraining_values(pretrained: Curve, scratch: Curve, key: str, settings: AnswerSettings) -> PretrainingValue:
    values = []
    for index, (size, members) in enumerate(sorted(pretrained.runs.groupby(SIZE_COLUMN), key=lambda item: item[0])):
        errors = members[ERROR_COLUMN].to_numpy()
        values.append(effective_data(scratch.fit, float(size), errors, seed=settings.seed + index))
    return PretrainingValue(key, pretrained, scratch, values)


def paired_comparisons(frame: pd.DataFrame, settings: AnswerSettings) -> list[Comparison]:
    """Every two cells at the same size that differ in one other swept key (model, init, arm, ...), paired on the
    seeds both ran (at least 2); differences between sizes are the learning curves' business."""
    keys = [key for key in frame.attrs.get("swept_keys", []) if key != SEED_KEY]
    if not keys or SEED_KEY not in frame:
        return []
    cells = {
        values if isinstance(values, tuple) else (values,): members.set_index(SEED_KEY)["test_acc"]
        for values, members in frame.groupby(keys, sort=False)
    }
    comparisons = []
    for (key_a, acc_a), (key_b, acc_b) in itertools.combinations(
        sorted(cells.items(), key=lambda item: tuple(sort_key(v) for v in item[0])), 2
    ):
        a, b = dict(zip(keys, key_a, strict=True)), dict(zip(keys, key_b, strict=True))
        key = _differ_in_one(a, b)
        shared = acc_a.index.intersection(acc_b.index)
        if key is None or key in SIZE_KEYS or len(shared) < 2:
            continue
        difference = paired_difference(
            acc_a[shared].to_numpy(), acc_b[shared].to_numpy(), settings.level, settings.resamples, settings.seed
        )
        others = {k: v for k, v in a.items() if k != key}
        comparisons.append(Comparison(key, others, a[key], b[key], difference))
    return comparisons


def answer_grid(frame: pd.DataFrame, settings: AnswerSettings | None = None) -> Answers:
    """Fit every curve of the grid table and derive the crossovers, pretraining values and paired comparisons."""
    settings = settings or AnswerSettings()
    usable = frame[(frame["status"] == "completed") & frame["test_acc"].notna()]
    excluded = frame.drop(usable.index)
    usable = usable.copy()
    usable.attrs = dict(frame.attrs)
    swept = frame.attrs.get("swept_keys", [])
    size_key = next((key for key in swept if key in SIZE_KEYS), None)
    answers = Answers(size_key, excluded=excluded, settings=settings)
    answers.comparisons = paired_comparisons(usable, settings)
    if size_key is None:
        answers.reason = "the grid does not sweep the training-set size (data.fraction): no learning curves to fit"
        return answers
    usable = usable[usable[SIZE_COLUMN].notna()]
    answers.curves = curves_of(usable, size_key)
    for index, curve in enumerate(answers.curves):
        fitted = fit_curve(
            curve.runs[SIZE_COLUMN],
            curve.runs[ERROR_COLUMN],
            settings.level,
            settings.fit_resamples,
            settings.seed + index,
        )
        curve.fit, curve.reason = (fitted, None) if isinstance(fitted, CurveFit) else (None, fitted)
    for a, b in itertools.combinations(answers.curves, 2):
        key = _differ_in_one(a.settings, b.settings)
        if key is None:
            continue
        if a.pretrained != b.pretrained:
            pretrained, scratch = (a, b) if a.pretrained else (b, a)
            if scratch.fit is not None:
                answers.pretraining.append(_pretraining_values(pretrained, scratch, key, settings))
        if a.fit is not None and b.fit is not None:
            answers.pairs.append(CurvePair(key, a, b, find_crossover(a.fit, b.fit, _observed(a, b))))
    scratch_runs = usable[~usable["pretrained"]]
    params = scratch_runs["params_total"]
    if params.notna().all() and len(scratch_runs):
        answers.joint = fit_joint(
            scratch_runs[SIZE_COLUMN],
            params,
            scratch_runs[ERROR_COLUMN],
            settings.level,
            settings.fit_resamples,
            settings.seed,
        )
    return answers


def cell_intervals(frame: pd.DataFrame, keys: list[str], settings: AnswerSettings) -> dict[tuple, object]:
    """The test-accuracy interval of every cell (completed runs), keyed by the cell's values of ``keys``."""
    usable = frame[(frame["status"] == "completed") & frame["test_acc"].notna()]
    if not keys:
        return (
            {(): mean_interval(usable["test_acc"], settings.level, settings.resamples, settings.seed)}
            if len(usable)
            else {}
        )
    out = {}
    for values, members in usable.groupby(keys, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        out[tuple(str(v) for v in values)] = mean_interval(
            members["test_acc"], settings.level, settings.resamples, settings.seed
        )
    return out


# ----- words -----


def images(n: float) -> str:
    return f"{n:,.0f}"


def _percent(error: float) -> str:
    return f"{100 * (1 - error):.2f}"


def _times(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def crossover_sentence(pair: CurvePair, level: float) -> str:
    c, key = pair.crossover, pair.key
    a, b = pair.a.settings[key], pair.b.settings[key]
    context = ", ".join(f"{k}={v}" for k, v in pair.a.settings.items() if k != key)
    where = f" ({context})" if context else ""
    if c.size is None:
        ahead, behind = (a, b) if c.a_ahead_before else (b, a)
        sentence = (
            f"No crossover between {images(c.low)} and {images(c.high)} images{where}: {key}={ahead} is ahead of "
            f"{key}={behind} throughout ({100 * c.share_crossing:.0f} % of bootstrap refits cross)"
        )
    else:
        later, earlier = (b, a) if c.a_ahead_before else (a, b)
        ci = (
            f" ({100 * level:.0f} % CI {images(c.ci_low)}–{images(c.ci_high)}; {100 * c.share_crossing:.0f} % of refits cross)"
            if c.ci_low is not None
            else ""
        )
        extrapolated = " — extrapolated past the largest size measured" if c.size > c.measured_high else ""
        sentence = f"{key}={later} overtakes {key}={earlier}{where} at about {images(c.size)} images{ci}{extrapolated}"
    if not c.consistent:
        flips = ", ".join(f"{images(x)}–{images(y)}" for x, y in c.observed_flips)
        sentence += f". **The cells disagree**: their order flips between {flips} images"
    return sentence + "."


def transfer_phrase(value: TransferValue, level: float) -> str:
    """ "about 6.0× the images (CI 4.1–9.3×; D_T ≈ 2,300)" or "more than 12× (...)"."""
    multiplier, low, high = value.multiplier, value.low / value.size, value.high / value.size
    head = f"more than {_times(multiplier)}×" if value.more_than else f"about {_times(multiplier)}×"
    high_text = f"more than {_times(high)}" if value.high_open else _times(high)
    dt = f"D_T > {images(value.transferred)}" if value.more_than else f"D_T ≈ {images(value.transferred)}"
    return f"{head} the images ({100 * level:.0f} % CI {_times(low)}–{high_text}×; {dt} images)"


def pretraining_sentence(value: PretrainingValue, level: float) -> str:
    first = value.values[0]
    key = value.key
    context = ", ".join(f"{k}={v}" for k, v in value.pretrained.settings.items() if k != key)
    where = f" for {context}" if context else ""
    return (
        f"At {images(first.size)} training images{where}, the {key}={value.pretrained.settings[key]} start is worth "
        f"{transfer_phrase(first, level)} of the {key}={value.scratch.settings[key]} curve."
    )


def prediction_sentence(curve: Curve, level: float) -> str:
    fit = curve.fit
    doubled = EXTRAPOLATION * fit.largest
    predicted, low, high = fit.predict([doubled])
    b_low, b_high = fit.parameter_interval("b")
    return (
        f"{curve.name}: predicted accuracy with twice the data ({images(doubled)} images): {_percent(predicted[0])} % "
        f"({100 * level:.0f} % CI {_percent(high[0])}–{_percent(low[0])}); error falls as n^-{fit.law.b:.2f} "
        f"(CI {b_low:.2f}–{b_high:.2f}) toward {100 * fit.law.c:.2f} %."
    )


def backtest_sentence(curves: list[Curve]) -> str | None:
    tested = [curve for curve in curves if curve.fit is not None and curve.fit.backtest is not None]
    if not tested:
        return None
    divergences = [curve.fit.backtest.divergence for curve in tested]
    poor = [curve.name for curve in tested if curve.fit.backtest.poor]
    sentence = (
        f"Backtest: refitted without the largest size, the curves predict its error within a mean relative divergence "
        f"of {100 * np.mean(divergences):.1f} % (worst {100 * max(divergences):.1f} %, {len(tested)} curves)"
    )
    if poor:
        sentence += f"; **poor** (> 25 %): {'; '.join(poor)}"
    return sentence + "."


def joint_sentence(joint: JointFit | str | None, level: float) -> str | None:
    if joint is None:
        return None
    if isinstance(joint, str):
        return f"Joint model × data fit: not identified — {joint}."
    v, ci = joint.values, joint.intervals
    return (
        f"Joint fit ε(n, m) = c∞ + a·n^-α + b·m^-β over {len(joint.model_sizes)} model sizes: α = {v['alpha']:.2f} "
        f"(CI {ci['alpha'][0]:.2f}–{ci['alpha'][1]:.2f}), β = {v['beta']:.2f} (CI {ci['beta'][0]:.2f}–"
        f"{ci['beta'][1]:.2f}), c∞ = {100 * v['c']:.2f} % error (CI {100 * ci['c'][0]:.2f}–{100 * ci['c'][1]:.2f})."
    )


def answer_sentences(answers: Answers) -> list[str]:
    """The report's "Answers": one sentence each, with numbers and intervals."""
    level = answers.settings.level
    if answers.reason:
        return [answers.reason[0].upper() + answers.reason[1:] + "."]
    lines = [crossover_sentence(pair, level) for pair in answers.pairs if pair.key not in (SEED_KEY,)]
    lines = [line for pair, line in zip(answers.pairs, lines, strict=True) if not _is_pretraining_pair(pair)] + [
        line for pair, line in zip(answers.pairs, lines, strict=True) if _is_pretraining_pair(pair)
    ]
    lines += [pretraining_sentence(value, level) for value in answers.pretraining if value.values]
    lines += [prediction_sentence(curve, level) for curve in answers.curves if curve.fit is not None]
    unfitted = [f"{curve.name} ({curve.reason})" for curve in answers.curves if curve.fit is None]
    if unfitted:
        lines.append("No learning-curve fit for " + "; ".join(unfitted) + ".")
    for sentence in (backtest_sentence(answers.curves), joint_sentence(answers.joint, level)):
        if sentence:
            lines.append(sentence)
    return lines


def _is_pretraining_pair(pair: CurvePair) -> bool:
    return pair.a.pretrained != pair.b.pretrained


# ----- files for other tools -----


def _finite(value):
    return None if value is None or not np.isfinite(value) else float(value)


def curve_rows(answers: Answers) -> list[dict]:
    """One row per curve for fits.csv: its settings, form, a, b, c with intervals, the backtest."""
    rows = []
    for curve in answers.curves:
        row = {**curve.settings, "pretrained": curve.pretrained, "runs": len(curve.runs)}
        row["sizes"] = int(curve.runs[SIZE_COLUMN].nunique())
        fit = curve.fit
        row["form"] = fit.form if fit else ""
        row["reason"] = curve.reason or ""
        for name in "abc":
            low, high = fit.parameter_interval(name) if fit else (None, None)
            row[name] = _finite(getattr(fit.law, name)) if fit else None
            row[f"{name}_low"], row[f"{name}_high"] = _finite(low), _finite(high)
        test = fit.backtest if fit else None
        row["backtest_size"] = test.size if test else None
        row["backtest_predicted_error"] = test.predicted_error if test else None
        row["backtest_low"], row["backtest_high"] = (test.low, test.high) if test else (None, None)
        row["backtest_actual_error"] = test.actual_error if test else None
        row["backtest_divergence"] = test.divergence if test else None
        row["backtest_reason"] = (fit.backtest_reason or "") if fit else ""
        rows.append(row)
    return rows


def fits_payload(answers: Answers) -> dict:
    """Everything the Answers section says, as data (fits.json)."""
    settings = answers.settings
    return {
        "settings": {
            "ci_level": settings.level,
            "resamples": settings.resamples,
            "fit_resamples": settings.fit_resamples,
            "bootstrap_seed": settings.seed,
        },
        "size_key": answers.size_key,
        "reason": answers.reason,
        "curves": curve_rows(answers),
        "crossovers": [
            {
                "key": pair.key,
                "a": pair.a.settings,
                "b": pair.b.settings,
                "low": pair.crossover.low,
                "high": pair.crossover.high,
                "size": pair.crossover.size,
                "ci": [pair.crossover.ci_low, pair.crossover.ci_high],
                "share_crossing": pair.crossover.share_crossing,
                "a_ahead_before": pair.crossover.a_ahead_before,
                "observed_flips": pair.crossover.observed_flips,
                "consistent_with_cells": pair.crossover.consistent,
            }
            for pair in answers.pairs
        ],
        "pretraining": [
            {
                "key": value.key,
                "pretrained": value.pretrained.settings,
                "scratch": value.scratch.settings,
                "sizes": [
                    {
                        "size": v.size,
                        "pretrained_error": v.pretrained_error,
                        "effective_size": v.effective,
                        "effective_ci": [v.low, v.high],
                        "transferred": v.transferred,
                        "multiplier": v.multiplier,
                        "lower_bound": v.more_than,
                        "ci_high_open": v.high_open,
                        "limit": v.limit,
                    }
                    for v in value.values
                ],
            }
            for value in answers.pretraining
        ],
        "joint": (
            {"reason": answers.joint}
            if isinstance(answers.joint, str)
            else None
            if answers.joint is None
            else {
                "values": answers.joint.values,
                "intervals": answers.joint.intervals,
                "models": answers.joint.model_sizes,
            }
        ),
        "comparisons": [
            {
                "key": c.key,
                "settings": c.settings,
                "a": c.a,
                "b": c.b,
                "mean_difference": c.difference.interval.mean,
                "ci": [c.difference.interval.low, c.difference.interval.high],
                "seeds": c.difference.interval.count,
                "probability_a_higher": c.difference.probability_a_higher,
            }
            for c in answers.comparisons
        ],
        "excluded": [
            {"run_dir": row.run_dir, "status": row.status, "error": row.error}
            for row in (answers.excluded.itertuples() if answers.excluded is not None else [])
        ],
    }
