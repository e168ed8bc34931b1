"""What TensorBoard's HPARAMS tab shows for a run: the settings that define its cell, swept keys first.

Not the whole config (99 leaves, paths and callback targets first): the full config stays in the run folder
(``results.json``, ``.hydra/``). This is the table a grid is compared in.
"""

from __future__ import annotations

from typing import Any

from scalegrid.contract.identity import defining_settings
from scalegrid.contract.sweep_record import parse_overrides

# After the swept keys, in this order: what a reader of any grid wants to see.
ALWAYS_SHOWN = (
    "arm",
    "model.name",
    "model.weights",
    "finetune.policy",
    "data.name",
    "data.fraction",
    "train_size",
    "optim.name",
    "optim.lr",
    "trainer.max_epochs",
    "seed",
)


def _scalar(value: Any) -> int | float | str | bool:
    """TensorBoard takes numbers, strings and booleans only."""
    if value is None:
        return "null"
    return value if isinstance(value, int | float | str | bool) else str(value)


def cell_hyperparameters(
    config: dict[str, Any], overrides: list[str], train_size: int | None, swept: list[str] | None = None
) -> dict[str, Any]:
    """The grid's swept keys (``swept``; for a single run, every key its command line set) by this run's values
    (group choices like ``model`` by their option), then ``ALWAYS_SHOWN``; runtime settings and Hydra's own never."""
    settings = defining_settings(config)
    settings["train_size"] = train_size
    shown: dict[str, Any] = {}
    for key, value in parse_overrides(overrides).items():
        if key.startswith("hydra") or (swept is not None and key not in swept):
            continue
        shown[key] = settings.get(key, value)  # a config leaf by its resolved value, a group by its option
    for key in ALWAYS_SHOWN:
        if (
            key not in shown
            and (key in settings or key == "train_size")
            and not (key == "arm" and settings.get(key) is None)
        ):
            shown[key] = settings.get(key)
    return {key: _scalar(value) for key, value in shown.items()}
