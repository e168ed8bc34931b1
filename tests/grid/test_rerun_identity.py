"""Re-running a finished grid: what counts as the same cell, refusals that change nothing, folder collisions."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import FAST_TRAINER, TINY_DATA, run_train

from scalegrid.contract.results import RESULTS_FILE

pytestmark = pytest.mark.slow  # real grids through src/train.py


def _grid_args(mnist_root: Path, log_dir: Path, *extra: str) -> list[str]:
    return [
        "-m",
        "hydra=grid",
        "experiment_name=identity",
        "data=mnist",
        "model=mnist_net",
        f"runtime.data.root={mnist_root}",
        *TINY_DATA,
        *FAST_TRAINER,
        "trainer.max_epochs=1",
        "seed=0,1",
        f"runtime.paths.log_dir={log_dir}",
        *extra,
    ]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def finished(mnist_root, tmp_path) -> tuple[Path, Path]:
    log_dir = tmp_path / "outputs"
    first = run_train(_grid_args(mnist_root, log_dir))
    assert first.returncode == 0 and "2 cells: 2 trained" in first.stdout, first.stderr[-2000:]
    return log_dir, log_dir / "grids" / "identity"


def test_runtime_only_changes_and_moved_copies_are_the_same_cells(finished, mnist_root, tmp_path) -> None:
    log_dir, grid = finished
    bar = run_train(
        _grid_args(mnist_root, log_dir, "runtime.callbacks.progress_bar.refresh_rate=5", "runtime.threads=1")
    )
    assert "2 cells: 0 trained, 2 skipped" in bar.stdout, bar.stdout[-2000:] + bar.stderr[-2000:]

    moved_data = tmp_path / "data_copy"  # the data and the outputs both moved elsewhere
    shutil.copytree(mnist_root, moved_data)
    moved_outputs = tmp_path / "outputs_copy"
    shutil.copytree(log_dir, moved_outputs)
    args = _grid_args(moved_data, moved_outputs)
    moved = run_train(args)
    assert "2 cells: 0 trained, 2 skipped" in moved.stdout, moved.stdout[-2000:] + moved.stderr[-2000:]


def test_a_refused_rerun_changes_nothing_in_the_finished_folder(finished, mnist_root) -> None:
    log_dir, grid = finished
    cell = next(path.parent for path in grid.rglob(RESULTS_FILE))
    before = _snapshot(cell)
    single = [arg for arg in _grid_args(mnist_root, log_dir, "optim.lr=0.5") if arg not in ("-m", "seed=0,1")]
    refused = run_train([*single, "seed=0", f"hydra.run.dir={cell}"])  # a single run into a finished cell
    assert refused.returncode == 2 and "holds a finished run with other settings" in refused.stderr
    assert _snapshot(cell) == before  # .hydra/ included: its record still matches its results


def test_two_cells_in_one_folder_fail_the_second_and_the_grid_goes_on(mnist_root, tmp_path) -> None:
    grid = tmp_path / "grid"
    args = ["-m", "hydra=grid", "data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}", *TINY_DATA]
    args += [*FAST_TRAINER, "trainer.max_epochs=1", "optim.lr=0.01,0.02,0.03", f"hydra.sweep.dir={grid}"]
    collided = run_train([*args, "hydra.sweep.subdir=same_${seed}"])  # the folder pattern names no swept key
    assert collided.returncode == 0, collided.stderr[-2000:]
    assert "3 cells: 1 trained, 0 skipped (already finished), 0 diverged, 2 failed" in collided.stdout
    failed = re.findall(r"^\[\d/3\] same_0: failed in \d+ s \(.*holds a finished run", collided.stdout, re.M)
    assert len(failed) == 2, collided.stdout[-2000:]
    results = list(grid.rglob(RESULTS_FILE))
    assert len(results) == 1 and '"status": "completed"' in results[0].read_text()  # the first cell's, untouched
