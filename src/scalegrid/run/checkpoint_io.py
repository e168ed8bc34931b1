"""How Lightning's checkpoint files are written and read in a run: timed, and a full disk said in one line.

Every write and read is charged to the run's ``checkpointing`` phase (``time_breakdown``). A write that fails because
the disk, the quota or a file-size limit is full (ENOSPC, EDQUOT, EFBIG) ends the run with one line naming the file
and about how much space it needed; Lightning writes through a temporary file and a rename, so the previous
checkpoint stays whole and a re-run resumes from it once there is room.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from scalegrid.errors import ScalegridError
from scalegrid.run.time_breakdown import PhaseClock

FULL = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up"}
FULL[errno.EFBIG] = "the file is larger than this process may write (ulimit -f)"


def tensor_bytes(tree: Any) -> int:
    """The bytes of every tensor in a nested checkpoint: about the size of its file."""
    if isinstance(tree, torch.Tensor):
        return tree.numel() * tree.element_size()
    if isinstance(tree, dict):
        return sum(tensor_bytes(value) for value in tree.values())
    if isinstance(tree, list | tuple):
        return sum(tensor_bytes(value) for value in tree)
    return 0


class RunCheckpointIO(TorchCheckpointIO):
    """Lightning's own checkpoint files, timed, with a full disk as one line."""

    def __init__(self, clock: PhaseClock) -> None:
        super().__init__()
        self.clock = clock

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        with self.clock.phase("checkpointing"):
            try:
                super().save_checkpoint(checkpoint, path, storage_options)
            except OSError as error:
                reason = FULL.get(error.errno)
                if reason is None:
                    raise
                needed = tensor_bytes(checkpoint) / 1e6
                previous = "the previous checkpoint is intact, so" if Path(path).is_file() else "then"
                raise ScalegridError(
                    f"cannot write checkpoint {path} ({reason}; it needs about {needed:,.0f} MB): free space or "
                    f"choose another output folder (runtime.paths.log_dir=...); {previous} running the same command again "
                    "resumes"
                ) from None

    def load_checkpoint(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        with self.clock.phase("checkpointing"):
            return super().load_checkpoint(path, *args, **kwargs)

    def remove_checkpoint(self, path: Any) -> None:
        with self.clock.phase("checkpointing"):
            super().remove_checkpoint(path)
