"""Whether a run was still learning when training stopped: a pure function over its validation-accuracy history.

A learning curve drawn through cells that were still improving under-states what those sizes can reach (at equal
epochs, the mid sizes of a grid often are): the report names such cells and says that ``budget=steps`` or more epochs
is the remedy.
"""

from __future__ import annotations

import numpy as np

RISING_GAIN = 0.005  # validation accuracy gained over the last epochs (0.5 points) that counts as still rising
NEAR_BEST = 0.001  # ...with the last epoch within this of the run's best


def last_epochs_gain(history) -> float | None:
    """Validation accuracy gained over the last quarter of the epochs (at least the last 2 steps; all of them with
    3 or fewer epochs): last value minus the value that many epochs before; None with fewer than 2 epochs."""
    values = np.asarray([v for v in (history or []) if v is not None and np.isfinite(v)], dtype=float)
    if values.size < 2:
        return None
    window = min(values.size - 1, max(2, values.size // 4))
    return float(values[-1] - values[-1 - window])


def still_improving(history) -> bool:
    """The run's validation accuracy rose by RISING_GAIN or more over its last epochs and ended at (about) its best."""
    gain = last_epochs_gain(history)
    if gain is None:
        return False
    values = np.asarray([v for v in history if v is not None and np.isfinite(v)], dtype=float)
    return gain >= RISING_GAIN and values[-1] >= values.max() - NEAR_BEST
