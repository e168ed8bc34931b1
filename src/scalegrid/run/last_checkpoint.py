"""``last.ckpt``, what a re-run resumes from, written on a time rule rather than at every epoch's end.

The rule: at the end of an epoch when at least ``min_interval_s`` seconds have passed since ``last.ckpt`` was last
written (or since training began), always at the end of the last epoch (and at the end of the fit, should the
fit end early), and when the run is stopped by SIGTERM (what a scheduler sends before it kills a job). So long epochs
write it at every epoch's end, as Lightning's ``every_n_epochs=1`` would, while a run of one-second epochs writes it
about once a minute instead of every second: a run killed at any moment loses at most ``min_interval_s`` of training
and the epoch in progress. ``min_interval_s: 0`` writes it at every epoch's end.

Not Lightning's ``train_time_interval``: that writes in the middle of an epoch, never at the end of the fit, and
cannot be combined with ``every_n_epochs``.
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException


class LastCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint (``monitor: null``, one file) whose epoch-end writes follow the rule above."""

    def __init__(self, min_interval_s: float = 60.0, **options: Any) -> None:
        super().__init__(**options)
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s={min_interval_s} must be 0 or more")
        self.min_interval_s = float(min_interval_s)
        self._written_at = time.monotonic()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._written_at = time.monotonic()  # the interval counts training time, not the start-up before it

    def _due(self, trainer: pl.Trainer) -> bool:
        return time.monotonic() - self._written_at >= self.min_interval_s or _last_epoch(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._due(trainer):
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._due(trainer):
            super().on_validation_end(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if self._last_global_step_saved != trainer.global_step:  # the fit ended before the epoch count said so
            self.write_now(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException) and self._last_global_step_saved != trainer.global_step:
            self.write_now(trainer)  # Lightning stopped at a batch boundary: the state is consistent

    def write_now(self, trainer: pl.Trainer) -> None:
        if trainer.fast_dev_run or trainer.sanity_checking or self.dirpath is None:
            return
        self._save_topk_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        super()._save_checkpoint(trainer, filepath)
        self._written_at = time.monotonic()


def _last_epoch(trainer: pl.Trainer) -> bool:
    """Whether the epoch ending now is the fit's last: by the epoch count, the step budget, or a requested stop."""
    epochs_done = trainer.current_epoch + 1 >= trainer.max_epochs if trainer.max_epochs not in (None, -1) else False
    steps_done = trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps
    return epochs_done or steps_done or trainer.should_stop
