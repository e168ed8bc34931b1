"""SIGTERM, what a scheduler sends before it kills a job: a stopped run, never a success, and nothing lost."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import TINY_DATA, run_train, start_train, wait_for_checkpoint_epoch

from scalegrid.contract.results import RESULTS_FILE
from scalegrid.contract.run_folders import STOPPED_NOTE, folder_status

pytestmark = pytest.mark.slow  # real training processes, signalled

EPOCHS = 25


def _args(mnist_root: Path, *extra: str) -> list[str]:
    return [
        "data=mnist",
        "model=mnist_net",
        f"runtime.data.root={mnist_root}",
        *TINY_DATA,
        f"trainer.max_epochs={EPOCHS}",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "runtime.callbacks.progress_bar.refresh_rate=0",
        "runtime.callbacks.last_checkpoint.min_interval_s=0",  # an epoch-end checkpoint to wait for
        *extra,
    ]


def _terminate_after(args: list[str], checkpoint: Path, epoch: int) -> subprocess.CompletedProcess:
    """Start src/train.py, SIGTERM it once ``checkpoint`` holds ``epoch``, and return how it ended."""
    process = start_train(args)
    wait_for_checkpoint_epoch(process, checkpoint, epoch)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _csv_epochs(run_dir: Path, column: str) -> list[int]:
    with (run_dir / "csv" / "metrics.csv").open(newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle) if row.get(column)]


def test_a_terminated_run_says_so_exits_143_and_resumes_with_its_whole_history(mnist_root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    args = _args(mnist_root, f"hydra.run.dir={run_dir}")
    stopped = _terminate_after(args, run_dir / "checkpoints" / "last.ckpt", epoch=2)
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    lines = [line for line in stopped.stderr.splitlines() if line.startswith("scalegrid:")]
    assert len(lines) == 1 and lines[0].startswith("scalegrid: stopped by SIGTERM at epoch "), stopped.stderr[-2000:]
    assert "last.ckpt holds it; run the same command again to resume" in lines[0]
    assert "Traceback" not in stopped.stderr
    assert not (run_dir / RESULTS_FILE).exists()  # not finished: nothing claims it is
    assert folder_status(run_dir) == "stopped"  # and the folder says it was stopped, not killed
    assert (run_dir / STOPPED_NOTE).read_text().strip() == lines[0].removeprefix("scalegrid: ")

    resumed = run_train(args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not (run_dir / STOPPED_NOTE).exists()
    assert "resuming from" in resumed.stdout
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    assert results["status"] == "completed" and len(results["val_acc_history"]) == EPOCHS
    # csv/metrics.csv as an uninterrupted run writes it: every epoch's rows once, the test row once
    assert _csv_epochs(run_dir, "val/acc") == list(range(EPOCHS))
    assert _csv_epochs(run_dir, "train/acc") == list(range(EPOCHS))
    assert len(_csv_epochs(run_dir, "test/acc")) == 1


def test_a_terminated_grid_prints_its_summary_starts_no_further_cell_and_resumes(mnist_root, tmp_path) -> None:
    grid_dir = tmp_path / "grid"
    args = [
        "-m",
        "hydra=grid",
        *_args(mnist_root),
        "seed=0,1",
        f"hydra.sweep.dir={grid_dir}",
        "hydra.sweep.subdir=s${seed}",
    ]
    stopped = _terminate_after(args, grid_dir / "s0" / "checkpoints" / "last.ckpt", epoch=2)
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    summary = [line for line in stopped.stdout.splitlines() if line.startswith("[scalegrid] grid ")]
    assert len(summary) == 1 and "1 cells: 0 trained" in summary[0] and "1 stopped by SIGTERM" in summary[0]
    assert not (grid_dir / "s1").exists()  # the next cell was never started
    again = run_train(args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "2 cells: 2 trained" in again.stdout
    statuses = {path.parent.name: json.loads(path.read_text())["status"] for path in grid_dir.rglob(RESULTS_FILE)}
    assert statuses == {"s0": "completed", "s1": "completed"}
    assert _csv_epochs(grid_dir / "s0", "val/acc") == list(range(EPOCHS))


def test_sigint_still_stops_a_run_without_results(mnist_root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    process = start_train(_args(mnist_root, f"hydra.run.dir={run_dir}"))
    wait_for_checkpoint_epoch(process, run_dir / "checkpoints" / "last.ckpt", 0)
    os.kill(process.pid, signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode != 0 and not (run_dir / RESULTS_FILE).exists()
