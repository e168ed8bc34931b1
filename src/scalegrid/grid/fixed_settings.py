"""A grid folder holds one grid: a sweep whose fixed settings differ from those of the cells already in its folder is
refused before any cell runs.

Without this, grid A (sgd) and grid B (``optim=adam``) with one ``experiment_name`` shared each other's cells: B took
a cell A had not started, A counted it as "left to another process", and the report mixed sgd and adam cells. When a
sweep starts, the settings it keeps fixed (the defining ones: not ``runtime``, not Hydra's own, not the keys it or the
folder's previous sweep varies) are compared with the cells in the folder: finished cells by their stored config
(migrated), cells still running by the config Hydra wrote for them (``.hydra/config.yaml``); only settings written as
literal values are compared (an interpolation may depend on a cell's own swept values). The cells
themselves are the record, so a refused or corrected command leaves nothing stale behind. Sweeps with the same fixed
settings, one after another or at the same time, still share the work.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml

from scalegrid.contract.config_versions import CONFIG_VERSION, migrate
from scalegrid.contract.device_defaults import default_precision
from scalegrid.contract.identity import defining_settings, flatten, is_runtime
from scalegrid.contract.results import UnreadableResult, read_result
from scalegrid.contract.run_folders import HYDRA_RECORD, find_run_dirs
from scalegrid.contract.selection import natural_mode
from scalegrid.contract.sweep_record import swept, swept_keys
from scalegrid.errors import ScalegridError

SHOWN = 3  # differing keys named in the refusal
CLAIMS = ".grid_claims"  # live sweeps' claims on a grid folder (flock'ed files)
_HELD: list = []  # this process's claim (file handle, path), open and locked until it ends or starts another sweep


def _under(key: str, names: set[str]) -> bool:
    return any(key == name or key.startswith(name + ".") for name in names)


def fixed_settings(config: dict[str, Any], also_varied: set[str] | None = None) -> dict[str, Any]:
    """The defining settings a sweep keeps fixed, flattened, as written (``config`` unresolved, with ``hydra``)."""
    varied = swept(config) | (also_varied or set())
    settings = {key: value for key, value in config.items() if key not in ("hydra", "experiment_name")}
    return {
        key: value
        for key, value in flatten(settings).items()
        if not is_runtime(key) and not _under(key, varied) and not isinstance(value, dict)
    }


def _concrete(flat: dict[str, Any]) -> dict[str, Any]:
    """``auto`` settings as resolved_config stores them (the values finished cells hold)."""
    flat = dict(flat)
    if flat.get("selection.mode") == "auto":
        flat["selection.mode"] = natural_mode(str(flat.get("selection.monitor", "val/acc")))
    if flat.get("trainer.precision") == "auto":
        flat["trainer.precision"] = default_precision(flat.get("trainer.accelerator", "auto"))
    return flat


def _cell_settings(run_dir: Path) -> tuple[dict[str, Any], str] | None:
    """A cell's defining settings: its stored result's (migrated) config, else Hydra's job config (literal values)."""
    try:
        result = read_result(run_dir)
    except UnreadableResult:
        result = None
    if result is not None and result.config:
        return defining_settings(result.config), "finished"
    record = run_dir / HYDRA_RECORD / "config.yaml"
    try:
        written = yaml.safe_load(record.read_text()) if record.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(written, dict):
        return None
    literal = defining_settings(migrate(written, CONFIG_VERSION))  # written by this version's Hydra job
    literal = {key: value for key, value in literal.items() if not (isinstance(value, str) and "${" in value)}
    return _concrete(literal), "running"


def check_grid_folder(grid_dir: Path, unresolved: dict[str, Any]) -> None:
    """Refuse a sweep into ``grid_dir`` whose fixed settings differ from the cells already there or from a sweep
    running into it now; else hold this sweep's claim on the folder until the process ends."""
    grid_dir = Path(grid_dir)
    previous = set(swept_keys(grid_dir)) if grid_dir.is_dir() else set()  # the folder's last sweep (multirun.yaml)
    literal = fixed_settings(unresolved, previous).items()  # an interpolation may depend on a cell's swept values
    mine = {key: value for key, value in literal if not (isinstance(value, str) and "${" in value)}
    mine = _concrete(mine)
    for run_dir in find_run_dirs(grid_dir):
        found = _cell_settings(run_dir)
        if found is None:
            continue
        stored, state = found
        differing = [
            (key, stored[key], mine[key])
            for key in sorted(set(stored) & set(mine))
            if stored[key] != mine[key] and not _same_number(stored[key], mine[key])
        ]
        if differing:
            example = f"the {state} cell {run_dir.relative_to(grid_dir)}"
            raise ScalegridError(_refusal(grid_dir, example, differing, unresolved))
    _claim(grid_dir, mine, swept(unresolved) | previous, unresolved)


def _claim(grid_dir: Path, mine: dict[str, Any], varied: set[str], unresolved: dict[str, Any]) -> None:
    """A live sweep's claim: ``<grid>/.grid_claims/<pid>-<id>.json`` holding its fixed settings, flock'ed for as long
    as the process lives (the system releases it however the process ends). A sweep that starts while another with
    other fixed settings is running, before that one's first cell folder exists, is refused here."""
    while _HELD:  # one sweep per process at a time: an earlier sweep of this process has ended
        _release(*_HELD.pop())
    folder = grid_dir / CLAIMS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
    handle = open(path, "w")  # noqa: SIM115 - held open (and locked) until the process ends
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.write(json.dumps({"fixed": mine, "varied": sorted(varied)}, default=str))
    handle.flush()
    _HELD.append((handle, path))
    atexit.register(_release, handle, path)
    for other in sorted(folder.glob("*.json")):
        if other == path:
            continue
        claim = _live_claim(other)
        if claim is None:
            continue
        skip = varied | set(claim.get("varied") or [])
        theirs = claim.get("fixed") or {}
        differing = [
            (key, theirs[key], mine[key])
            for key in sorted(set(theirs) & set(mine))
            if not _under(key, skip) and theirs[key] != mine[key] and not _same_number(theirs[key], mine[key])
        ]
        if differing:
            _release(handle, path)
            example = f"the sweep running into it now, process {other.name.split('-')[0]}"
            raise ScalegridError(_refusal(grid_dir, example, differing, unresolved))


def _live_claim(path: Path) -> dict | None:
    """The settings of a claim whose process still runs; a dead one's file is removed."""
    try:
        handle = open(path)  # noqa: SIM115
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: its sweep is running
            try:
                return json.loads(Path(path).read_text() or "{}")
            except (OSError, ValueError):
                return None
        path.unlink(missing_ok=True)  # nobody holds it: a sweep that ended without removing it
        return None


def _release(handle: Any, path: Path) -> None:
    with suppress(OSError):
        path.unlink(missing_ok=True)
    with suppress(OSError):
        handle.close()


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and float(a) == float(b)


def _refusal(grid_dir: Path, example: str, differing: list, unresolved: dict[str, Any]) -> str:
    shown = "; ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in differing[:SHOWN])
    shown += "; ..." if len(differing) > SHOWN else ""
    choices = ((unresolved.get("hydra") or {}).get("runtime") or {}).get("choices") or {}
    named = [(k, o, n) for k, o, n in differing if k.endswith(".name") and k.split(".")[0] in choices]
    key, old, new = (named or differing)[0]
    sweep = f"{key.split('.')[0]}={old},{new}" if named else f"{key}={old},{new}"  # optim=sgd,adam: the option
    keep = " ".join(f"{k}={'null' if v is None else v}" for k, v, _ in differing[:SHOWN])
    return (
        f"{grid_dir} holds cells of a grid with other fixed settings ({shown}; e.g. {example}): give this grid another experiment_name, or sweep the key ({sweep}) so "
        f"each value gets its own cells; to keep them, add {keep}"
    )
