"""Schedules under a real Trainer: the cosine's own horizon in epochs (study B: T_max = 200 while training 20)."""

import math

import pytest
import pytorch_lightning as pl
import torch
from conftest import quiet_trainer

from scalegrid.data.datamodule import BuiltinDataModule
from scalegrid.errors import ScalegridError
from scalegrid.models import create_model
from scalegrid.run.classifier import ImageClassifier
from scalegrid.run.optim import build_scheduler

ADAM = {"name": "adam", "lr": 0.01, "betas": [0.9, 0.999], "weight_decay": 0.0, "backbone_lr_scale": 1.0}


class LearningRates(pl.Callback):
    def __init__(self):
        self.at_epoch_end = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.at_epoch_end.append(trainer.optimizers[0].param_groups[0]["lr"])


def _learning_rates(cifar_root, sched: dict, epochs: int) -> list[float]:
    datamodule = BuiltinDataModule(
        "cifar10", str(cifar_root), val_size=20, batch_size=16, verify_checksums=False, download=False
    )
    network = create_model("mnist_net", num_classes=10, input_shape=(3, 32, 32))
    rates = LearningRates()
    quiet_trainer(epochs, callbacks=[rates]).fit(ImageClassifier(network, 10, ADAM, sched), datamodule=datamodule)
    return rates.at_epoch_end


def test_cosine_with_its_own_horizon_follows_cosine_annealing_over_epochs(cifar_root):
    rates = _learning_rates(cifar_root, {"name": "cosine", "final_lr_ratio": 0.0, "t_max": 200}, epochs=3)
    reference = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01)
    per_epoch = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=200)
    expected = []
    for _ in range(3):
        reference.step()
        per_epoch.step()
        expected.append(reference.param_groups[0]["lr"])
    assert rates == pytest.approx(expected, rel=1e-9)
    assert rates[-1] > 0.0099  # after 3 of 200 epochs the schedule has barely decayed


def test_cosine_without_a_horizon_decays_over_the_whole_fit(cifar_root):
    rates = _learning_rates(cifar_root, {"name": "cosine", "final_lr_ratio": 0.0, "t_max": None}, epochs=2)
    assert rates[0] == pytest.approx(0.01 * (1 + math.cos(math.pi / 2)) / 2, abs=1e-12)  # half way: 0.005
    assert rates[-1] == pytest.approx(0.0, abs=1e-12)


def test_a_horizon_that_is_not_positive_is_refused():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ScalegridError, match="sched.t_max=0 must be a positive number of epochs"):
        build_scheduler(optimizer, {"name": "cosine", "final_lr_ratio": 0.0, "t_max": 0}, 100, 10)
