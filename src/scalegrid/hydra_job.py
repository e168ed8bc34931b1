"""The Hydra job this process runs: whether it is one cell of a sweep, its overrides, its DDP rank."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def current_overrides() -> list[str]:
    """The overrides of this job as typed (moved keys already renamed by the entry point)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def process_rank() -> int:
    """This process's global rank as the launcher set it in the environment (0 outside DDP)."""
    from pytorch_lightning.utilities import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)
