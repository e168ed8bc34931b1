"""The report's figures (matplotlib, Agg): accuracy vs data size, learning curves, accuracy vs time, confusion."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scalegrid.analysis.grid_table import Cell  # noqa: E402
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


def accuracy_vs_size(cells: list[Cell], keys: list[str], path: Path) -> Path:
    """Test accuracy against training-set size (log2 axis), a line per model, a panel per initialisation."""
    panel_key = next((key for key in ("model.weights", "init") if key in keys), None)
    size_key = "data.fraction" if "data.fraction" in keys else None
    panels = list(dict.fromkeys(c.key[keys.index(panel_key)] for c in cells)) if panel_key else ["all"]
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), dpi=DPI, sharey=True, squeeze=False)
    skip = {key for key in (panel_key, size_key) if key}
    for axis, panel in zip(axes[0], panels, strict=True):
        lines: dict[str, list[tuple[float, float, float]]] = {}
        for cell in cells:
            if panel_key and cell.key[keys.index(panel_key)] != panel:
                continue
            accuracy, size = cell.stat("test_acc"), cell.stat("train_size")
            if accuracy and size:
                lines.setdefault(_label(cell, keys, skip), []).append((size[0], *accuracy))
        for label, points in sorted(lines.items()):
            points.sort()
            x, y, err = zip(*points, strict=True)
            axis.errorbar(x, [100 * v for v in y], yerr=[100 * e for e in err], marker="o", capsize=3, label=label)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("training images (log2)")
        axis.set_title(f"init: {_weights_name(panel)}" if panel_key else "test accuracy")
        axis.grid(alpha=0.3)
        if lines:
            axis.legend(fontsize=8)
    axes[0][0].set_ylabel("test accuracy (%), mean ± std over seeds")
    figure.suptitle("Dataset size vs accuracy")
    figure.tight_layout()
    return save_figure(figure, path)


def _weights_name(value: str) -> str:
    if value in ("null", "None", ""):
        return "scratch"
    return value if len(value) < 40 else "…" + value[-38:]


def learning_curves(cells: list[Cell], keys: list[str], path: Path) -> Path:
    """Train/val accuracy and loss per epoch for each cell (every seed drawn, from the runs' CSV logs)."""
    rows = max(1, len(cells))
    figure, axes = plt.subplots(rows, 2, figsize=(10, 2.4 * rows), dpi=DPI, squeeze=False)
    for (accuracy_axis, loss_axis), cell in zip(axes, cells, strict=False):
        for run in cell.runs:
            history = read_metrics(run.directory / "csv" / "metrics.csv")
            for split, style in (("train", "-"), ("val", "--")):
                if f"{split}/acc" in history:
                    epochs, values = history[f"{split}/acc"]
                    accuracy_axis.plot(epochs, values, style, color="C0" if split == "train" else "C1", alpha=0.8)
                if f"{split}/loss" in history:
                    epochs, values = history[f"{split}/loss"]
                    loss_axis.plot(epochs, values, style, color="C0" if split == "train" else "C1", alpha=0.8)
        accuracy_axis.set_title(_label(cell, keys, set()), fontsize=8)
        accuracy_axis.set_ylabel("accuracy")
        loss_axis.set_ylabel("loss")
        for axis in (accuracy_axis, loss_axis):
            axis.grid(alpha=0.3)
    axes[0][0].plot([], [], "-", color="C0", label="train")
    axes[0][0].plot([], [], "--", color="C1", label="val")
    axes[0][0].legend(fontsize=8)
    axes[-1][0].set_xlabel("epoch")
    axes[-1][1].set_xlabel("epoch")
    figure.tight_layout()
    return save_figure(figure, path)


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
