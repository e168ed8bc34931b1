"""Which checkpoint a run tests: ``selection.monitor`` and ``selection.mode``, checked before any work.

The monitor must be a metric the classifier logs at every validation; ``selection.mode: auto`` (the default) takes
the direction from the metric's name (a loss is lowest-best, anything else highest-best); a stored config says that
direction (``resolved_config``), so a cell's identity reads ``max`` or ``min``, as before ``auto`` existed. An explicit mode
that contradicts the name (``val/loss`` with ``max``) is kept, as asked, with a warning: it tests the worst epoch.
"""

from __future__ import annotations

import sys
from typing import Any

from omegaconf import DictConfig

from scalegrid.errors import ScalegridError

MONITORS = ("val/acc", "val/loss", "train/acc", "train/loss")  # what ImageClassifier logs at every epoch's end
MODES = ("auto", "max", "min")


def natural_mode(monitor: str) -> str:
    """The direction in which ``monitor`` gets better: ``min`` for a loss, ``max`` otherwise."""
    return "min" if monitor.rsplit("/", 1)[-1].endswith("loss") else "max"


def selection_mode(monitor: Any, mode: Any) -> str:
    """``max`` or ``min`` for a ``selection`` block, refusing a monitor no run logs or an unknown mode."""
    if str(monitor) not in MONITORS:
        raise ScalegridError(
            f"selection.monitor={monitor!r} is not a metric a run logs; choose one of {', '.join(MONITORS)}"
        )
    if str(mode) not in MODES:
        raise ScalegridError(f"selection.mode={mode!r} is unknown; choose one of {', '.join(MODES)}")
    return natural_mode(str(monitor)) if mode == "auto" else str(mode)


def resolve_selection(cfg: DictConfig, warn_to: Any = None) -> None:
    """Refuse an unknown monitor or mode; warn on a mode that contradicts the monitor's direction."""
    selection = cfg.get("selection")
    if selection is None:
        return
    monitor, mode = str(selection.monitor), str(selection.mode)
    selection_mode(monitor, mode)
    natural = natural_mode(monitor)
    if mode != "auto" and mode != natural:
        print(
            f"[scalegrid] warning: selection.mode={mode} with selection.monitor={monitor} tests the epoch with the "
            f"{'highest' if mode == 'max' else 'lowest'} {monitor.split('/')[-1]}, usually the worst one; leave "
            f"selection.mode out (auto: {natural}) unless that is what you want",
            file=warn_to or sys.stderr,
            flush=True,
        )
