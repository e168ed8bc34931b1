"""Grid cells: one run per cell directory, completed cells skipped, failures recorded while the grid goes on."""

from __future__ import annotations

import json
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from scalegrid.errors import ScalegridError
from scalegrid.results import RESULTS_FILE, library_versions, resolved_config, write_json_atomic

COMPLETED = "completed"
FAILED = "failed"
SKIPPED = "skipped"


def weights_tag(weights: str | None) -> str:
    """A directory name for ``model.weights``: scratch, imagenet, or the checkpoint's run folder."""
    if weights in (None, "None", "null"):
        return "scratch"
    if weights == "imagenet":
        return "imagenet"
    path = Path(str(weights))
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return "from_" + "_".join(part for part in run.parts[-2:] if part not in ("/", ""))


def current_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


# Keys that say where things are or how fast they arrive, not what was computed: they may change between
# invocations of one grid (the cache, workers, threads, compilation and memory format change speed only).
LOCATION_KEYS = (
    "paths.",
    "data.root",
    "data.csv_file",
    "data.image_root",
    "data.cache",  # and data.cache_dir
    "data.num_workers",
    "model.compile",
    "model.channels_last",
    "threads",
    "callbacks.progress_bar.",
    "download_weights",
)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): tree}


def config_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every setting that differs between two resolved configs (locations ignored)."""
    old, new = _flatten(stored), _flatten(current)
    run_dirs = {str(tree["paths.output_dir"]) for tree in (old, new) if tree.get("paths.output_dir")}

    def is_location(key: str, value: Any) -> bool:  # e.g. checkpoint and logger folders inside the run directory
        return key.startswith(LOCATION_KEYS) or (isinstance(value, str) and any(d in value for d in run_dirs))

    keys = sorted(set(old) | set(new))
    return [
        f"{key}: {old.get(key)} -> {new.get(key)}"
        for key in keys
        if old.get(key) != new.get(key) and not (is_location(key, old.get(key)) or is_location(key, new.get(key)))
    ]


def finished_results(
    run_dir: Path, overrides: list[str], config: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The results of a completed run in ``run_dir``, or None when there is none to reuse.

    A completed run made with other overrides means two cells share a directory, and one made with another
    configuration (an edited experiment file, a changed default) is not this cell's result: both are refused.
    """
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # unreadable: run the cell again, which rewrites the file
    if results.get("status") != COMPLETED:
        return None
    if sorted(results.get("overrides", [])) != sorted(overrides):
        raise ScalegridError(
            f"{run_dir} already holds a completed run with other overrides ({' '.join(results.get('overrides', []))}): "
            "give each grid cell its own directory (hydra.sweep.subdir must name every swept key)"
        )
    changed = config_differences(results.get("config", {}), config) if config is not None else []
    if changed:
        shown = "; ".join(changed[:3]) + ("; ..." if len(changed) > 3 else "")
        raise ScalegridError(
            f"{run_dir} holds a completed run made with another configuration ({shown}): delete that folder to run "
            "the cell again, or give this grid another experiment_name"
        )
    return results


def run_cell(cfg: DictConfig, train: Callable[[DictConfig], dict[str, Any]]) -> dict[str, Any]:
    """Run ``train`` for one cell unless it already completed; in a grid, a failure is recorded, not raised."""
    run_dir = Path(cfg.paths.output_dir)
    overrides = current_overrides()
    done = finished_results(run_dir, overrides, resolved_config(cfg))
    if done is not None:
        print(f"[scalegrid] skipped, already completed: {run_dir} (test_acc={done['test_acc']:.4f})", flush=True)
        return {**done, "status": SKIPPED}
    if not in_multirun():
        return train(cfg)
    try:
        return train(cfg)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:  # one failing cell must not stop the grid: record it and go on
        message = str(error) if isinstance(error, ScalegridError) else f"{type(error).__name__}: {error}"
        print(f"[scalegrid] cell failed: {run_dir}: {message}", flush=True)
        failure = {
            "status": FAILED,
            "error": message,
            "traceback": None if isinstance(error, ScalegridError) else traceback.format_exc(),
            "overrides": overrides,
            "versions": library_versions(),
        }
        write_json_atomic(run_dir / RESULTS_FILE, failure)
        return failure


class GridSummary(Callback):
    """Hydra callback: at the end of a sweep, one line with how many cells ran, were skipped, or failed."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.statuses.clear()

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        value = job_return._return_value  # the property re-raises a failed job's exception; we only count it
        status = value.get("status", FAILED) if isinstance(value, dict) else FAILED
        self.statuses[status] += 1

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        total = sum(self.statuses.values())
        print(
            f"[scalegrid] grid {config.hydra.sweep.dir}: {total} cells: {self.statuses[COMPLETED]} trained, "
            f"{self.statuses[SKIPPED]} skipped (already completed), {self.statuses[FAILED]} failed",
            flush=True,
        )
