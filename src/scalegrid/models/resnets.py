"""torchvision ResNets: the ImageNet design, and ResNet-18 with a CIFAR stem."""

from __future__ import annotations

import torchvision
from torch import nn

from scalegrid.models.network import adapt_input_channels, strip_classifier
from scalegrid.models.registry import register_model


def torchvision_backbone(arch: str, input_shape: tuple[int, int, int]) -> tuple[nn.Module, int]:
    """Any torchvision classification model without its classifier layer, fed ``input_shape[0]`` channels."""
    try:
        model = torchvision.models.get_model(arch, weights=None)
    except ValueError:
        from scalegrid.errors import ScalegridError

        choices = ", ".join(torchvision.models.list_models(module=torchvision.models))
        raise ScalegridError(
            f"model.arch={arch!r} is not a torchvision classification model; available: {choices}"
        ) from None
    features = strip_classifier(model)
    adapt_input_channels(model, input_shape[0])
    return model, features


def _register_resnet(depth: int) -> None:
    arch = f"resnet{depth}"

    def constructor(input_shape: tuple[int, int, int]) -> tuple[nn.Module, int]:
        return torchvision_backbone(arch, input_shape)

    constructor.__doc__ = f"torchvision ResNet-{depth} (ImageNet stem: 7x7 stride-2 conv + max-pool)."
    register_model(arch, imagenet_arch=arch)(constructor)


for _depth in (18, 34, 50, 101):
    _register_resnet(_depth)


@register_model("resnet18_cifar", imagenet_arch="resnet18")
def resnet18_cifar(input_shape: tuple[int, int, int]) -> tuple[nn.Module, int]:
    """ResNet-18 with a 3x3 stride-1 stem and no max-pool, for 32x32 inputs.

    Built on torchvision's ResNet so ImageNet weights load into every layer but the stem.
    """
    model, features = torchvision_backbone("resnet18", input_shape)
    model.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model, features


@register_model("torchvision", imagenet_arch=None, default_input=(3, 224, 224))
def any_torchvision(input_shape: tuple[int, int, int], arch: str = "resnet18") -> tuple[nn.Module, int]:
    """Any torchvision classification model by name: ``model=torchvision model.arch=efficientnet_b0``."""
    return torchvision_backbone(arch, input_shape)
