"""The end-of-sweep line: how many cells were trained, skipped, diverged, failed or left to another process."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from scalegrid.contract.results import RunStatus
from scalegrid.contract.run_folders import UNFINISHED, find_run_dirs, folder_status
from scalegrid.grid.cells import BUSY, SKIPPED

COMPLETED, DIVERGED, FAILED = (status.value for status in RunStatus)


class GridSummary(Callback):
    """Hydra callback (conf/hydra/default.yaml): one line at the end of a sweep."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.statuses.clear()

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if job_return.status != JobStatus.COMPLETED:  # the job raised: its return_value would re-raise it
            self.statuses[FAILED] += 1
            return
        self.statuses[getattr(job_return.return_value, "status", FAILED)] += 1

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        total = sum(self.statuses.values())
        grid_dir = Path(config.hydra.sweep.dir)
        if total == 0 and grid_dir.is_dir():  # jobs ran in other processes: count what is on disk
            on_disk = Counter(folder_status(folder) for folder in find_run_dirs(grid_dir))
            print(
                f"[scalegrid] grid {grid_dir}: the launcher's workers ran the jobs; "
                f"{sum(on_disk.values())} cells on disk: "
                + ", ".join(f"{on_disk[status]} {status}" for status in (COMPLETED, DIVERGED, FAILED, UNFINISHED)),
                flush=True,
            )
            return
        print(
            f"[scalegrid] grid {grid_dir}: {total} cells: {self.statuses[COMPLETED]} trained, "
            f"{self.statuses[SKIPPED]} skipped (already finished), {self.statuses[DIVERGED]} diverged, "
            f"{self.statuses[FAILED]} failed, {self.statuses[BUSY]} left to another process",
            flush=True,
        )
