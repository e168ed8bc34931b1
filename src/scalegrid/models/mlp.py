"""Fully connected networks for small images (study E): depth, width, activation, batch-norm."""

from __future__ import annotations

import math

from torch import nn

from scalegrid.errors import ScalegridError
from scalegrid.models.registry import register_model

MLP_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "none": nn.Identity}


@register_model("mlp", default_input=(1, 28, 28))
def mlp(
    input_shape: tuple[int, int, int],
    depth: int = 2,
    width: int = 128,
    activation: str = "relu",
    batchnorm: bool = False,
) -> tuple[nn.Module, int]:
    """Flatten, then ``depth`` x (Linear(width) [-> BatchNorm1d] -> activation); the head maps width -> classes.

    ``activation=none`` makes the whole network linear (the baseline of study E2).
    """
    if activation not in MLP_ACTIVATIONS:
        raise ScalegridError(f"model.activation={activation!r} is unknown; choose one of {', '.join(MLP_ACTIVATIONS)}")
    if int(depth) < 1 or int(width) < 1:
        raise ScalegridError(f"model.depth={depth} and model.width={width} must be at least 1")
    layers: list[nn.Module] = [nn.Flatten()]
    features = math.prod(input_shape)
    for _ in range(int(depth)):
        layers.append(nn.Linear(features, int(width)))
        if batchnorm:
            layers.append(nn.BatchNorm1d(int(width)))
        layers.append(MLP_ACTIVATIONS[activation]())
        features = int(width)
    return nn.Sequential(*layers), features
