"""What state a run folder is in, as the grid's count and the report read it: a stopped run is told apart."""

from __future__ import annotations

from pathlib import Path

from scalegrid.contract.results import RunResult, RunStatus, write_result
from scalegrid.contract.run_folders import (
    STOPPED_NOTE,
    clear_stopped,
    find_run_dirs,
    folder_status,
    note_stopped,
)
from scalegrid.contract.run_lock import run_directory_lock


def _started(run_dir: Path) -> Path:
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    return run_dir


def test_a_stopped_run_is_stopped_until_it_starts_again(tmp_path) -> None:
    run_dir = _started(tmp_path / "grid" / "s0")
    assert folder_status(run_dir) == "unfinished"  # killed, or never got far: nothing said why
    note_stopped(run_dir, "stopped by SIGTERM at epoch 2, step 12: last.ckpt holds it")
    assert folder_status(run_dir) == "stopped"
    assert (run_dir / STOPPED_NOTE).read_text().startswith("stopped by SIGTERM at epoch 2")
    with run_directory_lock(run_dir):  # a process holds it: running, whatever the note says
        assert folder_status(run_dir) == "running"
        clear_stopped(run_dir)  # what a cell does as it starts again
    assert folder_status(run_dir) == "unfinished"
    clear_stopped(run_dir)  # nothing to clear: no error
    assert find_run_dirs(tmp_path / "grid") == [run_dir]


def test_a_result_outranks_a_stale_note(tmp_path) -> None:
    run_dir = _started(tmp_path / "s0")
    note_stopped(run_dir, "stopped by SIGTERM at epoch 0, step 3: last.ckpt holds it")
    write_result(run_dir, RunResult(status=RunStatus.COMPLETED, test_acc=0.5))
    assert folder_status(run_dir) == "completed"
