"""Study C's CIFAR ResNet-18: a 3x3 stem, four stages of two residual blocks, max-pool downsampling, no strided
convolutions; the input normalisation lives inside the model (feed it pixels in [0, 1]: data.mean=[0,0,0],
data.std=[1,1,1])."""

from __future__ import annotations

import torch
from torch import nn

from scalegrid.models.registry import register_model

CIFAR_MEAN = (0.492, 0.482, 0.447)
CIFAR_STD = (0.247, 0.243, 0.262)


class Normalize(nn.Module):
    """(x - mean) / std per channel, with the statistics as buffers (saved with the model)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], channels: int) -> None:
        super().__init__()
        if channels != len(mean):  # grey inputs: one channel with the average statistics
            mean, std = (sum(mean) / len(mean),) * channels, (sum(std) / len(std),) * channels
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


class ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus a shortcut (1x1 conv + BN when the channels change), ReLU after the sum."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(images)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(images))


def _stage(in_channels: int, out_channels: int, downsample: bool) -> nn.Sequential:
    """Two blocks; a downsampling stage halves the feature map with MaxPool2d(2) after its first block."""
    first = ResidualBlock(in_channels, out_channels)
    pool = [nn.MaxPool2d(2)] if downsample else []
    return nn.Sequential(first, *pool, ResidualBlock(out_channels, out_channels))


@register_model("resnet18_cifar_maxpool")
def resnet18_cifar_maxpool(input_shape: tuple[int, int, int], normalize_input: bool = True) -> tuple[nn.Module, int]:
    """Stem conv3x3(->64, bias)+BN+ReLU; stages of 64, 128, 256, 512 channels (feature maps 32, 32, 16, 8, 4 on
    32x32); global average pool; the head is Linear(512, classes)."""
    channels = input_shape[0]
    layers = [("normalize", Normalize(CIFAR_MEAN, CIFAR_STD, channels))] if normalize_input else []
    layers += [
        ("stem", nn.Sequential(nn.Conv2d(channels, 64, 3, padding=1, bias=True), nn.BatchNorm2d(64), nn.ReLU())),
        ("layer1", _stage(64, 64, downsample=False)),
        ("layer2", _stage(64, 128, downsample=True)),
        ("layer3", _stage(128, 256, downsample=True)),
        ("layer4", _stage(256, 512, downsample=True)),
        ("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
    ]
    from collections import OrderedDict

    return nn.Sequential(OrderedDict(layers)), 512
