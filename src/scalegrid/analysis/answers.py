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
    named,
)
from scalegrid.analysis.uncertainty import (
    MULTIPLICITY_METHOD,
    PairedDifference,
    holm_adjusted,
    mean_interval,
    paired_difference,
    paired_p_value,
)

REFIT_BUDGET = 4_000  # bootstrap refits per report across all curves: with many curves each gets fewer ...
MIN_REFITS = 200  # ... but never fewer than this
SUMMARY_CURVES = 8  # with more curves than this, the Answers section summarises per key (full lists: fits.json)


@dataclass(frozen=True)
class AnswerSettings:
    """The statistics' knobs (``runtime.report`` in conf/train.yaml: ci_level, resamples, fit_resamples, bootstrap_seed)."""

    level: float = 0.95
    resamples: int = 10_000  # bootstrap resamples for means and paired differences
    fit_resamples: int = 1_000  # bootstrap refits per learning curve
    seed: int = 0
    form: str = "auto"  # the learning-curve law: auto (scaling_fits.choose_form), M1, M2, M3 or M4


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
    p_value: float | None = None  # paired t-test, two-sided
    p_adjusted: float | None = None  # Holm-adjusted over the grid's comparisons


@dataclass
class StillImproving:
    """A cell whose runs' validation accuracy was still rising when training stopped (most of its seeds)."""

    curve: str
    size: float
    rising: int  # runs still rising
    runs: int
    gain: float  # the median gain over the last epochs, accuracy
    metric: str = "validation"  # whose history: validation, or training where the runs had no validation split


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
    still_improving: list[StillImproving] = field(default_factory=list)
    fit_resamples: int = 0  # refits per curve this report used (REFIT_BUDGET shares them out)


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
        p_value = paired_p_value(acc_a[shared].to_numpy(), acc_b[shared].to_numpy())
        comparisons.append(Comparison(key, others, a[key], b[key], difference, p_value))
    for comparison, adjusted in zip(comparisons, holm_adjusted([c.p_value for c in comparisons]), strict=True):
        comparison.p_adjusted = adjusted
    return comparisons


def guess_error(runs: pd.DataFrame) -> float | None:
    """The error of a guess among the runs' classes (1 - 1/K), M4's ε0; None when the runs do not say."""
    classes = runs["classes"].dropna() if "classes" in runs else []
    return None if not len(classes) else 1.0 - 1.0 / float(classes.median())


def still_improving_cells(curves: list[Curve]) -> list[StillImproving]:
    """The cells of each curve where most runs were still improving when training stopped."""
    found = []
    for curve in curves:
        if "still_improving" not in curve.runs:
            continue
        for size, members in sorted(curve.runs.groupby(SIZE_COLUMN), key=lambda item: item[0]):
            rising = int(members["still_improving"].sum())
            if rising and 2 * rising > len(members):
                gain = float(members["last_epochs_gain"].dropna().median())
                metric = str(members["progress_metric"].iloc[0]) if "progress_metric" in members else "validation"
                found.append(StillImproving(curve.name, float(size), rising, len(members), gain, metric))
    return found


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
    answers.still_improving = still_improving_cells(answers.curves)
    answers.fit_resamples = min(settings.fit_resamples, max(MIN_REFITS, REFIT_BUDGET // max(len(answers.curves), 1)))
    for index, curve in enumerate(answers.curves):
        fitted = fit_curve(
            curve.runs[SIZE_COLUMN],
            curve.runs[ERROR_COLUMN],
            settings.level,
            answers.fit_resamples,
            settings.seed + index,
            form=settings.form,
            guess_error=guess_error(curve.runs),
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
            answers.fit_resamples,
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


def _context(settings: dict[str, str], key: str) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items() if k != key)


def _crossing_text(crossing, level: float) -> str:
    if crossing.ci_low is None:
        return f"{images(crossing.size)}"
    return (
        f"{images(crossing.size)} ({100 * level:.0f} % CI {images(crossing.ci_low)}–{images(crossing.ci_high)}; "
        f"{100 * crossing.share:.0f} % of refits cross there)"
    )


def crossover_sentence(pair: CurvePair, level: float) -> str:
    c, key = pair.crossover, pair.key
    a, b = pair.a.settings[key], pair.b.settings[key]
    context = _context(pair.a.settings, key)
    where = f" ({context})" if context else ""
    refits = (
        f"{100 * c.share_crossing:.0f} % of bootstrap refits cross"
        if c.has_interval
        else "no interval: a curve carries none"
    )
    if not c.crossings:
        ahead, behind = (a, b) if c.a_ahead_before else (b, a)
        sentence = (
            f"No crossover between {images(c.low)} and {images(c.high)} images{where}: {key}={ahead} is ahead of "
            f"{key}={behind} throughout ({refits})"
        )
    elif len(c.crossings) == 1:
        later, earlier = (b, a) if c.a_ahead_before else (a, b)
        crossing = c.crossings[0]
        ci = (
            f" ({100 * level:.0f} % CI {images(crossing.ci_low)}–{images(crossing.ci_high)}; {refits})"
            if crossing.ci_low is not None
            else f" ({refits})"
        )
        extrapolated = " — extrapolated past the largest size measured" if crossing.size > c.measured_high else ""
        sentence = (
            f"{key}={later} overtakes {key}={earlier}{where} at about {images(crossing.size)} images{ci}{extrapolated}"
        )
    else:
        first, second = (a, b) if c.a_ahead_before else (b, a)
        places = "; ".join(_crossing_text(crossing, level) for crossing in c.crossings)
        sentence = (
            f"{key}={a} and {key}={b}{where} cross {len(c.crossings)} times: at about {places} images "
            f"({key}={first} ahead below the first)"
        )
    if not c.consistent:
        flips = ", ".join(f"{images(x)}–{images(y)}" for x, y in c.observed_flips)
        sentence += f". **The cells disagree**: their order flips between {flips} images"
    return sentence + "."


def transfer_phrase(value: TransferValue, level: float) -> str:
    """ "about 6.0× the images (CI 4.1–9.3×; D_T ≈ 2,300)" or "more than 12× (...)"."""
    multiplier, low, high = value.multiplier, value.low / value.size, value.high / value.size
    head = f"more than {_times(multiplier)}×" if value.more_than else f"about {_times(multiplier)}×"
    dt = f"D_T > {images(value.transferred)}" if value.more_than else f"D_T ≈ {images(value.transferred)}"
    if not np.isfinite(low):
        return f"{head} the images (no interval: the scratch curve carries none; {dt} images)"
    high_text = f"more than {_times(high)}" if value.high_open else _times(high)
    return f"{head} the images ({100 * level:.0f} % CI {_times(low)}–{high_text}×; {dt} images)"


def pretraining_sentence(value: PretrainingValue, level: float) -> str:
    first = value.values[0]
    key = value.key
    context = _context(value.pretrained.settings, key)
    where = f" for {context}" if context else ""
    return (
        f"At {images(first.size)} training images{where}, the {key}={value.pretrained.settings[key]} start is worth "
        f"{transfer_phrase(first, level)} of the {key}={value.scratch.settings[key]} curve."
    )


def interval_words(fit: CurveFit, level: float) -> str:
    """Which kind of interval a curve's numbers carry, or why none."""
    if not fit.has_interval:
        return f"no interval: {fit.interval_reason}"
    return f"{100 * level:.0f} % CI, {fit.interval_kind}"


def prediction_sentence(curve: Curve, level: float) -> str:
    fit = curve.fit
    if fit.flat:
        return (
            f"{curve.name}: the error does not fall with the data between {images(fit.sizes.min())} and "
            f"{images(fit.largest)} images (flat at {_percent(float(fit.law.error(fit.largest)))} %): nothing to "
            "extrapolate."
        )
    test = fit.backtest
    if test is not None and test.poor:
        why = (
            f"it predicts {_percent(test.predicted_error)} % at {images(test.size)} images, the runs reached "
            f"{_percent(test.actual_error)} %" + ("" if test.covered else ", outside its interval")
        )
        return f"{curve.name} [{fit.form_name}]: no prediction past {images(fit.largest)} images: the backtest fails ({why})."
    doubled = EXTRAPOLATION * fit.largest
    predicted, low, high = fit.predict([doubled])
    if fit.has_interval:
        ci = f"({100 * level:.0f} % CI {_percent(high[0])}–{_percent(low[0])}, {fit.interval_kind})"
        b_low, b_high = fit.parameter_interval("b")
        exponent = f"error falls as n^-{fit.law.b:.2f} (CI {b_low:.2f}–{b_high:.2f})"
    else:
        ci = f"({interval_words(fit, level)})"
        exponent = f"error falls as n^-{fit.law.b:.2f}"
    if fit.floor_identified:
        floor = f" toward {100 * fit.law.c:.2f} %"
    else:
        floor = f"; these sizes do not identify the floor ({', '.join(fit.at_bound)})"
    untested = f" Not backtested: {fit.backtest_reason}." if test is None else ""
    return (
        f"{curve.name} [{fit.form_name}]: predicted accuracy with twice the data ({images(doubled)} images): "
        f"{_percent(predicted[0])} % {ci}; {exponent}{floor}.{untested}"
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
        shown = "; ".join(poor[:4]) + (f"; and {len(poor) - 4} more" if len(poor) > 4 else "")
        sentence += f"; **fails** (> 25 % off, or outside its interval): {shown}"
    return sentence + "."


def still_improving_sentence(found: list[StillImproving], curves: list[Curve] = ()) -> str | None:
    """The cells still improving, by curve ("at every size" where all of a curve's sizes were)."""
    if not found:
        return None
    sizes = {curve.name: int(curve.runs[SIZE_COLUMN].nunique()) for curve in curves}
    by_curve: dict[str, list[StillImproving]] = {}
    for cell in found:
        by_curve.setdefault(cell.curve, []).append(cell)
    parts = [
        f"{name} at every size"
        if len(cells) == sizes.get(name)
        else f"{name} at {', '.join(images(cell.size) for cell in cells)} images"
        for name, cells in list(by_curve.items())[:4]
    ]
    more = f"; and {len(by_curve) - 4} more curves (fits.json)" if len(by_curve) > 4 else ""
    gain = np.median([cell.gain for cell in found])
    metrics = sorted({cell.metric for cell in found}, reverse=True)
    metric = " or ".join(metrics) + " accuracy" + (" (no validation split)" if metrics == ["training"] else "")
    return (
        f"**Still improving when training stopped** ({metric} up {100 * gain:.1f} points over the last "
        f"epochs, most seeds): {'; '.join(parts)}{more}. The fits under-state what those sizes can reach: train "
        "longer (more epochs, or budget=steps) before trusting their curves."
    )


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
    """The report's "Answers": one sentence each, with numbers and intervals; with more than SUMMARY_CURVES curves,
    a summary per key (:func:`summary_sentences`)."""
    level = answers.settings.level
    if answers.reason:
        return [answers.reason[0].upper() + answers.reason[1:] + "."]
    if len(answers.curves) > SUMMARY_CURVES:
        return summary_sentences(answers)
    ordered = [pair for pair in answers.pairs if not _is_pretraining_pair(pair)]
    ordered += [pair for pair in answers.pairs if _is_pretraining_pair(pair)]
    lines = [crossover_sentence(pair, level) for pair in ordered]
    lines += [pretraining_sentence(value, level) for value in answers.pretraining if value.values]
    lines += [prediction_sentence(curve, level) for curve in answers.curves if curve.fit is not None]
    unfitted = [f"{curve.name} ({curve.reason})" for curve in answers.curves if curve.fit is None]
    if unfitted:
        lines.append("No learning-curve fit for " + "; ".join(unfitted) + ".")
    return lines + closing_sentences(answers)


def closing_sentences(answers: Answers) -> list[str]:
    """What ends the Answers either way: the backtest, the cells still improving, the joint fit."""
    sentences = (
        backtest_sentence(answers.curves),
        still_improving_sentence(answers.still_improving, answers.curves),
        joint_sentence(answers.joint, answers.settings.level),
    )
    return [sentence for sentence in sentences if sentence]


def _listing(names: list[str], shown: int = 3) -> str:
    return "; ".join(names[:shown]) + (f"; and {len(names) - shown} more" if len(names) > shown else "")


def summary_sentences(answers: Answers) -> list[str]:
    """The Answers of a grid with many curves, per key, in what a person reads in a minute: the order of each key's
    values at the largest size and the pairs whose fitted curves cross, the largest and smallest values of
    pretraining, the predictions' range, the fits that fail. The full lists are in fits.json and the tables."""
    level = answers.settings.level
    fitted = [curve for curve in answers.curves if curve.fit is not None]
    lines = [
        f"{len(answers.curves)} curves ({len(fitted)} fitted), {len(answers.pairs)} pairs of curves that differ in "
        "one key: a summary per key; every pair, value and prediction is in the tables below and fits.json."
    ]
    keys = list(dict.fromkeys(pair.key for pair in answers.pairs))
    for key in keys:
        pairs = [pair for pair in answers.pairs if pair.key == key]
        crossing = [pair for pair in pairs if pair.crossover.crossings]
        lines.append(
            f"{key}: {_order_at_largest(answers, key)}; the fitted curves cross in {len(crossing)} of "
            f"{len(pairs)} pairs"
            + (f" (e.g. {_listing([_crossing_summary(pair) for pair in crossing], 2)})" if crossing else "")
            + "."
        )
    values = [(value, v) for value in answers.pretraining for v in value.values]
    if values:
        ranked = sorted(values, key=lambda item: item[1].multiplier)
        low, high = ranked[0], ranked[-1]
        lines.append(
            f"Pretraining ({len(answers.pretraining)} pretrained curves, {len(values)} cells): worth from "
            f"{transfer_phrase(low[1], level)} ({low[0].pretrained.name} at {images(low[1].size)} images) to "
            f"{transfer_phrase(high[1], level)} ({high[0].pretrained.name} at {images(high[1].size)} images)."
        )
    predicted = [
        curve for curve in fitted if not curve.fit.flat and not (curve.fit.backtest and curve.fit.backtest.poor)
    ]
    if predicted:
        at = [(curve, float(curve.fit.predict([EXTRAPOLATION * curve.fit.largest])[0][0])) for curve in predicted]
        best = min(at, key=lambda item: item[1])
        worst = max(at, key=lambda item: item[1])
        lines.append(
            f"Predicted accuracy with twice the data, {len(predicted)} curves: from {_percent(worst[1])} % "
            f"({worst[0].name}) to {_percent(best[1])} % ({best[0].name}); intervals per curve in the fits table."
        )
    refused = [curve.name for curve in fitted if curve.fit.flat or (curve.fit.backtest and curve.fit.backtest.poor)]
    if refused:
        lines.append(f"No prediction for {len(refused)} curves (flat, or the backtest fails): {_listing(refused)}.")
    unidentified = [curve.name for curve in fitted if not curve.fit.floor_identified]
    if unidentified:
        lines.append(f"The sizes do not identify the floor of {len(unidentified)} curves: {_listing(unidentified)}.")
    unfitted = [f"{curve.name} ({curve.reason})" for curve in answers.curves if curve.fit is None]
    if unfitted:
        lines.append(f"No learning-curve fit for {len(unfitted)} curves: {_listing(unfitted)}.")
    return lines + closing_sentences(answers)


def _crossing_summary(pair: CurvePair) -> str:
    context = _context(pair.a.settings, pair.key)
    sizes = ", ".join(images(c.size) for c in pair.crossover.crossings)
    return (
        f"{pair.a.settings[pair.key]} and {pair.b.settings[pair.key]}"
        + (f" ({context})" if context else "")
        + (f" at about {sizes} images")
    )


def _order_at_largest(answers: Answers, key: str) -> str:
    """The key's values ordered by mean test accuracy at each curve's largest size, averaged over the other keys."""
    accuracy: dict[str, list[float]] = {}
    for curve in answers.curves:
        if key not in curve.settings:
            continue
        largest = curve.runs[SIZE_COLUMN].max()
        accuracy.setdefault(curve.settings[key], []).append(
            float(1 - curve.runs.loc[curve.runs[SIZE_COLUMN] == largest, ERROR_COLUMN].mean())
        )
    ranked = sorted(accuracy, key=lambda value: -np.mean(accuracy[value]))
    shown = ranked if len(ranked) <= 6 else [*ranked[:3], "…", *ranked[-2:]]
    return "at the largest size, by mean test accuracy: " + " > ".join(shown)


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
        row["form_name"] = fit.form_name if fit else ""
        for name in ("alpha", "e0"):
            value = named(fit.law.form, fit.law.theta[None, :], name)[0] if fit else None
            row[name] = _finite(value)
        row["interval"] = (fit.interval_kind or "") if fit else ""
        row["interval_reason"] = (fit.interval_reason or "") if fit else ""
        row["at_bound"] = "; ".join(fit.at_bound) if fit else ""
        row["flat"] = fit.flat if fit else None
        test = fit.backtest if fit else None
        row["backtest_size"] = test.size if test else None
        row["backtest_predicted_error"] = test.predicted_error if test else None
        row["backtest_low"], row["backtest_high"] = (test.low, test.high) if test else (None, None)
        row["backtest_actual_error"] = test.actual_error if test else None
        row["backtest_divergence"] = test.divergence if test else None
        row["backtest_covered"] = test.covered if test else None
        row["backtest_poor"] = test.poor if test else None
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
            "curve_form": settings.form,
            "fit_resamples_used": answers.fit_resamples,
            "multiplicity": MULTIPLICITY_METHOD,
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
                "crossings": [
                    {"size": c.size, "ci": [c.ci_low, c.ci_high], "share": c.share} for c in pair.crossover.crossings
                ],
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
                "p_value": c.p_value,
                "p_holm": c.p_adjusted,
            }
            for c in answers.comparisons
        ],
        "still_improving": [
            {"curve": cell.curve, "size": cell.size, "rising_runs": cell.rising, "runs": cell.runs, "gain": cell.gain}
            for cell in answers.still_improving
        ],
        "excluded": [
            {"run_dir": row.run_dir, "status": row.status, "error": row.error}
            for row in (answers.excluded.itertuples() if answers.excluded is not None else [])
        ],
    }
