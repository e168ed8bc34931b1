"""A grid folder holds one grid: the settings a sweep keeps fixed are recorded when it starts, and a later sweep into
the same folder with other fixed settings is refused before any cell runs.

Without this, grid A (sgd) and grid B (``optim=adam``) with one ``experiment_name`` shared each other's cells: B took
a cell A had not started, A counted it as "left to another process", and the report mixed sgd and adam cells. The
record, ``<grid>/grid_settings.json``, holds every defining setting the sweep does not vary (``runtime`` and Hydra's
own settings left out, as in a cell's identity), as written in the config, before interpolations are resolved (so a
grid whose outputs or data moved is the same grid). Sweeps with the same fixed settings, started together or one after
the other, still share the work; a key that one of them sweeps is not compared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from scalegrid.contract.atomic_files import write_atomic
from scalegrid.contract.identity import flatten, is_runtime
from scalegrid.errors import ScalegridError

RECORD = "grid_settings.json"
SHOWN = 3  # differing keys named in the refusal
CHOICES = "_config_group_choices"  # the sweep's config group options (optim: sgd), to name the way out


def swept(config: dict[str, Any]) -> set[str]:
    """The keys a sweep varies: ``hydra.sweeper.params`` and command-line overrides with several values."""
    hydra = config.get("hydra") or {}
    keys = {str(key) for key, value in ((hydra.get("sweeper") or {}).get("params") or {}).items() if "," in str(value)}
    for override in (hydra.get("overrides") or {}).get("task") or []:
        key, _, value = str(override).partition("=")
        if "," in value or value.startswith(("range(", "choice(", "glob(")):
            keys.add(key)
    return {key.lstrip("+~") for key in keys}


def fixed_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The defining settings a sweep keeps fixed, flattened, as written (``config`` unresolved, with ``hydra``)."""
    varied = swept(config)

    def is_varied(key: str) -> bool:
        return any(key == name or key.startswith(name + ".") for name in varied)

    settings = {key: value for key, value in config.items() if key not in ("hydra", "experiment_name")}
    return {
        key: value
        for key, value in flatten(settings).items()
        if not is_runtime(key) and not is_varied(key) and not isinstance(value, dict)
    }


def claim_grid_folder(grid_dir: Path, config: dict[str, Any]) -> None:
    """Record this sweep's fixed settings in ``grid_dir``, or check them against the record already there."""
    path = Path(grid_dir) / RECORD
    choices = dict(((config.get("hydra") or {}).get("runtime") or {}).get("choices") or {})
    mine = fixed_settings(config)
    if not path.exists() and _create(path, {**mine, CHOICES: choices}):
        return
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {**mine, CHOICES: choices}
        write_atomic(path, lambda stream: stream.write(json.dumps(record, indent=2, default=str).encode()))
        return  # a damaged record is replaced: the cells' own identities still guard every result
    varied = swept(config)
    old_choices = recorded.pop(CHOICES, None) or {}
    differing = [
        f"{key}: {recorded[key]!r} -> {mine[key]!r}"
        for key in sorted(set(recorded) & set(mine))
        if recorded[key] != mine[key] and not any(key == k or key.startswith(k + ".") for k in varied)
    ]
    if differing:
        first = differing[0].split(":")[0]
        group = first.split(".")[0]
        if group in choices and old_choices.get(group) not in (None, choices[group]):  # optim=adam, not optim.lr
            first = f"{group}={old_choices[group]},{choices[group]}"
        else:
            first = f"{first}=<old>,<new>"
        shown = "; ".join(differing[:SHOWN]) + ("; ..." if len(differing) > SHOWN else "")
        raise ScalegridError(
            f"{grid_dir} holds a grid started with other fixed settings ({shown}): give this grid another "
            f"experiment_name, or sweep the key ({first}) so each value gets its own cells; delete "
            f"{path} only when none of the earlier grid's cells is wanted"
        )


def _create(path: Path, settings: dict[str, Any]) -> bool:
    """Write the record unless another sweep did first (an atomic create); True when this one wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(settings, indent=2, default=str))
    try:
        os.link(temporary, path)  # fails when the file exists: two sweeps starting together, one record
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
