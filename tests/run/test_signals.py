"""SIGTERM, what a scheduler sends before it kills a job: a stopped run, never a success, and nothing lost."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TINY_DATA, run_train, start_train, wait_for_checkpoint_epoch, write_mnist

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


@pytest.mark.parametrize(
    ("delay_s", "stopped_where"),
    [
        (0.0, ("outside training: ", "while testing")),  # as the best checkpoint is restored: before Lightning's loop
        (2.0, ("while testing, training done (1 epoch): ",)),  # in the test loop
    ],
)
def test_sigterm_after_training_is_a_stop_too_and_the_same_command_tests_again(tmp_path, delay_s, stopped_where):
    """The test loop stops on SIGTERM with Lightning's SystemExit without a code (it was an exit status of 0), and
    outside Lightning's loops the signal's default action ended the process without a word."""
    root = write_mnist(tmp_path / "data", test_per_class=5000)  # 50,000 test images: seconds of testing
    run_dir = tmp_path / "run"
    args = [*_args(root, f"hydra.run.dir={run_dir}")]
    args[args.index(f"trainer.max_epochs={EPOCHS}")] = "trainer.max_epochs=1"
    process = start_train(args)
    for line in process.stdout:  # Lightning logs this as the test starts from the best checkpoint
        if "Restoring states from the checkpoint path" in line:
            break
    time.sleep(delay_s)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.startswith("scalegrid:")]
    assert len(lines) == 1 and lines[0].startswith(tuple(f"scalegrid: stopped by SIGTERM {w}" for w in stopped_where))
    assert "last.ckpt holds it; run the same command again to " in lines[0]
    assert "Traceback" not in stderr
    assert not (run_dir / RESULTS_FILE).exists() and folder_status(run_dir) == "stopped"

    again = run_train(args)
    assert again.returncode == 0, again.stderr[-2000:]
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    assert results["status"] == "completed" and len(results["val_acc_history"]) == 1
    assert len(_csv_epochs(run_dir, "test/acc")) == 1
