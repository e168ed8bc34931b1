"""The machine-readable result of a run: ``results.json``, written atomically once the run has finished."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np

from scalegrid.atomic_files import write_atomic

RESULTS_FILE = "results.json"

# What ``status`` in results.json says. A run killed before it finished leaves no results.json (or an older one).
COMPLETED = "completed"  # trained and tested; the metrics are final
DIVERGED = "diverged"  # the training loss became NaN or infinite; a result too (this setting does not train)
FAILED = "failed"  # a grid cell stopped by an error, recorded so the grid could go on; the next invocation retries it


def library_versions() -> dict[str, str]:
    import hydra
    import pytorch_lightning
    import torch
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": pytorch_lightning.__version__,
        "hydra": hydra.__version__,
    }


def resolved_config(cfg: Any) -> dict[str, Any]:
    """A run's config as plain data, every interpolation resolved (Hydra's own settings left out)."""
    from omegaconf import OmegaConf

    return {
        key: OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        for key, value in cfg.items()
        if key != "hydra"
    }


def per_class_accuracy(confusion_matrix: list[list[int]]) -> list[float | None]:
    """Recall of each class from a confusion matrix (rows: true class); None for a class absent from the split."""
    return [row[i] / sum(row) if sum(row) else None for i, row in enumerate(confusion_matrix)]


def row_normalised(confusion_matrix) -> np.ndarray:
    """Each row of a confusion matrix (rows: true class) as shares of that class; a class absent from the split: 0."""
    counts = np.asarray(confusion_matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON through a temporary file in the same folder and a rename, so readers never see half a file."""
    text = json.dumps(payload, indent=2, allow_nan=True) + "\n"
    write_atomic(path, lambda stream: stream.write(text.encode()))
