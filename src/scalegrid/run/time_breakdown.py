"""Where a run's wall time goes, from entering the run to writing its results.

A :class:`PhaseClock` charges every moment to the innermost open phase, so nested phases never count twice: the
Trainer's fit is the phase ``lightning`` (its loops, hooks and epoch-end logging) until a callback opens ``train``,
``validation`` or ``test`` around the steps, and the checkpoint plugin (``checkpoint_io.RunCheckpointIO``) opens
``checkpointing`` around every file it writes or reads. Time outside any phase is ``unattributed``. The breakdown
goes into ``results.json`` (``time_breakdown``) and the grid's summary line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytorch_lightning as pl


class PhaseClock:
    """Named wall-time phases that nest like a stack; opening the phase already on top is a no-op."""

    def __init__(self) -> None:
        self._started = self._since = time.perf_counter()
        self._stack: list[str] = []
        self.seconds: dict[str, float] = {}

    def _charge(self) -> None:
        now = time.perf_counter()
        if self._stack:
            top = self._stack[-1]
            self.seconds[top] = self.seconds.get(top, 0.0) + now - self._since
        self._since = now

    def enter(self, name: str) -> None:
        if self._stack and self._stack[-1] == name:
            return
        self._charge()
        self._stack.append(name)

    def exit(self, name: str) -> None:
        """Close ``name`` (and any phase left open inside it, e.g. by an exception); a no-op when it is not open."""
        if name not in self._stack:
            return
        self._charge()
        while self._stack and self._stack.pop() != name:
            pass

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.enter(name)
        try:
            yield
        finally:
            self.exit(name)

    def breakdown(self) -> dict[str, float]:
        """Seconds per phase, ``total`` since the clock started and ``unattributed`` (total minus the phases)."""
        self._charge()
        total = time.perf_counter() - self._started
        phases = {name: round(seconds, 4) for name, seconds in self.seconds.items()}
        return {**phases, "total": round(total, 4), "unattributed": round(total - sum(self.seconds.values()), 4)}


class StepPhases(pl.Callback):
    """Opens ``train``, ``validation`` and ``test`` around the steps of each loop (sanity validation included)."""

    def __init__(self, clock: PhaseClock) -> None:
        self.clock = clock

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.enter("train")  # a run resumed in mid-epoch gets no on_train_epoch_start

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.enter("train")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.exit("train")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.exit("train")

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.enter("validation")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.exit("validation")

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.enter("test")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.exit("test")
