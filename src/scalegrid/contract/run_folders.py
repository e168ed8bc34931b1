"""Run folders on disk: finding them under a grid folder, and what state each one is in.

The grid's end-of-sweep count and the report both read folders this way, so they agree on what a folder holds.
"""

from __future__ import annotations

from pathlib import Path

from scalegrid.contract.atomic_files import write_atomic
from scalegrid.contract.results import RESULTS_FILE, UnreadableResult, read_result
from scalegrid.contract.run_lock import is_locked

RUNNING = "running"  # no result yet, and a process holds the folder's lock
UNFINISHED = "unfinished"  # no result, nobody running it: interrupted (re-run the command to resume)
UNREADABLE = "unreadable"  # a damaged results.json
STOPPED = "stopped"  # no result, nobody running it, and the run said it was stopped (SIGTERM): re-run to resume
HYDRA_RECORD = ".hydra/overrides.yaml"  # what Hydra writes when a job starts
STOPPED_NOTE = "stopped.txt"  # the one line a run stopped by SIGTERM printed; removed when the run starts again


def read_hydra_record(run_dir: Path) -> dict[str, str] | None:
    """The text of each file Hydra wrote into ``run_dir/.hydra`` (None when there is none)."""
    folder = Path(run_dir) / ".hydra"
    if not folder.is_dir():
        return None
    return {path.name: path.read_text() for path in sorted(folder.glob("*.yaml")) if path.is_file()}


def restore_hydra_record(run_dir: Path, record: dict[str, str] | None) -> None:
    """Put a finished run's ``.hydra`` files back as they were when it finished (Hydra rewrites them at every start)."""
    if not record:
        return
    folder = Path(run_dir) / ".hydra"
    for name, text in record.items():
        path = folder / name
        if "/" in name or (path.is_file() and path.read_text() == text):
            continue
        write_atomic(path, lambda stream, text=text: stream.write(text.encode()))


def find_run_dirs(grid_dir: Path) -> list[Path]:
    """Every run folder under ``grid_dir``: with a results.json, or with Hydra's record of a started job."""
    grid_dir = Path(grid_dir)
    found = {path.parent for path in grid_dir.rglob(RESULTS_FILE)}
    found |= {path.parent.parent for path in grid_dir.rglob(HYDRA_RECORD)}
    return sorted(folder for folder in found if "report" not in folder.relative_to(grid_dir).parts)


def folder_status(run_dir: Path) -> str:
    """completed | diverged | failed (its result) | running | stopped | unfinished | unreadable."""
    try:
        result = read_result(run_dir)
    except UnreadableResult:
        return UNREADABLE
    if result is not None:
        return result.status.value
    if is_locked(run_dir):
        return RUNNING
    return STOPPED if (Path(run_dir) / STOPPED_NOTE).is_file() else UNFINISHED


def note_stopped(run_dir: Path, message: str) -> None:
    """Say in ``run_dir`` that its run was stopped (and how), so whoever counts the folders later can tell a stopped
    run from one that was killed: a grid's launcher workers, the report."""
    write_atomic(Path(run_dir) / STOPPED_NOTE, lambda stream: stream.write(f"{message}\n".encode()))


def clear_stopped(run_dir: Path) -> None:
    """The run starts again: it is no longer stopped (should it be killed now, it is unfinished)."""
    (Path(run_dir) / STOPPED_NOTE).unlink(missing_ok=True)
