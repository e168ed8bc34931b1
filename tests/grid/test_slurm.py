"""Grids on a real SLURM: a one-node cluster on this machine (tests/support/local-slurm.sh), the SLURM launcher
(hydra/launcher=slurm, through hydra-submitit-launcher) as a user runs it: a job array, a time limit that requeues a
cell, and ``scancel --signal=TERM``. Skipped, with the script's reason, where SLURM cannot be started here."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TINY_DATA, run_train, start_train, wait_for_checkpoint_epoch, write_mnist

from scalegrid import PROJECT_ROOT
from scalegrid.contract.results import RESULTS_FILE
from scalegrid.contract.run_folders import STOPPED_NOTE

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install -e .[cluster]")
pytestmark = pytest.mark.slow  # real SLURM jobs: a minute to start the cluster, minutes for the time-limit test

LOCAL_SLURM = PROJECT_ROOT / "tests" / "support" / "local-slurm.sh"


@pytest.fixture(scope="module")
def slurm() -> dict[str, str]:
    """A running one-node SLURM; the environment its commands (and the grid's sbatch) need."""
    started = subprocess.run(["bash", str(LOCAL_SLURM), "start"], capture_output=True, text=True, timeout=600)
    if started.returncode != 0:
        reason = started.stderr.strip().splitlines()[-1:] or [f"exit {started.returncode}"]
        pytest.skip(f"no SLURM here: {reason[0]}")
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in started.stdout.splitlines() if line.startswith("export ")
    )
    yield {**os.environ, **exports}
    subprocess.run(["bash", str(LOCAL_SLURM), "stop"], capture_output=True, timeout=60)


def _slurm_grid(root: Path, grid_dir: Path, *extra: str) -> list[str]:
    """A grid through hydra/launcher=slurm, sized for this node (no GPU, 1 core and 1 GB per job)."""
    return [
        "-m",
        "hydra=grid",
        "hydra/launcher=slurm",
        "hydra.launcher.gpus_per_node=0",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "data=mnist",
        "model=mnist_net",
        f"runtime.data.root={root}",
        f"hydra.sweep.dir={grid_dir}",
        "hydra.sweep.subdir=s${seed}",
        *TINY_DATA,
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "runtime.callbacks.progress_bar.refresh_rate=0",
        *extra,
    ]


def _statuses(grid_dir: Path) -> dict[str, str]:
    return {path.parent.name: json.loads(path.read_text())["status"] for path in grid_dir.rglob(RESULTS_FILE)}


def _csv_epochs(run_dir: Path, column: str) -> list[int]:
    with (run_dir / "csv" / "metrics.csv").open(newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle) if row.get(column)]


def _job_logs(grid_dir: Path) -> str:
    """submitit's job logs and the cells' own train.log, where a grid cell's output (requeue notes included) goes."""
    logs = sorted((grid_dir / ".submitit").rglob("*_log.*")) + sorted(grid_dir.rglob("train.log"))
    return "".join(path.read_text(errors="replace") for path in logs)


def test_a_grid_runs_as_a_slurm_job_array(slurm, mnist_root, tmp_path) -> None:
    grid_dir = tmp_path / "grid"
    completed = run_train(_slurm_grid(mnist_root, grid_dir, "trainer.max_epochs=1", "seed=0,1"), env=slurm, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert _statuses(grid_dir) == {"s0": "completed", "s1": "completed"}
    assert "2 cells on disk: 2 completed, 0 diverged, 0 failed, 0 unfinished" in completed.stdout
    (submission,) = (grid_dir / ".submitit").glob("*/*_submission.sh")
    assert "#SBATCH --array=0-1%" in submission.read_text()  # one sbatch, one array task per cell
    array_id = submission.parent.name
    tasks = {path.name for path in (grid_dir / ".submitit").iterdir() if path.name.startswith(f"{array_id}_")}
    assert tasks == {f"{array_id}_0", f"{array_id}_1"}
    assert f"JobEnvironment(job_id={array_id}_0," in _job_logs(grid_dir)  # SLURM ran them, as its array tasks


def test_a_cell_that_reaches_its_time_limit_is_requeued_and_resumes_with_its_whole_history(slurm, tmp_path) -> None:
    # SLURM sends its warning (submitit's USR2) signal_delay_s before the time limit, and up to 60 s earlier still:
    # at the first of its 30-s checks once 2 min - 30 s - 60 s have passed, i.e. 30 to 60 s into each job. With
    # timeout_min=1 it comes as the job starts (tried: ten requeues in a row, each 1-2 s in, before any training;
    # the settings check now refuses that). 300 epochs of 2,000 images take about 110 s here: at least two jobs.
    epochs = 300
    root = write_mnist(tmp_path / "data", train_per_class=200)
    grid_dir = tmp_path / "grid"
    args = _slurm_grid(
        root,
        grid_dir,
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=30",
        "hydra.launcher.max_num_timeout=8",
        f"trainer.max_epochs={epochs}",
        "seed=0",
    )
    completed = run_train(args, env=slurm, timeout=1200)
    assert completed.returncode == 0, completed.stderr[-3000:]
    logs = _job_logs(grid_dir)
    assert "Requeued job" in logs and "the job system warned that this job ends soon: stopped at epoch" in logs
    assert "resuming from" in logs
    run_dir = grid_dir / "s0"
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    assert results["status"] == "completed" and results["resumed_from"] is not None
    assert len(results["val_acc_history"]) == epochs
    # the history, as an uninterrupted run writes it: every epoch once
    assert _csv_epochs(run_dir, "val/acc") == list(range(epochs))
    assert _csv_epochs(run_dir, "train/acc") == list(range(epochs))
    assert len(_csv_epochs(run_dir, "test/acc")) == 1


def _running_job(env: dict[str, str], grid_dir: Path, deadline_s: float = 120) -> str:
    """This grid's SLURM job array, once one of its tasks runs: found by the array id submitit files its submission
    under (``.submitit/<array id>/``), never by whatever squeue lists first (a job of an earlier test can still be
    listed, and scancel then names a job that has ended: ``Invalid job id specified``)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        submitted = [path.name for path in (grid_dir / ".submitit").glob("*") if path.name.isdigit()]
        for array_id in submitted:
            jobs = subprocess.run(
                ["squeue", "-h", "-t", "R", "-j", array_id, "-o", "%i"], capture_output=True, text=True, env=env
            )
            if jobs.stdout.split():
                return array_id
        time.sleep(0.5)
    raise AssertionError(f"no SLURM job of {grid_dir} started")


def test_scancel_signal_term_ends_the_cell_as_stopped_and_a_rerun_resumes_it(slurm, mnist_root, tmp_path) -> None:
    epochs = 40
    grid_dir = tmp_path / "grid"
    args = _slurm_grid(
        mnist_root,
        grid_dir,
        f"trainer.max_epochs={epochs}",
        "runtime.callbacks.last_checkpoint.min_interval_s=0",
        "seed=0",
    )
    grid = start_train(args, env=slurm)
    job = _running_job(slurm, grid_dir)
    wait_for_checkpoint_epoch(grid, grid_dir / "s0" / "checkpoints" / "last.ckpt", 2)
    subprocess.run(["scancel", "--signal=TERM", job], check=True, env=slurm)
    stdout, stderr = grid.communicate(timeout=300)
    assert grid.returncode == 143, stderr[-3000:]  # the grid command says what a scheduler must know: not a success
    summary = [line for line in stdout.splitlines() if line.startswith("[scalegrid] grid ")]
    assert len(summary) == 1 and "0 completed" in summary[0] and "1 stopped by SIGTERM" in summary[0], stdout[-2000:]
    run_dir = grid_dir / "s0"
    assert not (run_dir / RESULTS_FILE).exists()
    note = (run_dir / STOPPED_NOTE).read_text()
    assert note.startswith("stopped by SIGTERM at epoch ") and "last.ckpt holds it" in note

    again = run_train(args, env=slurm, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _statuses(grid_dir) == {"s0": "completed"}
    assert not (run_dir / STOPPED_NOTE).exists()
    assert _csv_epochs(run_dir, "val/acc") == list(range(epochs))
    assert "resuming from" in _job_logs(grid_dir)
