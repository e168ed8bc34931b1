"""The one Lightning internal scalegrid relies on: fails loudly when a Lightning release changes it."""

from __future__ import annotations

import pytorch_lightning as pl

from scalegrid.run.lightning_adapter import relaunches_command


def _trainer(**options) -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False, **options)


def test_ddp_on_several_devices_relaunches_the_command():
    assert relaunches_command(_trainer(strategy="ddp", devices=2))


def test_spawned_and_single_process_trainers_do_not():
    assert not relaunches_command(_trainer(strategy="ddp_spawn", devices=2))
    assert not relaunches_command(_trainer(devices=1))


def test_a_cluster_that_starts_the_ranks_itself_does_not(monkeypatch):
    for name, value in {
        "LOCAL_RANK": "0",
        "RANK": "0",
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29555",
    }.items():
        monkeypatch.setenv(name, value)  # as torchrun sets them for each rank it starts
    assert not relaunches_command(_trainer(strategy="ddp", devices=2))
