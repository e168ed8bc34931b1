"""A NaN or infinite training loss stops the run at once, as `status: diverged`, and a grid goes on."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import FAST_TRAINER, TINY_DATA, run_train
from omegaconf import OmegaConf

from scalegrid import CONF_DIR
from scalegrid.contract.results import RESULTS_FILE

DIVERGING_LR = "optim.lr=1e30"  # the first step sends the weights to infinity; the next loss is NaN


def _mnist(root) -> list[str]:
    return ["data=mnist", "model=mnist_net", f"runtime.data.root={root}", *TINY_DATA, *FAST_TRAINER]


def test_a_diverging_run_stops_at_once_with_one_line(mnist_root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    args = [*_mnist(mnist_root), DIVERGING_LR, "sched=none", "runtime.finite_check_every_n_steps=1"]
    completed = run_train([*args, f"hydra.run.dir={run_dir}"])
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.startswith("scalegrid:")]  # besides warnings
    assert len(lines) == 1 and lines[0].startswith("scalegrid: diverged: the training loss became nan at epoch 0, ")
    assert str(run_dir / RESULTS_FILE) in lines[0] and "lower optim.lr" in lines[0]
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    assert results["status"] == "diverged" and results["test_acc"] is None
    assert results["global_step"] < 6  # stopped within the first epoch (6 batches), not at its end
    assert results["error"] in lines[0]
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()  # no epoch finished, so nothing to resume from


def test_the_check_can_be_spaced_out_and_still_catches_it(mnist_root, tmp_path) -> None:
    """Checked every 4 steps: the running loss sum keeps the NaN, so the check at step 4 still sees it."""
    run_dir = tmp_path / "run"
    args = [*_mnist(mnist_root), DIVERGING_LR, "sched=none", "runtime.finite_check_every_n_steps=4"]
    completed = run_train([*args, f"hydra.run.dir={run_dir}"])
    assert completed.returncode == 1, completed.stderr[-2000:]
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    assert results["status"] == "diverged" and "by batch 3 (checked every 4 steps" in results["error"]
    assert results["global_step"] == 3  # steps 0-2 ran on; the check at the fourth stopped it before its update


def test_with_the_default_spacing_a_nan_run_still_ends_diverged_within_n_steps(mnist_root, tmp_path) -> None:
    """The default checks less often than every step (a GPU waits at each check); the epoch-end check and the check
    every N steps together still end the run as diverged, within N steps of the first NaN."""
    default = OmegaConf.load(CONF_DIR / "train.yaml").runtime.finite_check_every_n_steps
    assert default > 1
    run_dir = tmp_path / "run"
    completed = run_train([*_mnist(mnist_root), DIVERGING_LR, "sched=none", f"hydra.run.dir={run_dir}"])
    assert completed.returncode == 1, completed.stderr[-2000:]
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    assert results["status"] == "diverged" and results["test_acc"] is None
    assert results["global_step"] <= default and results["epochs"] == 0  # the first epoch (6 batches) ends it


@pytest.mark.slow  # a real 2-cell grid, about 15 s: the default suite is at its 10-minute budget
def test_a_grid_goes_on_past_a_diverged_cell_and_keeps_it(mnist_root, tmp_path) -> None:
    grid_dir = tmp_path / "grid"
    args = [
        "-m",
        "hydra=grid",
        *_mnist(mnist_root),
        "sched=none",
        "optim.lr=0.05,1e30",
        f"hydra.sweep.dir={grid_dir}",
        "hydra.sweep.subdir=lr${optim.lr}",
    ]
    first = run_train(args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "2 cells: 1 trained, 0 skipped (already finished), 1 diverged, 0 failed" in first.stdout
    statuses = {path.parent.name: json.loads(path.read_text())["status"] for path in grid_dir.rglob(RESULTS_FILE)}
    assert statuses == {"lr0.05": "completed", "lr1e+30": "diverged"}
    assert torch.isfinite(torch.tensor(json.loads((grid_dir / "lr0.05" / RESULTS_FILE).read_text())["test_loss"]))

    again = run_train(args)  # a diverged cell is a result: the next invocation keeps it
    assert "2 cells: 0 trained, 2 skipped (already finished), 0 diverged, 0 failed" in again.stdout
