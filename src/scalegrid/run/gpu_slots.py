"""GPU slots when a launcher runs several grid cells at once on one machine: up to N runs per GPU.

``runtime.claim_gpu=true`` (``trainer=gpu_per_job``): each run claims a free slot, ``runtime.jobs_per_gpu`` of them
per GPU, with the same kind of ``flock`` as the run-directory lock, and trains on that slot's GPU. Slots are handed
out across GPUs first (every GPU's first slot, then every second slot), so runs spread over the GPUs before they
share one. The operating system releases a claim when its process ends in any way; a launcher's worker that goes
on to its next cell releases it when the run returns, or raises.

Small cells leave most of a large GPU idle: on an H100, four 10,000-image CIFAR-10 runs started at once finished in
27 s against about 90 s one after another (issue 19), so ``jobs_per_gpu`` > 1 trades a little per-run speed for
several times the runs per hour. Memory is the limit: N runs need N times one run's GPU memory.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from scalegrid.errors import ScalegridError


def slot_folder() -> Path:
    """Where the claims live: one folder per machine user, shared by every scalegrid process on the machine."""
    return Path(os.environ.get("SCALEGRID_GPU_SLOTS", Path(tempfile.gettempdir()) / f"scalegrid-gpus-{os.getuid()}"))


def slot_file(folder: Path, gpu: int, slot: int) -> Path:
    """The lock file of one slot; the first slot of a GPU keeps the name one-run-per-GPU claims always had."""
    return folder / (f"gpu{gpu}.lock" if slot == 0 else f"gpu{gpu}.slot{slot}.lock")


def check_jobs_per_gpu(jobs_per_gpu: object) -> int:
    if isinstance(jobs_per_gpu, bool) or not isinstance(jobs_per_gpu, int) or jobs_per_gpu < 1:
        raise ScalegridError(
            f"runtime.jobs_per_gpu={jobs_per_gpu!r} must be a whole number of at least 1 (the runs that may share "
            "one GPU at once)"
        )
    return jobs_per_gpu


@contextmanager
def claim_free_gpu(count: int, folder: Path | None = None, jobs_per_gpu: int = 1) -> Iterator[int]:
    """Hold the first of ``count`` x ``jobs_per_gpu`` slots nobody else holds; yield its GPU's index."""
    jobs_per_gpu = check_jobs_per_gpu(jobs_per_gpu)
    if count < 1:
        raise ScalegridError(
            "runtime.claim_gpu=true (trainer=gpu_per_job) needs a GPU and torch sees none: use trainer=default or trainer=cpu"
        )
    folder = folder or slot_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for slot in range(jobs_per_gpu):
        for gpu in range(count):
            handle = open(slot_file(folder, gpu, slot), "a")  # noqa: SIM115 - held open while the run trains
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield gpu
            finally:
                with suppress(OSError):
                    handle.close()
            return
    per_gpu = "" if jobs_per_gpu == 1 else f" x {jobs_per_gpu} runs per GPU (runtime.jobs_per_gpu)"
    raise ScalegridError(
        f"all {count} GPUs{per_gpu} are claimed by other scalegrid runs on this machine: run at most "
        f"{count * jobs_per_gpu} jobs at once (hydra.launcher.n_jobs)"
    )
