"""A classifier as two parts: a backbone that maps images to feature vectors, and a head that maps those to classes.

Every registered model is built this way, so heads, freezing and weight loading work the same for all of them:
state-dict keys are ``backbone.*`` and ``head.*``.
"""

from __future__ import annotations

import torch
from torch import nn

from scalegrid.errors import ScalegridError

HEADS = ("linear", "mlp")


class Network(nn.Module):
    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))

    def stages(self) -> list[tuple[str, nn.Module]]:
        """The backbone's top-level children, in forward order: what ``finetune.freeze_stages`` counts."""
        return list(self.backbone.named_children())


def build_head(
    in_features: int, num_classes: int, kind: str = "linear", dropout: float = 0.0, hidden: int = 256
) -> nn.Module:
    """``linear``: [Dropout] -> Linear; ``mlp``: Linear -> ReLU -> Dropout -> Linear."""
    if not 0 <= dropout < 1:
        raise ScalegridError(f"model.head.dropout={dropout} must be in [0, 1)")
    if kind == "linear":
        linear = nn.Linear(in_features, num_classes)
        return nn.Sequential(nn.Dropout(dropout), linear) if dropout > 0 else linear
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )
    raise ScalegridError(f"model.head.kind={kind!r} is unknown; choose one of {', '.join(HEADS)}")


def strip_classifier(model: nn.Module) -> int:
    """Replace the model's last Linear layer (``fc``, ``classifier[-1]``, ``heads.head``, ...) by Identity.

    Returns that layer's input width: the feature dimension the new head receives.
    """
    linears = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ScalegridError(f"{type(model).__name__} has no Linear classifier layer to replace")
    name, last = linears[-1]
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, nn.Identity())
    return last.in_features


def adapt_input_channels(model: nn.Module, channels: int) -> None:
    """Give the model's first convolution ``channels`` input channels (1-channel data into a 3-channel design)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            if module.in_channels == channels:
                return
            replacement = nn.Conv2d(
                channels,
                module.out_channels,
                module.kernel_size,
                module.stride,
                module.padding,
                module.dilation,
                1,  # first convolutions of torchvision classifiers are dense
                bias=module.bias is not None,
            )
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, replacement)
            return
