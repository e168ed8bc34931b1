"""Run folders on disk: finding them under a grid folder, and what state each one is in.

The grid's end-of-sweep count and the report both read folders this way, so they agree on what a folder holds.
"""

from __future__ import annotations

from pathlib import Path

from scalegrid.contract.results import RESULTS_FILE, UnreadableResult, read_result
from scalegrid.contract.run_lock import is_locked

RUNNING = "running"  # no result yet, and a process holds the folder's lock
UNFINISHED = "unfinished"  # no result, nobody running it: interrupted (re-run the command to resume)
UNREADABLE = "unreadable"  # a damaged results.json
HYDRA_RECORD = ".hydra/overrides.yaml"  # what Hydra writes when a job starts


def find_run_dirs(grid_dir: Path) -> list[Path]:
    """Every run folder under ``grid_dir``: with a results.json, or with Hydra's record of a started job."""
    grid_dir = Path(grid_dir)
    found = {path.parent for path in grid_dir.rglob(RESULTS_FILE)}
    found |= {path.parent.parent for path in grid_dir.rglob(HYDRA_RECORD)}
    return sorted(folder for folder in found if "report" not in folder.relative_to(grid_dir).parts)


def folder_status(run_dir: Path) -> str:
    """completed | diverged | failed (its result) | running | unfinished | unreadable."""
    try:
        result = read_result(run_dir)
    except UnreadableResult:
        return UNREADABLE
    if result is not None:
        return result.status.value
    return RUNNING if is_locked(run_dir) else UNFINISHED
