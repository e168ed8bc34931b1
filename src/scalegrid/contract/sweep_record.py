"""What a grid's sweep asked for, from the ``multirun.yaml`` Hydra writes in the grid folder before any job starts.

Read by the grid (which swept keys name a cell's folder) and by the report (which cells are missing).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from scalegrid.contract.config_versions import rename_overrides
from scalegrid.contract.identity import is_runtime
from scalegrid.errors import ScalegridError

SWEEP_RECORD = "multirun.yaml"


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """``{key: value}`` of command-line overrides that define a cell (``+``/``~`` dropped from keys; ``runtime.*``
    ones say where, not what: left out). A later override of a key wins, as in Hydra."""
    parsed = {}
    for item in overrides:
        key, _, value = item.partition("=")
        key = key.lstrip("+~")
        if not is_runtime(key):
            parsed[key] = value
    return parsed


def requested_axes(grid_dir: Path) -> list[tuple[str, list[str]]] | None:
    """``[(key, values)]`` for every override the sweep was given (one value for a plain override), in the current
    key names, settings under ``runtime`` left out; None when the folder holds no sweep record."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    path = Path(grid_dir) / SWEEP_RECORD
    if not path.is_file():
        return None
    hydra = read_sweep_record(path).get("hydra") or {}
    try:
        sweeper = hydra.get("sweeper") or {}
        params = [f"{key}={value}" for key, value in (sweeper.get("params") or {}).items()]
        task = [str(item) for item in (hydra.get("overrides") or {}).get("task") or []]
        requested = parse_overrides(rename_overrides([*params, *task])[0])  # the command line wins over the params
        parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in requested.items()])
    except Exception as error:  # noqa: BLE001 - a hand-edited record: wrong types, or overrides Hydra cannot parse
        raise ScalegridError(
            f"{path} does not hold a sweep Hydra wrote ({type(error).__name__}: {str(error).splitlines()[0][:100]}): "
            "restore it from the grid's cells (any .hydra/ folder holds the overrides) or delete it"
        ) from None
    axes = []
    for override in parsed:
        values = (
            list(override.sweep_string_iterator())
            if override.is_sweep_override()
            else [override.get_value_element_as_str()]
        )
        axes.append((override.get_key_element(), values))
    return axes


def read_sweep_record(path: Path) -> dict:
    """A grid's ``multirun.yaml`` as a mapping; a file that is not UTF-8 YAML of a mapping is one line naming it."""
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        reason = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else "not valid YAML"
        raise ScalegridError(
            f"{path} is {reason}: restore it from the grid's cells (any .hydra/ folder holds the overrides) or "
            "delete it (the report then lists no missing runs)"
        ) from None
    if record is None:
        return {}
    if not isinstance(record, dict) or not isinstance(record.get("hydra", {}), dict):
        raise ScalegridError(
            f"{path} does not hold a sweep Hydra wrote (a mapping with a hydra: block): restore it from the grid's "
            "cells or delete it"
        )
    return record


def swept(config: dict) -> set[str]:
    """The keys a sweep varies: ``hydra.sweeper.params`` and command-line overrides with several values."""
    hydra = config.get("hydra") or {}
    keys = {str(key) for key, value in ((hydra.get("sweeper") or {}).get("params") or {}).items() if "," in str(value)}
    for override in (hydra.get("overrides") or {}).get("task") or []:
        key, _, value = str(override).partition("=")
        if "," in value or value.startswith(("range(", "choice(", "glob(")):
            keys.add(key)
    return {key.lstrip("+~") for key in keys}


def swept_keys(grid_dir: Path) -> list[str]:
    """The keys the sweep gives more than one value (empty without a sweep record)."""
    return [key for key, values in requested_axes(grid_dir) or [] if len(values) > 1]


BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def sweep_size(config) -> int | None:
    """How many jobs Hydra's basic sweeper makes of a sweep's config (``hydra.sweeper.params`` and the command line,
    the command line winning for a key it names): the product of every swept key's values. None for another sweeper
    or a sweep that cannot be counted without running it (a glob over a config group)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    hydra = config.hydra
    if OmegaConf.select(hydra, "sweeper._target_") != BASIC_SWEEPER:
        return None
    params = OmegaConf.to_container(hydra.sweeper.params, resolve=False) if hydra.sweeper.get("params") else {}
    requested = {key: f"{key}={value}" for key, value in (params or {}).items()}
    for item in hydra.overrides.task:
        requested[item.partition("=")[0].lstrip("+~")] = item
    size = 1
    try:
        for override in OverridesParser.create().parse_overrides(list(requested.values())):
            if override.is_sweep_override():
                size *= len(list(override.sweep_string_iterator()))
    except Exception:  # noqa: BLE001 - a sweep this count does not understand: no total rather than a wrong one
        return None
    return size
