"""How long a run trains: the same epochs for every data size, or the same optimizer steps as the full-data run."""

from __future__ import annotations

import math

from scalegrid.errors import ScalegridError

BUDGETS = ("epochs", "steps")


def training_budget(budget: str, max_epochs: int, pool_size: int, batch_size: int) -> dict[str, int]:
    """Trainer limits for a budget: ``epochs`` keeps ``max_epochs``; ``steps`` gives every fraction the optimizer steps
    that ``max_epochs`` epochs of the whole training pool take (a 1/16 subset then runs 16x the epochs)."""
    if budget == "epochs":
        return {"max_epochs": max_epochs, "max_steps": -1}
    if budget == "steps":
        return {"max_epochs": -1, "max_steps": max_epochs * math.ceil(pool_size / batch_size)}
    raise ScalegridError(f"budget={budget!r} is unknown; choose one of {', '.join(BUDGETS)}")
