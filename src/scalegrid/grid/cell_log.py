"""In a grid, each cell's chatter goes to its own log file; the grid's output keeps one line per cell (progress.py).

Two routes lead there: what the run prints or warns (``sys.stdout``/``sys.stderr``, Python warnings) is redirected
into ``<cell>/<job name>.log`` while the cell runs, and log records (Lightning's model summary and INFO lines) reach
the terminal through a handler whose filter drops them in a multirun (conf/hydra/job_logging/scalegrid.yaml), while
the file handler beside it keeps them. A single run is unchanged: its bars, its summary, its log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from scalegrid.hydra_job import in_multirun


class OutsideGrids(logging.Filter):
    """Passes a record to the terminal only outside a multirun (the cell's log file has every record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not in_multirun()


def cell_log_path(run_dir: Path) -> Path:
    """The cell's log file, the one Hydra's job logging writes: ``<run dir>/<job name>.log``."""
    from hydra.core.hydra_config import HydraConfig

    name = HydraConfig.get().job.name if HydraConfig.initialized() else "train"
    return Path(run_dir) / f"{name}.log"


@contextmanager
def output_to_cell_log(run_dir: Path) -> Iterator[None]:
    """Within a multirun, send this process's printed output and warnings to the cell's log file while the cell runs;
    outside one, change nothing."""
    if not in_multirun():
        yield
        return
    path = cell_log_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", buffering=1) as log, redirect_stdout(log), redirect_stderr(log):
        yield
