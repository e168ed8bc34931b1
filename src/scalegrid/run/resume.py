"""Resuming an interrupted run exactly where it stopped, and only with the configuration that started it.

Every checkpoint carries the run's resolved config and the random-number states of Python, NumPy and torch. When
the same command runs again in the same run directory, training continues from ``last.ckpt``: the model, optimiser,
scheduler, loops and loader position come back through Lightning, and the random states through
:class:`ResumableRun`, so augmentation and dropout draw what the uninterrupted run would have drawn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from scalegrid.contract.config_versions import CONFIG_VERSION, migrate
from scalegrid.contract.identity import describe_differences, identity_differences
from scalegrid.errors import ScalegridError

LAST_CHECKPOINT = "last.ckpt"
CHECKPOINT_KEY = "scalegrid"  # our entry in a Lightning checkpoint: {"config", "config_version", "rng_states", ...}


def capture_rng_states() -> dict[str, Any]:
    """Every random state a training step may draw from, as plain data and tensors (loadable with weights_only)."""
    numpy_state = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *numpy_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    python_state = states["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ResumableRun(pl.Callback):
    """Writes the run's config, random states and training-loader position into each checkpoint; puts the states
    and the position back when training resumes.

    They are put back when training starts: after Lightning's sanity validation, which must not shift what the
    training batches draw, and before the first training batch is drawn. (``on_train_epoch_start`` would be too
    late: Lightning skips it for an epoch that resumes in its middle.)

    The loader position is restored here rather than by Lightning's own stateful-loader support: Lightning loads
    it only when it builds the training loader after the restore, but ``configure_optimizers`` asks for
    ``trainer.estimated_stepping_batches`` (the schedulers' length), which builds the loader before it.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._restore: dict[str, Any] = {}

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        loader = trainer.train_dataloader
        checkpoint[CHECKPOINT_KEY] = {
            "config": self.config,
            "config_version": CONFIG_VERSION,
            "rng_states": capture_rng_states(),
            "train_loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
        }

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self._restore = dict(checkpoint.get(CHECKPOINT_KEY) or {})

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        restore, self._restore = self._restore, {}
        if restore.get("rng_states") is not None:
            restore_rng_states(restore["rng_states"])
        loader = trainer.train_dataloader
        if restore.get("train_loader") is not None and hasattr(loader, "load_state_dict"):
            loader.load_state_dict(restore["train_loader"])


@dataclass(frozen=True)
class ResumePoint:
    """Where an interrupted run stopped: its ``last.ckpt``, the epoch it was in and the optimiser steps taken."""

    checkpoint: Path
    epoch: int
    global_step: int

    def describe(self) -> str:
        return f"{self.checkpoint} (epoch {self.epoch}, step {self.global_step})"


def find_resume_point(checkpoint_dir: Path | None, config: dict[str, Any]) -> ResumePoint | None:
    """The ``last.ckpt`` of an earlier attempt at this run, checked to be readable and made with ``config``.

    Raises when the file is damaged or belongs to another configuration: continuing either would give a number
    that no single configuration produced.
    """
    if checkpoint_dir is None:
        return None
    path = Path(checkpoint_dir) / LAST_CHECKPOINT
    if not path.is_file():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        epoch, global_step = int(checkpoint["epoch"]), int(checkpoint["global_step"])
    except Exception as error:  # truncated, not a zip, not a Lightning checkpoint
        reason = (str(error).splitlines() or [type(error).__name__])[0][:120]
        raise ScalegridError(
            f"{path} cannot be read to resume this run ({reason}): delete it to start the run over"
        ) from None
    ours = checkpoint.get(CHECKPOINT_KEY) or {}
    if ours.get("config") is not None:
        changed = identity_differences(migrate(ours["config"], ours.get("config_version")), config)
        if changed:
            raise ScalegridError(
                f"{path.parent.parent} holds an interrupted run made with another configuration "
                f"({describe_differences(changed)}): "
                f"run the same command as before to resume it, or delete {path} to start over with these settings"
            )
    return ResumePoint(path, epoch, global_step)
