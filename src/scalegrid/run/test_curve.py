"""``test_every_epoch``: the test accuracy after every training epoch, as a curve.

Labelled test and never used for selection: the tested checkpoint is still chosen by ``selection`` on the
validation split (study D's "max accuracy" was the best test epoch, i.e. selection on the test set; this curve shows
it beside the honest number without letting it choose).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch


class TestEveryEpoch(pl.Callback):
    """Evaluates the test split after each training epoch (after its validation); logs ``test_curve/acc``."""

    def __init__(self) -> None:
        self.history: list[float] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule
        was_training = pl_module.training
        pl_module.eval()
        correct = torch.zeros((), device=pl_module.device)
        seen = torch.zeros((), device=pl_module.device)
        with torch.no_grad():
            for images, labels in datamodule.test_dataloader():  # sharded across DDP ranks: summed below
                images, labels = images.to(pl_module.device), labels.to(pl_module.device)
                logits = pl_module(datamodule.transform_batch(images, training=False))
                correct += (logits.argmax(1) == labels).sum()
                seen += len(labels)
        correct, seen = trainer.strategy.reduce(torch.stack([correct, seen]), reduce_op="sum")
        accuracy = float(correct / seen) if seen else float("nan")
        self.history.append(accuracy)
        pl_module.log("test_curve/acc", accuracy)
        pl_module.train(was_training)

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])
