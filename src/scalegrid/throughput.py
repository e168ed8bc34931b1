"""Training throughput and epoch times: images per second over the training batches only (validation excluded)."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl


class TrainThroughput(pl.Callback):
    """Counts training images, the seconds spent in the training part of each epoch, and each epoch's wall time."""

    def __init__(self) -> None:
        self.images = 0
        self.seconds = 0.0
        self.train_epoch_seconds: list[float] = []  # training batches of each epoch
        self.epoch_seconds: list[float] = []  # each epoch from start to end, validation included
        self._started: float | None = None
        self._epoch_started: float | None = None
        self._epoch_train = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = self._epoch_started = time.perf_counter()
        self._epoch_train = 0.0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.images += len(batch[1])

    def _stop(self) -> None:
        if self._started is not None:
            elapsed = time.perf_counter() - self._started
            self.seconds += elapsed
            self._epoch_train += elapsed
            self._started = None

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop()  # a no-op outside a training epoch (sanity check, stand-alone validation)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop()
        if self._epoch_started is not None:
            self.epoch_seconds.append(time.perf_counter() - self._epoch_started)
            self.train_epoch_seconds.append(self._epoch_train)
            self._epoch_started = None

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0
