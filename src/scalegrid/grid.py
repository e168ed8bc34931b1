"""Grid cells: one run per cell directory, completed cells skipped, failures recorded while the grid goes on."""

from __future__ import annotations

import json
import shutil
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
from scalegrid.results import (
    COMPLETED,
    DIVERGED,
    FAILED,
    RESULTS_FILE,
    library_versions,
    resolved_config,
    write_json_atomic,
)
from scalegrid.run_lock import LOCK_FILE, RunDirectoryBusy, run_directory_lock

SKIPPED = "skipped"  # returned (never written) for a cell an earlier invocation finished
BUSY = "busy"  # returned (never written) for a cell another process is running now
FINAL_STATUSES = (COMPLETED, DIVERGED)  # results a re-run keeps; failed and unfinished cells run again


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


def process_rank() -> int:
    """This process's global rank as the launcher set it in the environment (0 outside DDP)."""
    from pytorch_lightning.utilities import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


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
    # what is recorded, not what is computed (other callbacks, e.g. early stopping, do change results)
    "callbacks.model_checkpoint.",
    "callbacks.last_checkpoint.",
    "callbacks.step_checkpoint.",
    "callbacks.learning_rate_monitor.",
    "callbacks.progress_bar.",
    "logger.",  # where and how metrics are logged
    "loss.finite_check_every_n_steps",  # when a diverging run stops, not what a finished one computes
    "trainer.use_distributed_sampler",  # scalegrid's loaders shard themselves either way
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
    """The results of a finished (completed or diverged) run in ``run_dir``, or None when there is none to reuse.

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
    if results.get("status") not in FINAL_STATUSES:
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
    """Run ``train`` for one cell unless it already finished, holding the cell's lock; in a grid, a failure is
    recorded and a cell another process is running is left to it, so the grid goes on."""
    run_dir = Path(cfg.paths.output_dir)
    if process_rank() > 0:  # a DDP rank process started for rank 0's run: rank 0 holds the lock and decides
        return train(cfg)
    try:
        with run_directory_lock(run_dir):
            return _run_unless_finished(cfg, train, run_dir)
    except RunDirectoryBusy as busy:
        if not in_multirun():
            raise
        print(f"[scalegrid] cell left to another process: {busy}", flush=True)
        return {"status": BUSY, "error": str(busy)}
    except ScalegridError:
        _remove_bookkeeping_only(run_dir)  # bad input: leave nothing behind, not even an empty run folder
        raise


def _run_unless_finished(cfg: DictConfig, train: Callable[[DictConfig], dict[str, Any]], run_dir: Path) -> dict:
    overrides = current_overrides()
    done = finished_results(run_dir, overrides, resolved_config(cfg))
    if done is not None:
        score = f"test_acc={done['test_acc']:.4f}" if done.get("test_acc") is not None else done["status"]
        print(f"[scalegrid] skipped, already finished: {run_dir} ({score})", flush=True)
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


def _remove_bookkeeping_only(run_dir: Path) -> None:
    """Delete a run folder that holds nothing but what Hydra and the lock put there before the run started."""
    if in_multirun() or not run_dir.is_dir():
        return  # a grid cell keeps its folder: its failure is recorded there
    job_log = f"{HydraConfig.get().job.name}.log" if HydraConfig.initialized() else None
    bookkeeping = {".hydra", LOCK_FILE, job_log}
    entries = list(run_dir.iterdir())
    if any(entry.name not in bookkeeping for entry in entries):
        return
    for entry in entries:
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    run_dir.rmdir()


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
        if total == 0 and Path(config.hydra.sweep.dir).is_dir():  # jobs ran in other processes: count what is on disk
            from scalegrid.report.collect import find_runs

            on_disk = Counter(run.status for run in find_runs(Path(config.hydra.sweep.dir)))
            print(
                f"[scalegrid] grid {config.hydra.sweep.dir}: the launcher's workers ran the jobs; "
                f"{sum(on_disk.values())} cells on disk: "
                + ", ".join(f"{on_disk[status]} {status}" for status in (COMPLETED, DIVERGED, FAILED, "unfinished")),
                flush=True,
            )
            return
        print(
            f"[scalegrid] grid {config.hydra.sweep.dir}: {total} cells: {self.statuses[COMPLETED]} trained, "
            f"{self.statuses[SKIPPED]} skipped (already finished), {self.statuses[DIVERGED]} diverged, "
            f"{self.statuses[FAILED]} failed, {self.statuses[BUSY]} left to another process",
            flush=True,
        )
