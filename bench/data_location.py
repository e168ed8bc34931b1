"""Where the benchmarks find the real datasets: $DATA_DIR, else ../shared/data beside the project."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_dir(*markers: str) -> Path:
    """The first candidate folder that holds every one of ``markers`` (e.g. "MNIST", "cifar-10-batches-py")."""
    for candidate in (os.environ.get("DATA_DIR"), PROJECT_ROOT.parent / "shared" / "data"):
        if candidate and all((Path(candidate) / marker).is_dir() for marker in markers):
            return Path(candidate)
    script = Path(sys.argv[0]).name
    sys.exit(f"bench/{script}: no {', '.join(markers)} under DATA_DIR or ../shared/data; set DATA_DIR to that folder")
