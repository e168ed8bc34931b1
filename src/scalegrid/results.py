"""The machine-readable result of a run: ``results.json``, written atomically once the run has finished."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"


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


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON through a temporary file in the same folder and a rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(payload, stream, indent=2, allow_nan=True)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
