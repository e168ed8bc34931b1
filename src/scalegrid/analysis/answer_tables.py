"""The report's Answers section as markdown: the sentences, what kind of interval they carry, and the tables behind
them (learning-curve fits, what pretraining is worth, paired comparisons). Reads :class:`answers.Answers`; writes
nothing itself (report.py puts the lines into report.md)."""

from __future__ import annotations

from scalegrid.analysis.answers import Answers, answer_sentences, images, transfer_phrase
from scalegrid.analysis.scaling_fits import EXTRAPOLATION, RESIDUAL, WITHIN_SIZES
from scalegrid.analysis.uncertainty import FEW_SEEDS, MULTIPLICITY_METHOD


def _interval_note(answers: Answers) -> str:
    settings = answers.settings
    fitted = [curve.fit for curve in answers.curves if curve.fit is not None]
    kinds = {kind: sum(fit.interval_kind == kind for fit in fitted) for kind in (WITHIN_SIZES, RESIDUAL)}
    none = sum(not fit.has_interval for fit in fitted)
    curves = []
    if kinds[WITHIN_SIZES]:
        curves.append(f"{kinds[WITHIN_SIZES]} with the runs resampled within each size ({WITHIN_SIZES})")
    if kinds[RESIDUAL]:
        curves.append(
            f"{kinds[RESIDUAL]} with one run at some size: the fit's log residuals resampled over the curve "
            f"({RESIDUAL})"
        )
    if none:
        curves.append(f"{none} with no interval (the reason is given with each)")
    curve_text = f" Curves: {'; '.join(curves)}." if curves else ""
    return (
        f"Intervals are {100 * settings.level:.0f} % percentile bootstraps (Student's t for a 2-seed cell), those "
        "of curves widened by t(runs − parameters)/z for their few runs, all widened where needed to hold their own "
        f"point estimate: cell means and paired differences from {settings.resamples:,} resamples of the seeds; "
        f"curves, crossovers and effective sizes from {answers.fit_resamples:,} refits per curve (half as many for "
        f"each backtest).{curve_text} "
        f"† marks fewer than {FEW_SEEDS} seeds. Fits: [fits.json](fits.json), [fits.csv](fits.csv)."
    )


def _range(low: float, high: float, scale: float = 1.0, digits: int = 3) -> str:
    if low != low or high != high:  # NaN: no interval
        return "—"
    return f"{scale * low:.{digits}f}–{scale * high:.{digits}f}"


def _fits_table(answers: Answers) -> list[str]:
    fitted = [curve for curve in answers.curves if curve.fit is not None]
    if not fitted:
        return []
    lines = ["## Learning-curve fits (test error ε at n training images)", ""]
    lines += [
        "| curve | form | sizes | runs | interval | a | b (CI) | floor c % (CI) | notes | backtest: largest size "
        "| predicted error % (CI) | actual % | divergence |"
    ]
    lines += ["|" + " --- |" * 13]
    for curve in fitted:
        fit = curve.fit
        b_low, b_high = fit.parameter_interval("b")
        c_low, c_high = fit.parameter_interval("c")
        test = fit.backtest
        if test:
            verdict = " **fails**" if test.poor else ""
            verdict += " (outside its interval)" if not test.covered else ""
            backtest = [
                images(test.size),
                f"{100 * test.predicted_error:.2f} ({_range(test.low, test.high, 100, 2)})",
                f"{100 * test.actual_error:.2f}",
                f"{100 * test.divergence:.1f} %{verdict}",
            ]
        else:
            backtest = [fit.backtest_reason or "—", "—", "—", "—"]
        notes = list(fit.at_bound)
        if fit.flat:
            notes.append("flat")
        lines.append(
            "| "
            + " | ".join(
                [
                    curve.name,
                    fit.form,
                    str(len(fit.sizes)),
                    str(fit.runs),
                    fit.interval_kind or f"none: {fit.interval_reason}",
                    f"{fit.law.a:.3g}",
                    f"{fit.law.b:.3f} ({_range(b_low, b_high)})",
                    f"{100 * fit.law.c:.2f} ({_range(c_low, c_high, 100, 2)})",
                    "; ".join(notes) or "—",
                    *backtest,
                ]
            )
            + " |"
        )
    lines += [
        "",
        "Forms (Alabdulmohsin et al. 2022): M2 ε = c + a·n^-b; M4 (ε − c)/(ε0 − ε)^α = a·n^-b with ε0 the error of a "
        "guess; both fitted by least squares on log ε. A backtest fails when the refit without the largest size is "
        "more than 25 % off its error or misses it with its interval; such curves get no prediction.",
        "",
    ]
    return lines


def _pretraining_table(answers: Answers) -> list[str]:
    if not answers.pretraining:
        return []
    level = answers.settings.level
    lines = ["## What pretraining is worth (effective data transferred)", ""]
    lines += [
        "| pretrained curve | against | training images n | pretrained acc (%) | effective scratch size n_eff | worth |"
    ]
    lines += ["|" + " --- |" * 6]
    for value in answers.pretraining:
        for v in value.values:
            effective = f"more than {images(v.limit)}" if v.more_than else images(v.effective)
            lines.append(
                f"| {value.pretrained.name} | {value.scratch.name} | {images(v.size)} | "
                f"{100 * (1 - v.pretrained_error):.2f} | {effective} | {transfer_phrase(v, level)} |"
            )
    lines += [
        "",
        f"A value past {EXTRAPOLATION:g}× the scratch curve's largest size, or an error below its "
        'floor, is given as a lower bound ("more than").',
        "",
    ]
    return lines


def _comparisons_table(answers: Answers) -> list[str]:
    if not answers.comparisons:
        return []
    count = sum(c.p_value is not None for c in answers.comparisons)
    lines = ["## Paired comparisons (same seeds, splits and data order)", ""]
    lines += [
        f"| differs in | A | B | other settings | seeds | test acc A − B (points) | CI | P(A > B) | p | "
        f"p ({MULTIPLICITY_METHOD}) |"
    ]
    lines += ["|" + " --- |" * 10]
    for c in answers.comparisons:
        interval = c.difference.interval
        ci = "—" if interval.low is None else f"{100 * interval.low:+.2f} to {100 * interval.high:+.2f}"
        probability = "—" if c.difference.probability_a_higher is None else f"{c.difference.probability_a_higher:.2f}"
        others = ", ".join(f"{k}={v}" for k, v in c.settings.items()) or "—"
        p_value = "—" if c.p_value is None else f"{c.p_value:.3g}"
        adjusted = "—" if c.p_adjusted is None else f"{c.p_adjusted:.3g}" + (" *" if c.p_adjusted < 0.05 else "")
        lines.append(
            f"| {c.key} | {c.a} | {c.b} | {others} | {interval.count}{' †' if interval.few_seeds else ''} | "
            f"{100 * interval.mean:+.2f} | {ci} | {probability} | {p_value} | {adjusted} |"
        )
    lines += [
        "",
        f"p: two-sided paired t-test over the shared seeds; p ({MULTIPLICITY_METHOD}): adjusted by Holm's step-down "
        f"method over these {count} comparisons (* below 0.05: a difference that holds with the family's error "
        "controlled at 5 %). With few seeds both are rough.",
        "",
    ]
    return lines


def answer_sections(answers: Answers) -> list[str]:
    """The Answers section and its tables, as report.md lines."""
    lines = ["## Answers", ""]
    lines += [f"- {sentence}" for sentence in answer_sentences(answers)]
    lines += ["", _interval_note(answers), ""]
    return lines + _fits_table(answers) + _pretraining_table(answers) + _comparisons_table(answers)
