"""``pretrained=<checkpoint>`` only acts where a setting reads it: refused, in one line, where nothing does.

The top-level ``pretrained`` key is read by the studies' pretrained arms and inits (``${if_null:${pretrained},...}``)
and by ``model.weights=pretrained``. Elsewhere it used to be stored beside ``model.weights: None`` while the run
trained from scratch. A run, or a sweep (its fixed settings and swept values together), that sets it without reading
it is refused before any work; a sweep over config groups (``arm=...``, ``model=...``) is let through, since the
options its cells compose are not known when it starts.
"""

from __future__ import annotations

from typing import Any

from scalegrid.contract.sweep_record import swept
from scalegrid.errors import ScalegridError

KEY = "pretrained"


def _strings(tree: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(tree, dict):
        return [item for key, value in tree.items() for item in _strings(value, f"{path}{key}.")]
    if isinstance(tree, list | tuple):
        return [item for value in tree for item in _strings(value, path)]
    return [(path.rstrip("."), tree)] if isinstance(tree, str) else []


def reads_pretrained(config: dict[str, Any]) -> bool:
    """Whether any setting of an unresolved config (Hydra's sweep settings included) reads ``pretrained``."""
    for path, text in _strings(config):
        if path == KEY:
            continue
        if "${" + KEY + "}" in text or "${" + KEY + "," in text:  # an interpolation of the key
            return True
        swept = path.startswith(("hydra.sweeper.params", "hydra.overrides.task")) or path == "model.weights"
        if swept and (text == KEY or "model.weights=" in text or path.endswith("model.weights")):
            values = text.split("=", 1)[-1] if "model.weights=" in text else text
            if KEY in [value.strip() for value in values.strip("[]").split(",")]:  # model.weights=pretrained
                return True
    return False


def swept_groups(config: dict[str, Any]) -> list[str]:
    """The config groups a sweep varies (``arm``, ``model``): their options, composed per cell, may read the key."""
    groups = set(((config.get("hydra") or {}).get("runtime") or {}).get("choices") or {})  # this config's groups
    return sorted(key for key in swept(config) if key in groups)


def check_pretrained_is_read(config: dict[str, Any], sweep: bool = False) -> None:
    """Refuse ``pretrained`` set where no setting of this run (or of this sweep: its fixed settings and swept values)
    reads it. A sweep over config groups is let through: each cell's options are only composed when it runs."""
    value = config.get(KEY)
    if value in (None, "") or reads_pretrained(config) or (sweep and swept_groups(config)):
        return
    weights = (config.get("model") or {}).get("weights")
    raise ScalegridError(
        f"pretrained={value} is set, but nothing in this {'sweep' if sweep else 'run'} reads it (model.weights={weights}): it is read by the "
        "studies' pretrained arms and by model.weights=pretrained; set model.weights=pretrained (or "
        f"model.weights={value}) to start from it, or leave pretrained out"
    )
