"""trainer=gpu_per_job: concurrent runs on one machine claim different GPUs; a dead run's GPU is free again."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
import torch
from conftest import FAST_TRAINER, TINY_DATA, run_train

from scalegrid.errors import ScalegridError
from scalegrid.run.gpu_slots import claim_free_gpu

HOLD_A_GPU = (
    "import sys, time; from pathlib import Path; from scalegrid.run.gpu_slots import claim_free_gpu\n"
    "with claim_free_gpu(2, Path(sys.argv[1])) as gpu:\n    print(gpu, flush=True); time.sleep(120)\n"
)


def test_concurrent_runs_claim_different_gpus_and_a_killed_run_frees_its_own(tmp_path: Path) -> None:
    first = subprocess.Popen([sys.executable, "-c", HOLD_A_GPU, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    second = subprocess.Popen([sys.executable, "-c", HOLD_A_GPU, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        claimed = sorted(int(process.stdout.readline()) for process in (first, second))
        assert claimed == [0, 1]
        with pytest.raises(ScalegridError, match="all 2 GPUs are claimed"):
            with claim_free_gpu(2, tmp_path):
                pass
        first.kill()
        first.wait()
        with claim_free_gpu(2, tmp_path) as gpu:  # whichever the killed process held
            assert gpu in (0, 1)
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without GPUs")
def test_gpu_per_job_without_a_gpu_is_one_line(mnist_root: Path, tmp_path: Path) -> None:
    fast = [arg for arg in FAST_TRAINER if not arg.startswith(("trainer.accelerator", "trainer.devices"))]
    args = ["data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}", *TINY_DATA, *fast]
    completed = run_train([*args, "trainer=gpu_per_job", f"hydra.run.dir={tmp_path / 'run'}"])
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2 and len(lines) == 1, completed.stderr[-2000:]
    assert "runtime.claim_gpu=true (trainer=gpu_per_job) needs a GPU and torch sees none" in lines[0]


def test_jobs_per_gpu_claims_are_exclusive_up_to_n_per_device_and_spread_first(tmp_path: Path) -> None:
    """Two fake GPUs with two slots each: four claims spread over both GPUs first; a fifth is refused."""
    with ExitStack() as held:
        claimed = [held.enter_context(claim_free_gpu(2, tmp_path, jobs_per_gpu=2)) for _ in range(4)]
        assert claimed == [0, 1, 0, 1]
        with pytest.raises(ScalegridError, match=r"all 2 GPUs x 2 runs per GPU .* run at most 4 jobs at once"):
            held.enter_context(claim_free_gpu(2, tmp_path, jobs_per_gpu=2))
    with claim_free_gpu(2, tmp_path, jobs_per_gpu=2) as gpu:  # all released: the first slot again
        assert gpu == 0


def test_a_run_that_fails_releases_its_slot(tmp_path: Path) -> None:
    with claim_free_gpu(1, tmp_path, jobs_per_gpu=2):
        with pytest.raises(RuntimeError, match="out of memory"):
            with claim_free_gpu(1, tmp_path, jobs_per_gpu=2) as gpu:
                assert gpu == 0
                raise RuntimeError("CUDA out of memory")
        with claim_free_gpu(1, tmp_path, jobs_per_gpu=2) as again:  # the failed run's slot is free again
            assert again == 0
            with pytest.raises(ScalegridError, match="all 1 GPUs x 2 runs per GPU"):
                with claim_free_gpu(1, tmp_path, jobs_per_gpu=2):
                    pass


def test_slots_held_by_other_processes_count(tmp_path: Path) -> None:
    hold = HOLD_A_GPU.replace(
        "claim_free_gpu(2, Path(sys.argv[1]))", "claim_free_gpu(1, Path(sys.argv[1]), jobs_per_gpu=2)"
    )
    other = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert int(other.stdout.readline()) == 0
        with claim_free_gpu(1, tmp_path, jobs_per_gpu=2) as gpu:  # the second slot of the same GPU
            assert gpu == 0
            with pytest.raises(ScalegridError, match="claimed by other scalegrid runs"):
                with claim_free_gpu(1, tmp_path, jobs_per_gpu=2):
                    pass
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", True])
def test_jobs_per_gpu_must_be_a_whole_number_of_at_least_one(value, tmp_path: Path) -> None:
    with pytest.raises(ScalegridError, match=r"runtime.jobs_per_gpu=.* must be a whole number of at least 1"):
        with claim_free_gpu(1, tmp_path, jobs_per_gpu=value):
            pass
