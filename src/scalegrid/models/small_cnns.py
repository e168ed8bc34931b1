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


DOWNSAMPLING = ("max", "stride", "none")


@register_model("convnet", default_input=(1, 28, 28))
def convnet(
    input_shape: tuple[int, int, int],
    channels: tuple[int, ...] = (8, 16),
    downsample: str = "max",
    global_pool: bool = False,
    activation: str = "relu",
    batchnorm: bool = False,
) -> tuple[nn.Module, int]:
    """A small conv net: per entry of ``channels`` a 3x3 conv [-> BN] -> activation, halving the map by max-pooling
    (``max``), a stride-2 conv (``stride``) or not at all (``none``); then a global average pool or a flatten.

    Sized by its channels for parameter-matched comparisons (study E4: ``make models`` prints the counts).
    """
    if downsample not in DOWNSAMPLING:
        raise ScalegridError(f"model.downsample={downsample!r} is unknown; choose one of {', '.join(DOWNSAMPLING)}")
    in_channels, height, width = input_shape
    layers: list[nn.Module] = []
    for out_channels in channels:
        stride = 2 if downsample == "stride" else 1
        layers.append(nn.Conv2d(in_channels, int(out_channels), 3, stride=stride, padding=1))
        if batchnorm:
            layers.append(nn.BatchNorm2d(int(out_channels)))
        layers.append(_activation(activation))
        if downsample == "max":
            layers.append(nn.MaxPool2d(2))
        if downsample == "max":
            height, width = height // 2, width // 2
        elif downsample == "stride":  # a 3x3 stride-2 conv with padding 1 rounds up
            height, width = (height + 1) // 2, (width + 1) // 2
        in_channels = int(out_channels)
    if global_pool:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        return nn.Sequential(*layers), in_channels
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), in_channels * height * width
