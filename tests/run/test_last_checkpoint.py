"""last.ckpt on its time rule: at epoch ends once min_interval_s have passed, always after the last epoch, on SIGTERM,
and on a job system's warning that the job ends soon (then the job system's own handler requeues it)."""

from __future__ import annotations

import os
import signal

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scalegrid.run.last_checkpoint import LastCheckpoint
from scalegrid.run.preemption import SUBMITIT_JOB, SUBMITIT_SIGNAL, SchedulerWarning, scheduler_warning_signal

BATCHES = 4  # per epoch


class _Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        images, labels = batch
        return nn.functional.cross_entropy(self.layer(images), labels)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        generator = torch.Generator().manual_seed(0)
        data = TensorDataset(torch.randn(8 * BATCHES, 4, generator=generator), torch.randint(0, 2, (8 * BATCHES,)))
        return DataLoader(data, batch_size=8)


class _Writes(pl.Callback):
    """The (epoch, global step) of every checkpoint Lightning writes."""

    def __init__(self) -> None:
        self.written: list[tuple[int, int]] = []

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self.written.append((checkpoint["epoch"], checkpoint["global_step"]))


class _SigtermAt(pl.Callback):
    def __init__(self, step: int, signum: int = signal.SIGTERM) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)  # what a scheduler sends; Lightning stops at the batch's end


def _fit(
    tmp_path, epochs: int, min_interval_s: float, *extra: pl.Callback, **options
) -> tuple[_Writes, LastCheckpoint]:
    writes = _Writes()
    last = LastCheckpoint(
        min_interval_s=min_interval_s, dirpath=tmp_path, filename="last", monitor=None, save_top_k=1, every_n_epochs=1
    )
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[last, writes, *extra],
        **options,
    )
    trainer.fit(_Tiny())
    return writes, last


def test_short_epochs_write_last_ckpt_only_after_the_last_epoch(tmp_path) -> None:
    writes, _ = _fit(tmp_path, epochs=4, min_interval_s=60)
    assert writes.written == [(3, 4 * BATCHES)]
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["epoch"] == 3  # what a re-run resumes from


def test_no_interval_writes_at_every_epoch_end(tmp_path) -> None:
    writes, _ = _fit(tmp_path, epochs=3, min_interval_s=0)
    assert writes.written == [(epoch, (epoch + 1) * BATCHES) for epoch in range(3)]


def test_a_fit_that_ends_by_its_step_budget_is_written_at_its_end(tmp_path) -> None:
    writes, _ = _fit(tmp_path, epochs=-1, min_interval_s=60, max_steps=6)  # ends inside the second epoch
    assert writes.written and writes.written[-1][1] == 6


def test_sigterm_writes_the_state_it_stopped_at(tmp_path) -> None:
    with pytest.raises(SystemExit):  # Lightning's SIGTERMException
        _fit(tmp_path, 5, 60, _SigtermAt(step=BATCHES + 2))
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved["global_step"] == BATCHES + 2 and saved["epoch"] == 1  # in the middle of the second epoch


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="min_interval_s=-1 must be 0 or more"):
        LastCheckpoint(min_interval_s=-1)


class _JobSystemHandler:
    """What submitit installs for its warning signal in a job: requeue the job (here: note the call), then exit."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, signum, frame) -> None:
        self.calls.append(signum)
        raise SystemExit(-1)


@pytest.mark.parametrize("name", ["USR2", "USR1"])  # submitit's default, and one set by SUBMITIT_PREEMPT_SIGNAL
def test_a_job_systems_warning_writes_last_ckpt_at_the_batch_boundary_then_hands_over(tmp_path, monkeypatch, name):
    signum = getattr(signal, f"SIG{name}")
    monkeypatch.setenv(SUBMITIT_JOB, "slurm")
    monkeypatch.setenv(SUBMITIT_SIGNAL, name)
    handler = _JobSystemHandler()
    previous = signal.signal(signum, handler)
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        warning = SchedulerWarning()
        with pytest.raises(SIGTERMException):  # the fit stops as on SIGTERM ...
            _fit(tmp_path, 5, 60, warning, _SigtermAt(step=BATCHES + 2, signum=signum))
        saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
        assert saved["global_step"] == BATCHES + 2 and saved["epoch"] == 1  # ... where the warning came
        assert warning.received and handler.calls == []  # the job system's handler has not run yet
        with pytest.raises(SystemExit):
            warning.hand_over()
        assert handler.calls == [signum]  # now it requeues the job
        assert signal.getsignal(signum) is handler  # and it is the signal's handler again
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # SLURM's SIGTERM for the requeue is no stop
    finally:
        signal.signal(signum, previous)
        signal.signal(signal.SIGTERM, previous_sigterm)


def test_outside_a_job_the_warning_signal_is_left_alone(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(SUBMITIT_JOB, raising=False)
    assert scheduler_warning_signal() is None
    warning = SchedulerWarning()
    before = signal.getsignal(signal.SIGUSR2)
    writes, _ = _fit(tmp_path, 2, 60, warning)
    assert writes.written == [(1, 2 * BATCHES)] and not warning.received
    assert signal.getsignal(signal.SIGUSR2) == before


def test_a_job_without_a_handler_for_the_signal_has_no_warning(monkeypatch) -> None:
    monkeypatch.setenv(SUBMITIT_JOB, "slurm")
    previous = signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    try:
        assert scheduler_warning_signal() is None  # nothing would requeue it: leave the signal as it is
    finally:
        signal.signal(signal.SIGUSR2, previous)
