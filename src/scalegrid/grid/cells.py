"""Grid cells: one run per cell folder, finished cells skipped, failures recorded while the grid goes on."""

from __future__ import annotations

import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from scalegrid.contract.identity import (
    describe_differences,
    identity_differences,
    legacy_weights_tag,
    stored_overrides,
    weights_tag,
)
from scalegrid.contract.results import (
    RESULTS_FILE,
    RunResult,
    RunStatus,
    UnreadableResult,
    library_versions,
    read_result,
    resolved_config,
    write_result,
)
from scalegrid.contract.run_folders import clear_stopped, note_stopped, restore_hydra_record
from scalegrid.contract.run_lock import LOCK_FILE, RunDirectoryBusy, run_directory_lock
from scalegrid.contract.weights_digest import changed_weights
from scalegrid.errors import RunStopped, ScalegridError, user_message
from scalegrid.hydra_job import current_overrides, in_multirun, process_rank

SKIPPED = "skipped"  # an earlier invocation finished this cell (nothing is written)
BUSY = "busy"  # another process is running this cell now (nothing is written)


_finished_here: set[Path] = set()  # the cell folders this process finished: a later cell refused there collided


@dataclass(frozen=True)
class CellOutcome:
    """What one invocation did with a cell: its run's status, or skipped / busy; the result when there is one."""

    status: str  # completed | diverged | failed | skipped | busy
    result: RunResult | None = None
    error: str | None = None


def finished_result(run_dir: Path, config: dict) -> RunResult | None:
    """The result of a finished (completed or diverged) run of this cell in ``run_dir``; None when there is none.

    A finished run whose defining settings differ from ``config`` is not this cell's result: refused, since reusing
    it would report a number this configuration never produced.
    """
    try:
        result = read_result(run_dir)
    except UnreadableResult:
        return None  # damaged: run the cell again, which rewrites the file
    if result is None or not result.status.is_final:
        return None
    changed = identity_differences(result.config or {}, config)
    source = changed_weights(result.weights_sha256, (config.get("model") or {}).get("weights"))
    if source is not None and not changed:
        restore_hydra_record(run_dir, result.hydra_record)
        weights = config["model"]["weights"]
        raise ScalegridError(
            f"{run_dir} holds a finished run started from another version of model.weights={weights} (its content "
            f"changed since: {source}): delete that folder to train the cell again from the new file, or give this "
            "grid another experiment_name to keep both"
        )
    if changed:
        restore_hydra_record(run_dir, result.hydra_record)  # Hydra rewrote them for this refused start
        raise ScalegridError(
            f"{run_dir} holds a finished run with other settings ({describe_differences(changed)}): delete that "
            "folder to run the cell again, give this grid another experiment_name, or, when a swept key is missing "
            f"from the folder names, add it to hydra.sweep.subdir; to keep it, add {stored_overrides(changed)}"
        )
    return result


def run_cell(cfg: DictConfig, train: Callable[[DictConfig], RunResult]) -> CellOutcome:
    """Run ``train`` for one cell unless it already finished, holding the cell's lock; in a grid, a failure is
    recorded and a cell another process is running is left to it, so the grid goes on."""
    run_dir = Path(cfg.runtime.paths.output_dir)
    if process_rank() > 0:  # a DDP rank process started for rank 0's run: rank 0 holds the lock and decides
        result = train(cfg)
        return CellOutcome(result.status.value, result)
    try:
        with run_directory_lock(run_dir):
            try:
                return _run_unless_finished(cfg, train, run_dir)
            except RunStopped as stopped:
                note_stopped(run_dir, str(stopped))  # before the lock is released: counted as stopped, not running
                raise
    except RunDirectoryBusy as busy:
        if not in_multirun():
            raise
        print(f"[scalegrid] cell left to another process: {busy}", flush=True)
        return CellOutcome(BUSY, error=str(busy))
    except ScalegridError:
        remove_bookkeeping_only(run_dir)  # bad input: leave nothing behind, not even an empty run folder
        raise


def adopt_legacy_folder(run_dir: Path, config: dict) -> Path | None:
    """Move a finished cell of an older grid, whose folder carried the old weights tag (``from_full_seed0``), to this
    cell's folder (``from_<grid>.<cell>``) when it is this cell: the same defining settings and source file. Returns
    the folder it came from, or None."""
    weights = (config.get("model") or {}).get("weights")
    new, old = weights_tag(weights), legacy_weights_tag(weights)
    if new == old or new not in run_dir.parts or (run_dir / RESULTS_FILE).exists():
        return None
    index = len(run_dir.parts) - 1 - run_dir.parts[::-1].index(new)
    legacy = Path(*run_dir.parts[:index], old, *run_dir.parts[index + 1 :])
    try:
        result = read_result(legacy)
    except UnreadableResult:
        return None
    if result is None or not result.status.is_final or identity_differences(result.config or {}, config):
        return None  # another source's cell (the old tag was shared) or another setting: left where it is
    if changed_weights(result.weights_sha256, weights) is not None:
        return None
    for entry in legacy.iterdir():
        if entry.name not in (".hydra", LOCK_FILE) and not (run_dir / entry.name).exists():
            shutil.move(str(entry), str(run_dir / entry.name))
    shutil.rmtree(legacy, ignore_errors=True)
    return legacy


def _run_unless_finished(cfg: DictConfig, train: Callable[[DictConfig], RunResult], run_dir: Path) -> CellOutcome:
    config = resolved_config(cfg)
    legacy = adopt_legacy_folder(run_dir, config)
    if legacy is not None:
        print(
            f"[scalegrid] moved {legacy} to {run_dir}: a cell started from a checkpoint is now named by the "
            "checkpoint's grid and cell",
            flush=True,
        )
    try:
        done = finished_result(run_dir, config)
    except ScalegridError as refused:
        if not in_multirun() or run_dir.resolve() not in _finished_here:
            raise  # a finished grid whose settings changed since: one line for the whole grid
        # A cell of this same sweep finished in this folder (two cells mapped to one folder): this cell fails,
        # that result stays as it is, and the grid goes on.
        print(f"[scalegrid] cell failed: {run_dir}: {refused}", flush=True)
        return CellOutcome(RunStatus.FAILED.value, error=str(refused))
    if done is not None:
        score = f"test_acc={done.test_acc:.4f}" if done.test_acc is not None else done.status.value
        print(f"[scalegrid] skipped, already finished: {run_dir} ({score})", flush=True)
        return CellOutcome(SKIPPED, done)
    clear_stopped(run_dir)
    if not in_multirun():
        result = train(cfg)
        return CellOutcome(result.status.value, result)
    try:
        result = train(cfg)
        if result.status.is_final:
            _finished_here.add(run_dir.resolve())
    except (KeyboardInterrupt, SystemExit, RunStopped):  # not the cell's failure: the whole process is stopping
        raise
    except Exception as error:  # one failing cell must not stop the grid: record it and go on
        message = user_message(error) if isinstance(error, ScalegridError) else f"{type(error).__name__}: {error}"
        print(f"[scalegrid] cell failed: {run_dir}: {message}", flush=True)
        failure = RunResult(
            status=RunStatus.FAILED,
            error=message,
            traceback=None if isinstance(error, ScalegridError) else traceback.format_exc(),
            overrides=current_overrides(),
            config=resolved_config(cfg),
            versions=library_versions(),
        )
        write_result(run_dir, failure)
        return CellOutcome(RunStatus.FAILED.value, failure, message)
    return CellOutcome(result.status.value, result)


def remove_bookkeeping_only(run_dir: Path) -> None:
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
