"""The GPU defaults a user gets without knowing them: precision, memory format, and how many cells share a GPU.

``trainer.precision: auto`` is bf16-mixed where the run trains on a GPU that has bf16 (Ampere and later), else
32-true, and is stored as that value, so the cell's identity says what ran: a CPU cell is 32-true, as before ``auto``
existed. ``runtime.channels_last: auto`` is the channels-last memory format on a GPU and the plain one on a CPU.
``runtime.jobs_per_gpu: auto`` packs small cells onto one GPU when a launcher runs several at once
(``trainer=gpu_per_job``, ``hydra/launcher=gpu_pack``): one cell per 8 GiB of the GPU's free memory, at most 4 (four
10,000-image CIFAR-10 cells at once gave 3.3x the runs per hour of one at a time on an H100; docs/performance.md).
"""

from __future__ import annotations

from typing import Any

AUTO = "auto"
GIB_PER_CELL = 8  # free GPU memory a small cell is given when packing (a ResNet-18 on CIFAR-10 at batch 512 needs ~3)
MOST_CELLS_PER_GPU = 4  # beyond four, the measured runs per hour stopped growing (issue 19's figures)


def trains_on_gpu(accelerator: Any) -> bool:
    """Whether a run with ``trainer.accelerator`` trains on a CUDA GPU on this machine."""
    import torch

    if str(accelerator) in ("gpu", "cuda"):
        return True
    return str(accelerator) == AUTO and torch.cuda.is_available()


def default_precision(accelerator: Any) -> str:
    """bf16-mixed on a GPU that supports bf16, else 32-true."""
    import torch

    if trains_on_gpu(accelerator) and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def resolve_precision(config: dict[str, Any]) -> None:
    """``trainer.precision: auto`` in a resolved config replaced, in place, by what this machine runs."""
    trainer = config.get("trainer")
    if isinstance(trainer, dict) and trainer.get("precision") == AUTO:
        trainer["precision"] = default_precision(trainer.get("accelerator", AUTO))


def channels_last(setting: Any, accelerator: Any) -> bool:
    """``runtime.channels_last``: true, false, or auto (true on a GPU)."""
    if setting == AUTO:
        return trains_on_gpu(accelerator)
    return bool(setting)


def jobs_per_gpu(setting: Any, free_bytes: int | None = None) -> Any:
    """``runtime.jobs_per_gpu``: a count as given, or auto: one cell per 8 GiB free on GPU 0, 1 to 4."""
    if setting != AUTO:
        return setting
    if free_bytes is None:
        import torch

        if not torch.cuda.is_available():
            return 1
        free_bytes, _ = torch.cuda.mem_get_info(0)
    return max(1, min(MOST_CELLS_PER_GPU, int(free_bytes // (GIB_PER_CELL * 2**30))))


def launcher_jobs(setting: Any) -> int:
    """``hydra/launcher=gpu_pack``'s n_jobs: every GPU's slots (jobs_per_gpu each); 1 where torch sees no GPU."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return max(1, count * int(jobs_per_gpu(setting)))
