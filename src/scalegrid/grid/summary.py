"""The end-of-sweep line: how many cells were trained, skipped, diverged, failed or left to another process."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from scalegrid.contract.pretrained_use import check_pretrained_is_read
from scalegrid.contract.results import STEP_PHASES, RunStatus, outside_steps
from scalegrid.contract.run_folders import STOPPED, UNFINISHED, find_run_dirs, folder_status
from scalegrid.contract.selection import selection_mode
from scalegrid.contract.settings_check import check_launcher_settings, check_settings
from scalegrid.errors import STOPPED_EXIT_CODE, USAGE_ERROR, ScalegridError
from scalegrid.grid.cells import BUSY, SKIPPED
from scalegrid.grid.fixed_settings import check_grid_folder

COMPLETED, DIVERGED, FAILED = (status.value for status in RunStatus)


class GridSummary(Callback):
    """Hydra callback (conf/hydra/default.yaml): one line at the end of a sweep."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.breakdowns: list[dict[str, float]] = []  # of the cells this invocation trained
        self.cell_seconds: list[float] = []  # each trained cell's wall time as the grid saw it: Hydra's part included
        # The process's first job also imports the training stack (Lightning, torchvision: seconds): kept apart.
        self.first_cell: tuple[dict[str, float], float] | None = None
        self._jobs = 0
        self._last_job_end = time.perf_counter()
        self._sweep_process: int | None = None  # the process that runs the sweep; launcher workers are others

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:  # a setting every cell shares: one line before any cell starts (a cell's own is that cell's failure)
            check_settings(config)
            check_launcher_settings(config)
            unresolved = OmegaConf.to_container(config, resolve=False)
            check_pretrained_is_read(unresolved, sweep=True)
            if config.get("selection") is not None:
                selection_mode(config.selection.monitor, config.selection.mode)
            check_grid_folder(Path(config.hydra.sweep.dir), unresolved)  # one grid per folder: before any cell
        except ScalegridError as error:
            print(f"scalegrid: error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(USAGE_ERROR) from None
        self.statuses.clear()
        self.breakdowns.clear()
        self.cell_seconds.clear()
        self.first_cell, self._jobs = None, 0
        self._last_job_end = time.perf_counter()
        self._sweep_process = os.getpid()

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if os.getpid() != self._sweep_process:
            return  # a launcher's worker (joblib, submitit, SLURM): the sweeping process counts the folders at the end
        now, since = time.perf_counter(), self._last_job_end  # the launcher composes each job's config in between
        self._last_job_end = now
        first, self._jobs = self._jobs == 0, self._jobs + 1
        if job_return.status != JobStatus.COMPLETED:  # the job raised: its return_value would re-raise it
            self.statuses[FAILED] += 1
            return
        outcome = job_return.return_value
        status = getattr(outcome, "status", FAILED)
        self.statuses[status] += 1
        breakdown = getattr(getattr(outcome, "result", None), "time_breakdown", None)
        if status == STOPPED:  # SIGTERM: no further cell starts; the summary, then the exit code a scheduler reads
            self.on_multirun_end(config)
            raise SystemExit(STOPPED_EXIT_CODE)
        if status != SKIPPED and breakdown and first:
            self.first_cell = (breakdown, now - since)
        elif status != SKIPPED and breakdown:
            self.breakdowns.append(breakdown)
            self.cell_seconds.append(now - since)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        total = sum(self.statuses.values())
        grid_dir = Path(config.hydra.sweep.dir)
        if total == 0 and grid_dir.is_dir():  # jobs ran in other processes: count what is on disk
            on_disk = Counter(folder_status(folder) for folder in find_run_dirs(grid_dir))
            print(
                f"[scalegrid] grid {grid_dir}: the launcher's workers ran the jobs; "
                f"{sum(on_disk.values())} cells on disk: "
                + ", ".join(f"{on_disk[status]} {status}" for status in (COMPLETED, DIVERGED, FAILED, UNFINISHED))
                + (f", {on_disk[STOPPED]} stopped by SIGTERM (run again to resume)" if on_disk[STOPPED] else ""),
                flush=True,
            )
            if on_disk[STOPPED]:  # to a script or scheduler a stopped grid is not a success
                raise SystemExit(STOPPED_EXIT_CODE)
            return
        print(
            f"[scalegrid] grid {grid_dir}: {total} cells: {self.statuses[COMPLETED]} trained, "
            f"{self.statuses[SKIPPED]} skipped (already finished), {self.statuses[DIVERGED]} diverged, "
            f"{self.statuses[FAILED]} failed, {self.statuses[BUSY]} left to another process"
            + (
                f", {self.statuses[STOPPED]} stopped by SIGTERM (the rest not started: run again to resume)"
                if self.statuses[STOPPED]
                else ""
            )
            + self._time_line(),
            flush=True,
        )

    def _time_line(self) -> str:
        if not self.breakdowns and self.first_cell is not None:  # one trained cell: it is the whole story
            return per_cell_time([self.first_cell[0]], [self.first_cell[1]])
        line = per_cell_time(self.breakdowns, self.cell_seconds)
        if line and self.first_cell is not None:
            line += f" (the first cell, which also imported the training stack, took {self.first_cell[1]:.2f} s)"
        return line


def per_cell_time(breakdowns: list[dict[str, float]], cell_seconds: list[float]) -> str:
    """Where a trained cell's time went, on average: the steps, and everything else by phase (largest first);
    ``hydra`` is the cell's wall time in the grid beyond its run (composing its config, its folder and lock)."""
    if not breakdowns:
        return ""
    breakdowns = [
        {**breakdown, "hydra": max(0.0, seconds - float(breakdown["total"])), "total": max(seconds, breakdown["total"])}
        for breakdown, seconds in zip(breakdowns, cell_seconds, strict=True)
    ]

    def mean(name: str) -> float:
        return sum(float(breakdown.get(name, 0.0)) for breakdown in breakdowns) / len(breakdowns)

    phases = {name for breakdown in breakdowns for name in breakdown} - {*STEP_PHASES, "total", "unattributed"}
    overhead = sorted(((mean(name), name) for name in phases), key=lambda pair: (-pair[0], pair[1]))
    overhead.append((mean("unattributed"), "unattributed"))
    steps = ", ".join(f"{name} {mean(name):.2f}" for name in STEP_PHASES)
    outside = sum(outside_steps(breakdown) for breakdown in breakdowns) / len(breakdowns)
    return (
        f"; per trained cell {mean('total'):.2f} s: steps {steps}; outside the steps {outside:.2f} s ("
        + ", ".join(f"{name} {seconds:.2f}" for seconds, name in overhead)
        + ")"
    )
