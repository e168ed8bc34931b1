"""torchvision ResNets with the ImageNet stem and a new head for the task's classes."""

from __future__ import annotations

import torchvision
from torch import nn

from scalegrid.models.registry import register_model


def _torchvision_resnet(arch: str, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    channels = input_shape[0]
    if channels != 3:
        stem = model.conv1
        model.conv1 = nn.Conv2d(channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
    return model


@register_model("resnet18")
def resnet18(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    return _torchvision_resnet("resnet18", num_classes, input_shape)


@register_model("resnet50")
def resnet50(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    return _torchvision_resnet("resnet50", num_classes, input_shape)
