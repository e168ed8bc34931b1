"""GPU defaults without a GPU: torch's CUDA queries replaced by a fake device, the real config and resolution code."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config

from scalegrid.contract.device_defaults import channels_last, default_precision, jobs_per_gpu, launcher_jobs
from scalegrid.contract.results import resolved_config

GIB = 2**30


@pytest.fixture
def fake_gpu(monkeypatch):
    """One CUDA device with bf16 and 100 GiB free (as torch would report an H100/H200 with room)."""
    state = {"bf16": True, "free": 100 * GIB, "count": 1}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: state["bf16"])
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=0: (state["free"], 140 * GIB))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: state["count"])
    return state


def test_on_a_gpu_precision_and_memory_format_default_to_the_fast_ones(fake_gpu, tmp_path):
    assert default_precision("auto") == default_precision("gpu") == "bf16-mixed"
    assert default_precision("cpu") == "32-true"  # a CPU run on a GPU machine
    fake_gpu["bf16"] = False
    assert default_precision("auto") == "32-true"  # a GPU without bf16 (before Ampere)
    assert channels_last("auto", "auto") is True and channels_last("auto", "cpu") is False
    assert channels_last(False, "gpu") is False  # the config says otherwise: it wins
    fake_gpu["bf16"] = True
    stored = resolved_config(compose_config([], output_dir=tmp_path))
    assert stored["trainer"]["precision"] == "bf16-mixed"  # stored as what ran: the cell's identity says so
    explicit = resolved_config(compose_config(["trainer.precision=32-true"], output_dir=tmp_path))
    assert explicit["trainer"]["precision"] == "32-true"


def test_on_a_cpu_auto_is_what_cells_always_were(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    stored = resolved_config(compose_config([], output_dir=tmp_path))
    assert stored["trainer"]["precision"] == "32-true"  # old CPU cells (32-true) keep their identity
    assert channels_last("auto", "auto") is False and jobs_per_gpu("auto") == 1 and launcher_jobs("auto") == 1


@pytest.mark.parametrize(("free_gib", "expected"), [(100, 4), (30, 3), (16, 2), (9, 1), (3, 1)])
def test_cells_per_gpu_follow_free_memory_up_to_four(fake_gpu, free_gib, expected):
    fake_gpu["free"] = free_gib * GIB
    assert jobs_per_gpu("auto") == expected and jobs_per_gpu(2) == 2  # a count as given wins
    fake_gpu["count"] = 2
    assert launcher_jobs("auto") == 2 * expected


def test_the_packing_launcher_composes_with_its_job_count(fake_gpu, tmp_path):
    cfg = compose_config(["hydra/launcher=gpu_pack", "trainer=gpu_per_job"], output_dir=tmp_path)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 4
    assert cfg.runtime.jobs_per_gpu == "auto" and cfg.runtime.claim_gpu is True
