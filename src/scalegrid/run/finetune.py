"""What trains: fine-tune everything, probe linearly, freeze the first N stages, or unfreeze gradually.

Frozen parameters get no gradient and are not handed to the optimizer; frozen modules stay in eval mode, so
their BatchNorm statistics do not move (unless ``finetune.frozen_bn`` says otherwise). Built on Lightning's BaseFinetuning,
which also restores added parameter groups when a run resumes.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BaseFinetuning
from torch import nn
from torch.optim import Optimizer

from scalegrid.errors import ScalegridError
from scalegrid.models.freezing import POLICIES, check_frozen_bn, freeze, modules_to_freeze, set_frozen_mode
from scalegrid.models.network import Network


class FinetunePolicy(BaseFinetuning):
    """Applies a policy before training and keeps frozen parts in eval mode every epoch."""

    def __init__(
        self,
        policy: str = "full",
        freeze_stages: int = 0,
        unfreeze_epoch: int = 1,
        frozen_bn: str = "frozen",
        backbone_lr_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if policy not in POLICIES:
            raise ScalegridError(f"finetune.policy={policy!r} is unknown; choose one of {', '.join(POLICIES)}")
        if policy == "gradual" and unfreeze_epoch < 1:
            raise ScalegridError(
                f"finetune.unfreeze_epoch={unfreeze_epoch} must be at least 1 (epoch 0 trains the head)"
            )
        self.policy = policy
        self.freeze_stages = freeze_stages
        self.unfreeze_epoch = unfreeze_epoch
        self.frozen_bn = check_frozen_bn(frozen_bn)
        self.backbone_lr_scale = backbone_lr_scale
        self.frozen: list[nn.Module] = []

    def apply(self, network: Network) -> None:
        """Freeze what the policy says (callable before the Trainer exists, so parameter counts are right)."""
        self.frozen = modules_to_freeze(network, self.policy, self.freeze_stages)
        freeze(self.frozen, self.frozen_bn)

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        already_unfrozen = self.policy == "gradual" and pl_module.current_epoch >= self.unfreeze_epoch
        if not already_unfrozen:
            self.apply(pl_module.network)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)  # runs finetune_function
        set_frozen_mode(self.frozen, self.frozen_bn)

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        if self.policy != "gradual" or epoch != self.unfreeze_epoch or not self.frozen:
            return
        self.make_trainable(self.frozen)
        parameters = self.filter_on_optimizer(optimizer, self.filter_params(self.frozen, requires_grad=True))
        self.frozen = []
        pl_module.network.backbone.train()
        if parameters:
            add_scheduled_group(pl_module.trainer, optimizer, parameters, self.backbone_lr_scale)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "policy": self.policy}


def add_scheduled_group(trainer: pl.Trainer, optimizer: Optimizer, parameters: list, lr_scale: float) -> None:
    """Add a parameter group shaped like the first one (lr keys scaled), and tell the schedulers about it."""
    group = {key: value for key, value in optimizer.param_groups[0].items() if key != "params"}
    for key in ("lr", "initial_lr", "max_lr", "min_lr"):
        if key in group:
            group[key] = group[key] * lr_scale
    optimizer.add_param_group({**group, "params": parameters})
    for config in trainer.lr_scheduler_configs:
        if hasattr(config.scheduler, "base_lrs"):
            config.scheduler.base_lrs.append(config.scheduler.base_lrs[0] * lr_scale)
