"""Speed settings that do not change what is computed: CPU threads per run, memory format, compilation."""

from __future__ import annotations

import os

import torch
from hydra.core.hydra_config import HydraConfig

from scalegrid.errors import ScalegridError


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def parallel_jobs() -> int:
    """How many runs of this sweep the Hydra launcher runs at once on this machine (1 for the basic launcher)."""
    if not HydraConfig.initialized():
        return 1
    n_jobs = HydraConfig.get().launcher.get("n_jobs")
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    return available_cores() if n_jobs < 0 else max(1, n_jobs)  # joblib: -1 means one job per core


def torch_threads(configured: int | None, cores: int, jobs: int) -> int:
    """``configured`` when set, else the cores shared evenly among the jobs running at once (at least one each)."""
    if configured is not None:
        if int(configured) < 1:
            raise ScalegridError(f"threads={configured} must be at least 1 (or null: the cores divided among jobs)")
        return int(configured)
    return max(1, cores // max(1, jobs))


def set_torch_threads(configured: int | None) -> int:
    """Set torch's intra-op threads for this run; returns the number chosen."""
    threads = torch_threads(configured, available_cores(), parallel_jobs())
    torch.set_num_threads(threads)
    return threads
