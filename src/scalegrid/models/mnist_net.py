"""The reference report's MNIST network (204,826 parameters on 1x28x28 inputs)."""

from __future__ import annotations

from torch import nn

from scalegrid.models.registry import register_model


@register_model("mnist_net")
def mnist_net(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """Two conv-BN-ReLU-pool-dropout blocks (8, 16 channels), then Linear(->256)-ReLU-Linear(->classes)."""
    channels, height, width = input_shape
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(16 * (height // 4) * (width // 4), 256),
        nn.ReLU(inplace=True),
        nn.Linear(256, num_classes),
    )
