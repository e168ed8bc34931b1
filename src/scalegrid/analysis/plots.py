"""The report's figures (matplotlib, Agg): accuracy vs data size, learning curves, accuracy vs time, confusion."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, MaxNLocator  # noqa: E402

from scalegrid.analysis.figure_layout import SIZE_KEYS, FigureLayout  # noqa: E402
from scalegrid.analysis.grid_table import Cell, sort_key  # noqa: E402
from scalegrid.confusion import (
    DPI,  # noqa: E402 - one resolution for every figure
    confusion_figure,  # noqa: E402, F401 - the report draws it too
)
from scalegrid.contract.atomic_files import write_atomic  # noqa: E402


def examples_figure(images, titles: list[str], columns: int = 8):
    """A grid of uint8 (C, H, W) images, each with its title (e.g. "cat → dog")."""
    count = len(images)
    columns = min(columns, count)
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows), dpi=DPI, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, title in zip(axes.flat, images, titles, strict=False):
        pixels = np.asarray(image).transpose(1, 2, 0)
        axis.imshow(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels, cmap="gray", vmin=0, vmax=255)
        axis.set_title(title, fontsize=7)
    figure.tight_layout()
    return figure


def save_figure(figure, path: Path) -> Path:
    """Save through a temporary file and a rename: a report never shows half an image."""
    try:
        write_atomic(path, lambda stream: figure.savefig(stream, format=path.suffix.lstrip(".") or "png"))
    finally:
        plt.close(figure)
    return path


def _label(cell: Cell, keys: list[str], skip: set[str]) -> str:
    return ", ".join(f"{value}" for key, value in zip(keys, cell.key, strict=True) if key not in skip) or "all"


def _value(cell: Cell, keys: list[str], key: str | None) -> str | None:
    return None if key is None else cell.key[keys.index(key)]


def _panel_grid(count: int, width: float = 4.8, height: float = 3.6):
    """Up to three panels a row, one y scale for all of them (panels are compared by eye)."""
    columns = min(3, max(1, count))
    rows = -(-max(1, count) // columns)
    size = (width * columns, height * rows)
    figure, axes = plt.subplots(rows, columns, figsize=size, dpi=DPI, squeeze=False, sharey=True)
    for axis in axes.flat[count:]:
        axis.axis("off")
    return figure, list(axes.flat[: max(1, count)])


def _shared_prefix(values: list[str]) -> str:
    """The folder-like prefix every value shares (``mnist_basics/`` of ``mnist_basics/fc2``), or ""."""
    prefix = os.path.commonprefix(values)
    return prefix[: prefix.rfind("/") + 1] if len(values) > 1 else ""


def accuracy_figure_name(layout: FigureLayout) -> str:
    """accuracy_vs_size.png, accuracy_vs_<key>.png (numeric x) or accuracy_by_<key>.png (categories)."""
    if layout.x is None:
        return "accuracy.png"
    if layout.x in SIZE_KEYS:
        return "accuracy_vs_size.png"
    slug = layout.x.replace(".", "_").replace("/", "_")
    return f"accuracy_vs_{slug}.png" if layout.numeric_x else f"accuracy_by_{slug}.png"


def accuracy_figure(cells: list[Cell], keys: list[str], layout: FigureLayout, path: Path, answers=None) -> Path:
    """Test accuracy (mean ± std over seeds) as the layout says: lines over a numeric x (training images for a
    data-size axis, log scale for sizes), or grouped bars over categories; a panel per value of ``layout.panels``.
    With ``answers`` (a data-size x), each fitted curve is drawn with its interval band, dashed past the largest
    size up to twice it, and crossings are marked."""
    panels = sorted({_value(c, keys, layout.panels) for c in cells}, key=sort_key) if layout.panels else [None]
    bar_count = 0 if layout.numeric_x else len({_value(c, keys, layout.x) for c in cells})
    figure, axes = _panel_grid(len(panels), width=max(4.6, 1.5 + 0.6 * bar_count))  # room for every bar's label
    prefix = _shared_prefix([str(_value(c, keys, layout.x)) for c in cells]) if bar_count else ""
    lowest = min(
        (100 * (c.stat("test_acc")[0] - c.stat("test_acc")[1]) for c in cells if c.stat("test_acc")), default=0
    )
    skip = layout.placed - {layout.lines}
    for axis, panel in zip(axes, panels, strict=True):
        members = [c for c in cells if layout.panels is None or _value(c, keys, layout.panels) == panel]
        series: dict[str, list[tuple[Any, float, float, int]]] = {}
        curve_of: dict[str, dict[str, str]] = {}
        for cell in members:
            accuracy = cell.values("test_acc")
            if not accuracy:
                continue
            mean, std = cell.stat("test_acc")
            x = _value(cell, keys, layout.x)
            if layout.x in SIZE_KEYS and cell.stat("train_size"):
                x = cell.stat("train_size")[0]
            series.setdefault(_label(cell, keys, skip), []).append((x, 100 * mean, 100 * std, len(accuracy)))
            curve_of[_label(cell, keys, skip)] = {k: v for k, v in zip(keys, cell.key, strict=True) if k != layout.x}
        names = sorted(series, key=sort_key)
        if not series:  # every run of this panel failed or is missing: the report's lists say which
            axis.text(0.5, 0.5, "no completed runs", ha="center", va="center", transform=axis.transAxes, fontsize=9)
        if layout.numeric_x:
            for index, name in enumerate(names):
                points = sorted(series[name], key=lambda point: float(point[0]))
                x, y, err, _ = zip(*points, strict=True)
                colour = f"C{index % 10}"
                style = {"linestyle": "none"} if answers is not None and layout.x in SIZE_KEYS else {}
                axis.errorbar(
                    [float(v) for v in x], y, yerr=err, marker="o", capsize=3, label=name, color=colour, **style
                )
                if answers is not None and layout.x in SIZE_KEYS:
                    _draw_fit(axis, answers, curve_of.get(name), colour)
            if answers is not None and layout.x in SIZE_KEYS:
                _mark_crossovers(axis, answers, list(curve_of.values()))
            if layout.log_x:
                axis.set_xscale("log", base=2 if layout.x in SIZE_KEYS else 10)
            axis.set_xlabel("training images" if layout.x in SIZE_KEYS else layout.x)
        else:
            categories = sorted({point[0] for points in series.values() for point in points}, key=sort_key)
            width = 0.8 / max(1, len(names))
            for index, name in enumerate(names):
                by_category = {point[0]: point for point in series[name]}
                positions = [
                    i + (index - (len(names) - 1) / 2) * width for i, c in enumerate(categories) if c in by_category
                ]
                chosen = [by_category[c] for c in categories if c in by_category]
                bars = axis.bar(
                    positions, [p[1] for p in chosen], width, yerr=[p[2] for p in chosen], capsize=3, label=name
                )
                axis.bar_label(bars, fmt="%.1f", fontsize=6, padding=2)
            if lowest > 50:  # every bar high: start the axis near the lowest so that differences show (values printed)
                axis.set_ylim(bottom=5 * int((lowest - 5) // 5))
            # no swept key: one bar for the grid; a prefix every category shares (an arm's study) is said once
            ticks = [str(c).removeprefix(prefix) if layout.x else "every run" for c in categories]
            axis.set_xticks(
                range(len(categories)), ticks, rotation=20 if layout.x else 0, ha="right" if layout.x else "center"
            )
            axis.set_xlabel(f"{layout.x} ({prefix}...)" if prefix else layout.x or "")
        axis.set_title(f"{layout.panels} = {panel}" if layout.panels else "test accuracy", fontsize=9)
        axis.set_ylabel("test accuracy (%), mean ± std over seeds")
        axis.grid(alpha=0.3)
        if names:
            axis.legend(fontsize=7, title=layout.lines, title_fontsize=7)
    figure.suptitle("Dataset size vs accuracy" if layout.x in SIZE_KEYS else "Test accuracy")
    figure.tight_layout()
    return save_figure(figure, path)


def _curve_with(answers, settings: dict[str, str] | None):
    return next((curve for curve in answers.curves if curve.settings == settings and curve.fit is not None), None)


def _draw_fit(axis, answers, settings: dict[str, str] | None, colour: str) -> None:
    """A fitted curve in accuracy %: solid over the measured sizes, dashed up to twice the largest, a CI band."""
    curve = _curve_with(answers, settings)
    if curve is None:
        return
    fit = curve.fit
    from scalegrid.analysis.scaling_fits import EXTRAPOLATION

    for start, stop, line in ((fit.sizes.min(), fit.largest, "-"), (fit.largest, EXTRAPOLATION * fit.largest, "--")):
        n = np.geomspace(start, stop, 60)
        error, low, high = fit.predict(n)
        axis.plot(n, 100 * (1 - error), line, color=colour, linewidth=1.2)
        axis.fill_between(n, 100 * (1 - high), 100 * (1 - low), color=colour, alpha=0.15, linewidth=0)


def _mark_crossovers(axis, answers, drawn: list[dict[str, str]]) -> None:
    """A vertical line at each crossing of two curves drawn in this panel (its CI shaded)."""
    for pair in answers.pairs:
        crossing = pair.crossover
        if crossing.size is None or pair.a.settings not in drawn or pair.b.settings not in drawn:
            continue
        axis.axvline(crossing.size, color="0.3", linestyle=":", linewidth=1)
        if crossing.ci_low is not None:
            axis.axvspan(crossing.ci_low, crossing.ci_high, color="0.5", alpha=0.1, linewidth=0)
        axis.annotate(
            f"{pair.key} cross\n≈{crossing.size:,.0f}",
            (crossing.size, 0.05),
            xycoords=("data", "axes fraction"),
            fontsize=6,
            ha="left",
            color="0.3",
        )


def pretraining_value_figure(answers, path: Path) -> Path:
    """What pretraining is worth: n_eff / n against n per pretrained curve, with intervals; lower bounds as ▲."""
    figure, axis = plt.subplots(figsize=(6.4, 4.2), dpi=DPI)
    for index, value in enumerate(answers.pretraining):
        if not value.values:
            continue
        colour = f"C{index % 10}"
        n = np.array([v.size for v in value.values])
        multiplier = np.array([v.multiplier for v in value.values])
        low = np.array([v.low / v.size for v in value.values])
        high = np.array([v.high / v.size for v in value.values])
        bounded = np.array([v.more_than for v in value.values])
        others = ", ".join(f"{k}={v}" for k, v in value.pretrained.settings.items() if k != value.key)
        label = f"{value.key}={value.pretrained.settings[value.key]}" + (f" ({others})" if others else "")
        axis.errorbar(
            n,
            multiplier,
            yerr=[np.maximum(multiplier - low, 0), np.maximum(high - multiplier, 0)],
            color=colour,
            marker="o",
            capsize=3,
            label=label,
        )
        if bounded.any():
            axis.plot(n[bounded], multiplier[bounded], "^", color=colour, markersize=9)
    axis.axhline(1, color="0.4", linewidth=0.8)
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    axis.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    axis.set_xlabel("training images n")
    axis.set_ylabel("n_eff / n (scratch images it is worth)")
    axis.set_title("What pretraining is worth (▲: lower bound, past 2× the largest size)", fontsize=9)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return save_figure(figure, path)


def learning_curves(cells: list[Cell], keys: list[str], layout: FigureLayout, path: Path) -> Path:
    """Small multiples: a panel per combination of the swept keys but one, a line per value of that one (the data
    size, or the layout's lines), the mean over seeds with their spread as a band; validation accuracy solid,
    training accuracy dashed, the test after every epoch (``test_every_epoch``) dotted; integer epochs."""
    line_key = layout.x if layout.numeric_x else layout.lines
    panel_keys = [key for key in keys if key != line_key]
    panels: dict[str, list[Cell]] = {}
    for cell in cells:
        title = ", ".join(f"{key}={_value(cell, keys, key)}" for key in panel_keys) or "all"
        panels.setdefault(title, []).append(cell)
    names = sorted(panels, key=sort_key)
    figure, axes = _panel_grid(len(names), width=4.6, height=3.2)
    drawn: set[str] = set()
    for axis, name in zip(axes, names, strict=True):
        members = sorted(panels[name], key=lambda c: sort_key(_value(c, keys, line_key) or ""))
        for index, cell in enumerate(members):
            colour = f"C{index % 10}"
            histories = [read_metrics(run.directory / "csv" / "metrics.csv") for run in cell.completed or cell.runs]
            bands = {metric: _seed_band(histories, metric) for metric in CURVE_STYLES}
            labelled = next(
                (metric for metric in CURVE_STYLES if bands[metric][0]), None
            )  # the legend names each line once
            for metric, style in CURVE_STYLES.items():
                epochs, mean, low, high = bands[metric]
                if not epochs:
                    continue
                drawn.add(metric)
                label = (_value(cell, keys, line_key) or "all") if metric == labelled else None
                axis.plot(epochs, mean, style, color=colour, label=label)
                if high is not None:
                    axis.fill_between(epochs, low, high, color=colour, alpha=0.15, linewidth=0)
        axis.set_title(name if panel_keys else "learning curves", fontsize=8)
        axis.set_xlabel("epoch")
        axis.set_ylabel("accuracy")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7, title=line_key, title_fontsize=7)
        else:  # every run of this panel failed or is missing
            axis.text(0.5, 0.5, "no completed runs", ha="center", va="center", transform=axis.transAxes, fontsize=9)
    described = [CURVE_NAMES[metric] for metric in CURVE_STYLES if metric in drawn]
    figure.suptitle("Learning curves (accuracy; band = seeds' range)\n" + ", ".join(described), fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)


# The per-epoch accuracies a run's CSV log holds, and how the learning curves draw and name them.
CURVE_STYLES = {"val/acc": "-", "train/acc": "--", "test_curve/acc": ":"}
CURVE_NAMES = {
    "val/acc": "solid: validation",
    "train/acc": "dashed: training",
    "test_curve/acc": "dotted: test each epoch (never selects)",
}


def _seed_band(
    histories: list[dict], metric: str
) -> tuple[list[int], list[float], list[float] | None, list[float] | None]:
    """Epochs every seed has, the mean over seeds and (with two or more seeds) their lowest and highest value."""
    curves = [dict(zip(*history[metric], strict=True)) for history in histories if metric in history]
    if not curves:
        return [], [], None, None
    epochs = sorted(set.intersection(*(set(curve) for curve in curves)))
    values = np.array([[curve[epoch] for epoch in epochs] for curve in curves])
    if len(curves) < 2:
        return epochs, list(values[0]), None, None
    return epochs, list(values.mean(0)), list(values.min(0)), list(values.max(0))


def read_metrics(path: Path) -> dict[str, tuple[list[int], list[float]]]:
    """Per-epoch series from a Lightning CSV log: {metric: (epochs, values)}."""
    if not path.is_file():
        return {}
    series: dict[str, dict[int, float]] = {}
    with open(path) as stream:
        for row in csv.DictReader(stream):
            if not row.get("epoch"):
                continue
            for key, value in row.items():
                if key in ("epoch", "step") or not value:
                    continue
                series.setdefault(key, {})[int(float(row["epoch"]))] = float(value)
    return {key: (list(values), list(values.values())) for key, values in series.items()}


def accuracy_vs_time(cells: list[Cell], keys: list[str], path: Path) -> Path:
    """Test accuracy against training time, one point per cell (mean over seeds, error bars both ways)."""
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=DPI)
    for index, cell in enumerate(cells):
        accuracy, seconds = cell.stat("test_acc"), cell.stat("fit_seconds")
        if accuracy and seconds:
            axes.errorbar(
                seconds[0],
                100 * accuracy[0],
                xerr=seconds[1],
                yerr=100 * accuracy[1],
                marker="os^Dv<>p"[index % 8],
                capsize=3,
                linestyle="none",
                label=_label(cell, keys, set()),
            )
    axes.set_xscale("log")
    axes.set_xlabel("training time (s, log)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title("Accuracy vs training time")
    axes.grid(alpha=0.3)
    if cells:
        axes.legend(fontsize=6, ncol=1 + len(cells) // 12, loc="best")
    figure.tight_layout()
    return save_figure(figure, path)


def summed_confusion(cell: Cell) -> tuple[list[list[float]], list[str]] | None:
    runs = [run for run in cell.completed if run.metric("confusion_matrix")]
    if not runs:
        return None
    total = np.sum([np.asarray(run.metric("confusion_matrix"), dtype=float) for run in runs], axis=0)
    return total.tolist(), runs[0].metric("class_names")


def confusion_pair(best: Cell, worst: Cell, keys: list[str], directory: Path) -> list[Path]:
    paths = []
    for name, cell in (("best", best), ("worst", worst)):
        summed = summed_confusion(cell)
        if summed is None:
            continue
        accuracy = cell.stat("test_acc")
        title = f"{name} cell: {_label(cell, keys, set())}\n(test acc {100 * accuracy[0]:.1f} %)"
        paths.append(save_figure(confusion_figure(*summed, title=title), directory / f"confusion_{name}.png"))
    return paths
