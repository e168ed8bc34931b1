"""trainer=gpu_per_job: concurrent runs on one machine claim different GPUs; a dead run's GPU is free again."""

from __future__ import annotations

import subprocess
import sys
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
