"""Which parts of a network a fine-tune policy freezes, and freezing them: pure functions on a Network.

The Lightning side (keeping frozen parts in eval mode each epoch, unfreezing gradually) is run/finetune.py.
"""

from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from scalegrid.errors import ScalegridError
from scalegrid.models.network import Network

POLICIES = ("full", "linear_probe", "freeze_stages", "gradual")


def modules_to_freeze(network: Network, policy: str, freeze_stages: int = 0) -> list[nn.Module]:
    """The backbone modules that start frozen under ``policy``."""
    if policy == "full":
        return []
    if policy in ("linear_probe", "gradual"):
        return [network.backbone]
    if policy == "freeze_stages":
        stages = network.stages()
        if not 0 <= freeze_stages <= len(stages):
            names = ", ".join(name for name, _ in stages)
            raise ScalegridError(
                f"finetune.freeze_stages={freeze_stages} is out of range: this backbone has {len(stages)} stages "
                f"({names}); the maximum is {len(stages)}"
            )
        return [module for _, module in stages[:freeze_stages]]
    raise ScalegridError(f"finetune.policy={policy!r} is unknown; choose one of {', '.join(POLICIES)}")


FROZEN_BN = ("frozen", "updating", "trainable")  # what BatchNorm layers in frozen parts do


def check_frozen_bn(frozen_bn: str) -> str:
    if frozen_bn not in FROZEN_BN:
        raise ScalegridError(f"finetune.frozen_bn={frozen_bn!r} is unknown; choose one of {', '.join(FROZEN_BN)}")
    return frozen_bn


def freeze(modules: list[nn.Module], frozen_bn: str = "frozen") -> None:
    """Stop gradients to ``modules``; with ``frozen_bn="trainable"`` their BatchNorm layers keep training."""
    check_frozen_bn(frozen_bn)
    for module in modules:
        for layer in module.modules():
            keep = frozen_bn == "trainable" and isinstance(layer, _BatchNorm)
            for parameter in layer.parameters(recurse=False):
                parameter.requires_grad = keep


def set_frozen_mode(modules: list[nn.Module], frozen_bn: str = "frozen") -> None:
    """The train/eval mode of frozen modules at the start of each epoch, by ``frozen_bn``:

    - ``frozen``: eval mode (dropout off, BatchNorm statistics fixed);
    - ``updating``: left in train mode, as plain ``requires_grad = False`` leaves them: BatchNorm running statistics
      follow the new data while their weights stay (and dropout stays on);
    - ``trainable``: eval mode except the BatchNorm layers, which train (statistics and affine parameters).
    """
    if check_frozen_bn(frozen_bn) == "updating":
        return
    for module in modules:
        module.eval()  # recursive
        if frozen_bn == "trainable":
            for layer in module.modules():
                if isinstance(layer, _BatchNorm):
                    layer.train()
