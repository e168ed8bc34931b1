"""Killed runs resume: SIGKILL mid-epoch, run the same command again, get the uninterrupted run's numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_DATA, run_train, write_cifar10

from scalegrid import PROJECT_ROOT
from scalegrid.data.loader import TensorBatchLoader
from scalegrid.run.resume import capture_rng_states, restore_rng_states

# 580 training images in batches of 8: 73 steps an epoch, about 2 s each on a 2-core CPU with resnet18.
STEPS_PER_EPOCH = 73


@pytest.fixture(scope="module")
def resume_data(tmp_path_factory) -> Path:
    return write_cifar10(tmp_path_factory.mktemp("data"), train_per_class=60)


def _command(root: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        "model=resnet18",
        f"runtime.data.root={root}",
        *TINY_DATA,
        "data.batch_size=8",
        "trainer.max_epochs=2",
        "trainer.deterministic=true",
        "trainer.accelerator=cpu",
        "trainer.devices=1",
        "runtime.callbacks.progress_bar.refresh_rate=0",
        "runtime.threads=1",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def _kill_when(args: list[str], checkpoint: Path, ready, delay: float) -> None:
    """Start src/train.py, wait until ``ready(last.ckpt)`` holds, let it train ``delay`` s more, then SIGKILL it."""
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "src" / "train.py"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
    )
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if checkpoint.is_file():
                try:
                    if ready(torch.load(checkpoint, map_location="cpu", weights_only=True)):
                        break
                except Exception:  # caught between Lightning's write and rename: look again
                    pass
            time.sleep(0.05)
        time.sleep(delay)
        assert process.poll() is None, "the run finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(resume_data, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    completed = run_train(_command(resume_data, run_dir))
    assert completed.returncode == 0, completed.stderr[-2000:]
    return run_dir


@pytest.mark.parametrize(
    ("extra", "ready", "delay"),
    [
        # last.ckpt at the end of epoch 0 (at every epoch's end, whatever its length); killed half-way through epoch 1
        (
            ["runtime.callbacks.last_checkpoint.min_interval_s=0"],
            lambda checkpoint: checkpoint["global_step"] == STEPS_PER_EPOCH,
            1.0,
        ),
        # last.ckpt every 20 steps as well; killed right after the one at step 80, in the middle of epoch 1
        pytest.param(
            ["runtime.callbacks.step_checkpoint.every_n_train_steps=20"],
            lambda checkpoint: checkpoint["global_step"] == 80,
            0.3,
            marks=pytest.mark.slow,  # about a minute; `make test-slow`
        ),
    ],
    ids=["epoch_checkpoint", "step_checkpoint"],
)
def test_a_killed_run_resumes_to_the_uninterrupted_result(
    extra, ready, delay, resume_data, uninterrupted, tmp_path
) -> None:
    run_dir = tmp_path / "run"
    args = _command(resume_data, run_dir, *extra)
    _kill_when(args, run_dir / "checkpoints" / "last.ckpt", ready, delay)
    assert not (run_dir / "results.json").exists()  # killed: nothing claims to be finished
    stopped_at = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert stopped_at["global_step"] in (STEPS_PER_EPOCH, 80)

    resumed = run_train(args)  # the same command again
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming from {run_dir / 'checkpoints' / 'last.ckpt'}" in resumed.stdout
    expected = json.loads((uninterrupted / "results.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed"
    assert results["resumed_from"]["global_step"] == stopped_at["global_step"]
    assert results["test_acc"] == expected["test_acc"]
    assert results["test_loss"] == pytest.approx(expected["test_loss"], rel=1e-6)
    assert results["val_acc_history"] == expected["val_acc_history"]
    assert len(results["epoch_seconds"]) == 2  # the killed process's finished epochs are counted too
    for finished in (run_dir, uninterrupted):  # last.ckpt is refreshed every epoch, improved or not
        last = torch.load(finished / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert last["global_step"] == 2 * STEPS_PER_EPOCH
    final, reference = _final_weights(run_dir), _final_weights(uninterrupted)
    different = [key for key in reference if not torch.equal(final[key], reference[key])]
    assert different == []  # bit for bit: deterministic algorithms on a CPU


@pytest.mark.slow  # two real runs, about 20 s: the default suite is at its 10-minute budget
def test_a_different_configuration_does_not_resume(resume_data, tmp_path) -> None:
    run_dir = tmp_path / "run"
    args = _command(resume_data, run_dir, "trainer.max_epochs=1")
    assert run_train(args).returncode == 0
    (run_dir / "results.json").unlink()  # as if killed after the last checkpoint
    changed = run_train([*args, "optim.lr=0.5"])
    lines = changed.stderr.strip().splitlines()
    assert changed.returncode == 2 and len(lines) == 1, changed.stderr[-2000:]
    assert "holds an interrupted run made with another configuration (optim.lr: 0.05 -> 0.5)" in lines[0]
    assert not (run_dir / "results.json").exists()


def test_a_damaged_last_checkpoint_is_one_line(resume_data, tmp_path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 truncated")
    completed = run_train(_command(resume_data, run_dir))
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2 and len(lines) == 1, completed.stderr[-2000:]
    assert "last.ckpt cannot be read to resume this run" in lines[0] and "delete it" in lines[0]


def test_random_states_round_trip_through_a_weights_only_checkpoint(tmp_path) -> None:
    import random

    import numpy as np

    torch.manual_seed(3)
    states = capture_rng_states()
    torch.save({"states": states}, tmp_path / "states.pt")
    expected = (random.random(), np.random.rand(), torch.rand(3))
    restore_rng_states(torch.load(tmp_path / "states.pt", weights_only=True)["states"])
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert expected[0] == again[0] and expected[1] == again[1] and torch.equal(expected[2], again[2])


def test_the_batch_loader_continues_an_epoch_where_its_state_says() -> None:
    from scalegrid.data.arrays import ImageArrays

    arrays = ImageArrays(torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1), torch.arange(20), ("x",))
    loader = TensorBatchLoader(arrays, batch_size=4, shuffle=True, seed=1)
    loader.sampler.set_epoch(2)
    full = [labels.tolist() for _, labels in loader]
    iterator = iter(loader)
    next(iterator), next(iterator)
    state = loader.state_dict()
    assert state == {"epoch": 2, "served": 2}

    fresh = TensorBatchLoader(arrays, batch_size=4, shuffle=True, seed=1)
    fresh.load_state_dict(state)
    fresh.sampler.set_epoch(2)
    assert [labels.tolist() for _, labels in fresh] == full[2:]
    fresh.sampler.set_epoch(3)  # the skip applies to the interrupted epoch only
    assert len(list(fresh)) == 5
