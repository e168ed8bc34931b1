"""Loading a grid as a table: every run folder under a grid folder, its overrides, result and status; cells over seeds."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scalegrid.contract.config_versions import rename_overrides
from scalegrid.contract.identity import defining_settings
from scalegrid.contract.results import RunResult, UnreadableResult, read_result
from scalegrid.contract.run_folders import HYDRA_RECORD, UNREADABLE, find_run_dirs, folder_status
from scalegrid.contract.sweep_record import SWEEP_RECORD, parse_overrides, requested_axes
from scalegrid.errors import ScalegridError

SEED_KEY = "seed"


def hydra_record(directory: Path) -> list[str] | None:
    """The overrides Hydra recorded for a started job (current key names); [] without a record, None when damaged."""
    path = directory / HYDRA_RECORD
    if not path.is_file():
        return []
    try:
        loaded = yaml.safe_load(path.read_text()) or []
    except (yaml.YAMLError, ValueError, OSError):  # a UnicodeDecodeError is a ValueError
        return None
    if not isinstance(loaded, list) or not all(isinstance(item, str) for item in loaded):
        return None
    return rename_overrides(loaded)[0]


METRICS = (
    "test_acc",
    "test_loss",
    "train_acc",
    "best_val_acc",
    "selected_by",
    "best_epoch",
    "train_size",
    "params_total",
    "params_trainable",
    "fit_seconds",
    "test_seconds",
    "train_images_per_second",
)


@dataclass
class Run:
    """One run folder: its overrides as a dict, its result (None when it never finished) and its status."""

    directory: Path
    overrides: dict[str, str]
    result: RunResult | None
    status: str  # completed | diverged | failed | running | unfinished | unreadable

    def metric(self, name: str) -> Any:
        """A field of the result (``test_acc``, ``fit_seconds``, ...); None without a result."""
        return None if self.result is None else getattr(self.result, name, None)


def find_runs(grid_dir: Path) -> list[Run]:
    """Every run under ``grid_dir``: folders with a results.json, or with Hydra's record of a started job."""
    grid_dir = Path(grid_dir)
    if not grid_dir.is_dir():
        raise ScalegridError(f"{grid_dir} is not a directory: give the folder of a grid (e.g. outputs/grids/demo)")
    grids = sorted(child.name for child in grid_dir.iterdir() if (child / SWEEP_RECORD).is_file())
    if not (grid_dir / SWEEP_RECORD).is_file() and len(grids) > 1:  # a folder of grids: one report would mix them
        shown = ", ".join(grids[:5]) + (", ..." if len(grids) > 5 else "")
        raise ScalegridError(
            f"{grid_dir} holds {len(grids)} grids ({shown}), not one: give one of them, e.g. {grid_dir / grids[0]}"
        )
    runs = []
    for directory in find_run_dirs(grid_dir):
        try:
            result = read_result(directory)
        except UnreadableResult:
            result = None
        status = result.status.value if result is not None else folder_status(directory)
        if result is not None:
            overrides = result.overrides
        else:  # Hydra's record, in the key names of the scalegrid that started it
            overrides = hydra_record(directory)
            if overrides is None:
                overrides, status = [], UNREADABLE
        runs.append(Run(directory, parse_overrides(overrides), result, status))
    if not runs:
        raise ScalegridError(f"{grid_dir} holds no runs (no results.json below it): run the grid first")
    return runs


def swept_keys(runs: list[Run]) -> list[str]:
    """The override keys whose values differ between runs, in first-seen order."""
    keys = list(dict.fromkeys(key for run in runs for key in run.overrides))
    return [key for key in keys if len({run.overrides.get(key) for run in runs}) > 1]


def cell_of(run: Run, keys: list[str]) -> tuple[str, ...]:
    return tuple(run.overrides.get(key, "") for key in keys)


def mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


@dataclass
class Cell:
    """The runs of one grid cell (all seeds) and their aggregate test accuracy."""

    key: tuple[str, ...]
    runs: list[Run]

    @property
    def completed(self) -> list[Run]:
        return [run for run in self.runs if run.status == "completed"]

    def values(self, metric: str) -> list:
        """The metric of every completed run of the cell (one per seed), where it has one."""
        return [run.metric(metric) for run in self.completed if run.metric(metric) is not None]

    def stat(self, metric: str) -> tuple[float, float] | None:
        values = self.values(metric)
        return mean_std(values) if values else None

    def setting(self, key: str):
        """A defining setting of the cell's runs (the first with a stored config)."""
        for run in self.runs:
            if run.result is not None and run.result.config is not None:
                return defining_settings(run.result.config).get(key)
        return None


def group_cells(runs: list[Run]) -> tuple[list[str], list[Cell]]:
    """Group runs into cells by every swept key but the seed."""
    keys = [key for key in swept_keys(runs) if key != SEED_KEY]
    cells: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        cells.setdefault(cell_of(run, keys), []).append(run)
    return keys, [Cell(key, members) for key, members in cells.items()]


def expected_runs(grid_dir: Path) -> list[dict[str, str]] | None:
    """Every run the grid's sweep asks for, from Hydra's ``multirun.yaml``; None when the folder has none."""
    axes = requested_axes(grid_dir)
    if axes is None:
        return None
    return [
        dict(zip([key for key, _ in axes], combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))
    ]


def missing_runs(grid_dir: Path, runs: list[Run]) -> list[dict[str, str]]:
    """The runs the grid's sweep asks for that have no directory yet (none known without a multirun.yaml)."""
    expected = expected_runs(grid_dir) or []
    present = [run.overrides for run in runs]
    return [combo for combo in expected if not any(all(o.get(k) == v for k, v in combo.items()) for o in present)]


def table_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One flat row per run: every override key, the status, the metrics and the directory."""
    keys = list(dict.fromkeys(key for run in runs for key in run.overrides))
    rows = []
    for run in runs:
        row: dict[str, Any] = {key: run.overrides.get(key, "") for key in keys}
        row["status"] = run.status
        for metric in METRICS:
            row[metric] = run.metric(metric)
        row["error"] = run.metric("error") or ""
        row["run_dir"] = str(run.directory)
        rows.append(row)
    return rows


def sort_key(value: str) -> tuple:
    """Numbers in numeric order ("5" before "10"), before words; for sorting cells and axes."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def varying_settings(runs: list[Run], keys: list[str], most: int = 8) -> list[str]:
    """Defining settings whose resolved values differ between runs and that no column already shows: what an arm
    or an experiment's mapping sets (``optim.lr``, ``model.head.kind``), seeds and the swept keys' own values aside."""
    seen: dict[str, set] = {}
    paths = set()  # file paths (a checkpoint to start from) make unreadable columns; folder names carry them
    for run in runs:
        if run.result is None or run.result.config is None:
            continue
        for key, value in defining_settings(run.result.config).items():
            seen.setdefault(key, set()).add(repr(value))
            if isinstance(value, str) and "/" in value:
                paths.add(key)
    shown = [k for k, values in seen.items() if len(values) > 1 and k != SEED_KEY and k not in paths]
    named = [key.replace("/", ".") for key in keys]  # a nested group (data/augment) holds data.augment.*
    return [k for k in shown if not any(k == key or k.startswith(key + ".") for key in named)][:most]
