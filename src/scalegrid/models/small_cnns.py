"""The reference reports' small networks, with the activation and batch-norm as options."""

from __future__ import annotations

from torch import nn

from scalegrid.errors import ScalegridError
from scalegrid.models.registry import register_model

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ScalegridError(f"model.activation={name!r} is unknown; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _conv_block(
    in_channels: int, out_channels: int, kernel: int, activation: str, batchnorm: bool, dropout: float
) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers += [_activation(activation), nn.MaxPool2d(2)]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return layers


@register_model("mnist_net", default_input=(1, 28, 28))
def mnist_net(
    input_shape: tuple[int, int, int], activation: str = "relu", batchnorm: bool = True
) -> tuple[nn.Module, int]:
    """Conv(8)-BN-act-pool-dropout, Conv(16)-BN-act-pool-dropout, Linear(->256)-act; the head maps 256 -> classes.

    204,826 parameters on 1x28x28 with the default linear head at 10 classes.
    """
    channels, height, width = input_shape
    backbone = nn.Sequential(
        *_conv_block(channels, 8, 3, activation, batchnorm, 0.25),
        *_conv_block(8, 16, 3, activation, batchnorm, 0.25),
        nn.Flatten(),
        nn.Linear(16 * (height // 4) * (width // 4), 256),
        _activation(activation),
    )
    return backbone, 256


@register_model("simple_cnn")
def simple_cnn(
    input_shape: tuple[int, int, int], activation: str = "relu", batchnorm: bool = False
) -> tuple[nn.Module, int]:
    """Three Conv5x5-act-pool blocks (16, 32, 64 channels), then Linear 1024->512->256->128->64->32->16 with activations."""
    channels, height, width = input_shape
    layers: list[nn.Module] = [
        *_conv_block(channels, 16, 5, activation, batchnorm, 0.0),
        *_conv_block(16, 32, 5, activation, batchnorm, 0.0),
        *_conv_block(32, 64, 5, activation, batchnorm, 0.0),
        nn.Flatten(),
    ]
    widths = [64 * (height // 8) * (width // 8), 512, 256, 128, 64, 32, 16]
    for in_width, out_width in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(in_width, out_width), _activation(activation)]
    return nn.Sequential(*layers), 16
