"""Confusion matrices: per-class accuracy, row-normalised shares, and the figure (run logs, report, evaluation)."""

from __future__ import annotations

import numpy as np

DPI = 120


def per_class_accuracy(confusion_matrix: list[list[int]]) -> list[float | None]:
    """Recall of each class from a confusion matrix (rows: true class); None for a class absent from the split."""
    return [row[i] / sum(row) if sum(row) else None for i, row in enumerate(confusion_matrix)]


def row_normalised(confusion_matrix) -> np.ndarray:
    """Each row of a confusion matrix (rows: true class) as shares of that class; a class absent from the split: 0."""
    counts = np.asarray(confusion_matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)


def confusion_figure(matrix: list[list[float]], class_names: list[str], title: str):
    """A row-normalised confusion matrix (rows: true class) with the percentages written in."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display is needed or wanted
    import matplotlib.pyplot as plt

    normalised = row_normalised(matrix)
    size = max(4.0, 0.5 * len(class_names) + 2)
    figure, axes = plt.subplots(figsize=(size, size * 0.9), dpi=DPI)
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axes.set_yticks(range(len(class_names)), class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for i, j in np.ndindex(normalised.shape):
        colour = "white" if normalised[i, j] > 0.5 else "black"
        axes.text(j, i, f"{100 * normalised[i, j]:.0f}", ha="center", va="center", fontsize=7, color=colour)
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    return figure
