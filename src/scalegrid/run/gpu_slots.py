"""One GPU per job when a launcher runs several grid cells at once on a multi-GPU machine.

``runtime.claim_gpu=true`` (``trainer=gpu_per_job``): each run claims the first GPU that no other run on this
machine holds, with the same kind of ``flock`` as the run-directory lock, and trains on it alone. The operating system
releases a claim when its process ends in any way; a launcher's worker that goes on to its next cell releases it
when the run returns.
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


@contextmanager
def claim_free_gpu(count: int, folder: Path | None = None) -> Iterator[int]:
    """Hold the first of ``count`` GPU slots nobody else holds; yield its index."""
    if count < 1:
        raise ScalegridError(
            "runtime.claim_gpu=true (trainer=gpu_per_job) needs a GPU and torch sees none: use trainer=default or trainer=cpu"
        )
    folder = folder or slot_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        handle = open(folder / f"gpu{index}.lock", "a")  # noqa: SIM115 - held open while the run trains
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield index
        finally:
            with suppress(OSError):
                handle.close()
        return
    raise ScalegridError(
        f"all {count} GPUs are claimed by other scalegrid runs on this machine: run at most {count} jobs at once "
        "(hydra.launcher.n_jobs)"
    )
