"""Training throughput and epoch times: images per second over the training batches only (validation excluded).

On a GPU the clock stops after the device has finished the epoch's queued steps (one wait per epoch), so the time
of the last steps is not charged to the validation that follows."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
import torch


class TrainThroughput(pl.Callback):
    """Counts training images, the seconds spent in the training part of each epoch, and each epoch's wall time.

    Its state travels in checkpoints, with the epoch in progress, so a resumed run reports the epochs of every
    attempt. Lightning saves the end-of-epoch checkpoint before ``on_train_epoch_end``, so that epoch is still
    "in progress" in the file; on resume it is counted as finished when training goes on with the next epoch.
    """

    def __init__(self) -> None:
        self.images = 0
        self.seconds = 0.0
        self.train_epoch_seconds: list[float] = []  # training batches of each epoch
        self.epoch_seconds: list[float] = []  # each epoch from start to end, validation included
        self._epoch = 0
        self._started: float | None = None
        self._epoch_started: float | None = None
        self._epoch_train = 0.0
        self._in_progress: dict[str, Any] | None = None  # the epoch a checkpoint caught unfinished

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch = trainer.current_epoch
        self._started = self._epoch_started = time.perf_counter()
        self._epoch_train = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.on_train_epoch_start(trainer, pl_module)  # a run resumed mid-epoch gets no on_train_epoch_start
        caught, self._in_progress = self._in_progress, None
        if caught is None:
            return
        if caught["epoch"] < trainer.current_epoch:  # the checkpoint was taken at that epoch's end
            self.epoch_seconds.append(caught["elapsed"])
            self.train_epoch_seconds.append(caught["train"])
        elif caught["epoch"] == trainer.current_epoch:  # resumed inside it: its clock goes on
            self._epoch_started -= caught["elapsed"]
            self._epoch_train = caught["train"]

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.images += len(batch[1])

    def _stop(self, pl_module: pl.LightningModule) -> None:
        if self._started is not None:
            if pl_module.device.type == "cuda":  # the queued steps belong to this epoch, not to what follows
                torch.cuda.synchronize(pl_module.device)
            elapsed = time.perf_counter() - self._started
            self.seconds += elapsed
            self._epoch_train += elapsed
            self._started = None

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop(pl_module)  # a no-op outside a training epoch (sanity check, stand-alone validation)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop(pl_module)
        if self._epoch_started is not None:
            self.epoch_seconds.append(time.perf_counter() - self._epoch_started)
            self.train_epoch_seconds.append(self._epoch_train)
            self._epoch_started = None

    def state_dict(self) -> dict[str, Any]:
        now = time.perf_counter()
        running = now - self._started if self._started is not None else 0.0
        return {
            "images": self.images,
            "seconds": self.seconds + running,
            "train_epoch_seconds": list(self.train_epoch_seconds),
            "epoch_seconds": list(self.epoch_seconds),
            "in_progress": None
            if self._epoch_started is None
            else {"epoch": self._epoch, "elapsed": now - self._epoch_started, "train": self._epoch_train + running},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.images = int(state_dict["images"])
        self.seconds = float(state_dict["seconds"])
        self.train_epoch_seconds = list(state_dict["train_epoch_seconds"])
        self.epoch_seconds = list(state_dict["epoch_seconds"])
        self._in_progress = state_dict.get("in_progress")

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0
