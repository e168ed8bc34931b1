"""The LightningModule: an image classifier around any registered backbone."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from scalegrid.errors import TrainingDiverged
from scalegrid.run.optim import build_optimizer, build_scheduler


class ImageClassifier(pl.LightningModule):
    """Cross-entropy training with accuracy metrics; the test pass also builds the confusion matrix.

    Training metrics are accumulated on the device and logged once per epoch, so no training step waits on the host
    or pays for Lightning's logging machinery. The running loss sum is also what the divergence check reads: NaN and
    infinity survive a sum, so checking it every N steps catches any non-finite loss since the epoch began.
    """

    def __init__(
        self,
        network: nn.Module,
        num_classes: int,
        optim: Mapping[str, Any],
        sched: Mapping[str, Any],
        label_smoothing: float = 0.0,
        class_names: list[str] | None = None,
        channels_last: bool = False,
        compile: bool = False,
        finite_check_every_n_steps: int = 50,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["network"])
        self.network = network
        if channels_last:
            self.network.to(memory_format=torch.channels_last)
        # The compiled wrapper stays out of the module tree, so state dicts and checkpoints keep their plain keys.
        self.__dict__["_compiled"] = torch.compile(network) if compile else None
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_confusion = MulticlassConfusionMatrix(num_classes)
        self.val_acc_history: list[float] = []  # one entry per finished validation epoch (sanity checks excluded)
        self.train_acc_history: list[float] = []  # one entry per finished training epoch
        self.test_confusion_matrix: list[list[int]] | None = None
        self._train_loss_sum = torch.zeros(())
        self._train_correct = torch.zeros((), dtype=torch.long)
        self._train_images = 0
        self._epoch_sums_to_restore: dict[str, Any] | None = None  # from a checkpoint taken in mid-epoch

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        network = self._compiled if self._compiled is not None else self.network
        return network(images)

    def on_train_start(self) -> None:
        # A run resumed in the middle of an epoch continues that epoch's sums; Lightning skips on_train_epoch_start
        # for such an epoch, so they come back here.
        restored, self._epoch_sums_to_restore = self._epoch_sums_to_restore, None
        self._reset_epoch_sums()
        if restored is not None and restored["epoch"] == self.current_epoch:
            self._train_loss_sum += restored["loss_sum"].to(self.device)
            self._train_images = restored["images"]
            # checkpoints before the results contract kept torchmetrics' state: its true positives are the correct
            correct = restored["correct"] if "correct" in restored else restored["accuracy"]["tp"].sum()
            self._train_correct += correct.to(self.device)

    def on_train_epoch_start(self) -> None:
        self._reset_epoch_sums()

    def _reset_epoch_sums(self) -> None:
        self._train_loss_sum = torch.zeros((), device=self.device)
        self._train_correct = torch.zeros((), dtype=torch.long, device=self.device)
        self._train_images = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        loss = self.criterion(logits, labels)
        # Summed on the device and logged once per epoch: Lightning's self.log costs about a millisecond per call,
        # which is a tenth of a small model's step on a CPU.
        self._train_correct += (logits.detach().argmax(1) == labels).sum()
        self._train_loss_sum += loss.detach() * len(labels)
        self._train_images += len(labels)
        every = self.hparams.finite_check_every_n_steps
        if every and (batch_idx + 1) % every == 0:
            self._stop_if_diverged(batch_idx)
        return loss

    def _stop_if_diverged(self, batch_idx: int | None) -> None:
        """Raise TrainingDiverged, before the optimiser step, when a loss since the epoch began was NaN or infinite."""
        diverged = not bool(torch.isfinite(self._train_loss_sum))
        if self.trainer.world_size > 1:  # every rank must stop together, or the others wait forever in all-reduce
            diverged = self.trainer.strategy.reduce_boolean_decision(diverged, all=False)
        if diverged:
            raise TrainingDiverged(
                f"the training loss became {float(self._train_loss_sum)} at epoch {self.current_epoch}"
                + ("" if batch_idx is None else self._batch_words(batch_idx))
                + f" (optim.lr={self.hparams.optim['lr']:g}): lower optim.lr, add warm-up "
                "(sched=onecycle) or clip gradients (+trainer.gradient_clip_val=1.0)"
            )

    def _batch_words(self, batch_idx: int) -> str:
        every = self.hparams.finite_check_every_n_steps
        if every == 1:
            return f", batch {batch_idx}"
        return f", by batch {batch_idx} (checked every {every} steps: runtime.finite_check_every_n_steps)"

    def on_train_epoch_end(self) -> None:
        if self.hparams.finite_check_every_n_steps:
            self._stop_if_diverged(None)
        if self._train_images:
            # summed over DDP ranks (identity on one device): every rank then logs the same totals
            sums = torch.stack([self._train_loss_sum.float(), self._train_correct.float()])
            images = torch.tensor(float(self._train_images), device=self.device)
            loss_sum, correct, images = self.trainer.strategy.reduce(torch.cat([sums, images[None]]), reduce_op="sum")
            self.log("train/loss", loss_sum / images, prog_bar=True, sync_dist=True)
            self.log("train/acc", correct / images, sync_dist=True)
            self.train_acc_history.append(float(correct / images))
            self.log("train/images", images, sync_dist=True)  # the training images of this epoch, all ranks

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        self.val_acc.update(logits, labels)
        self.log("val/loss", self.criterion(logits, labels), on_epoch=True, prog_bar=True, sync_dist=True)
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.val_acc_history.append(float(self.val_acc.compute()))

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        self.test_acc.update(logits, labels)
        self.test_confusion.update(logits, labels)
        self.log("test/loss", self.criterion(logits, labels), on_epoch=True, sync_dist=True)
        self.log("test/acc", self.test_acc, on_epoch=True)

    def on_test_epoch_end(self) -> None:
        self.test_confusion_matrix = self.test_confusion.compute().cpu().tolist()
        self.test_confusion.reset()

    def configure_optimizers(self) -> Any:
        # The head trains at optim.lr, the backbone at optim.lr * optim.backbone_lr_scale; frozen parameters stay out.
        head = [p for p in self.network.head.parameters() if p.requires_grad]
        backbone = [p for p in self.network.backbone.parameters() if p.requires_grad]
        backbone_lr = self.hparams.optim["lr"] * self.hparams.optim.get("backbone_lr_scale", 1.0)
        groups = [group for group in ({"params": head}, {"params": backbone, "lr": backbone_lr}) if group["params"]]
        optimizer = build_optimizer(groups, self.hparams.optim)
        total_steps = int(self.trainer.estimated_stepping_batches)  # builds the training loader: batches are known
        batches = self.trainer.num_training_batches  # inf for a loader without a length
        steps_per_epoch = None
        if math.isfinite(batches):
            steps_per_epoch = max(1, int(batches) // self.trainer.accumulate_grad_batches)
        scheduler = build_scheduler(optimizer, self.hparams.sched, total_steps, steps_per_epoch)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["val_acc_history"] = list(self.val_acc_history)
        checkpoint["train_acc_history"] = list(self.train_acc_history)
        checkpoint["train_epoch_sums"] = {  # what a resume in the middle of this epoch needs for its mean loss/acc
            "epoch": self.current_epoch,
            "loss_sum": self._train_loss_sum.detach().cpu(),
            "images": self._train_images,
            "correct": self._train_correct.detach().cpu(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.val_acc_history = list(checkpoint.get("val_acc_history", []))
        self.train_acc_history = list(checkpoint.get("train_acc_history", []))
        self._epoch_sums_to_restore = checkpoint.get("train_epoch_sums")
