"""The reference report's VGG-19 for 32x32 inputs (20,365,002 parameters at 10 classes)."""

from __future__ import annotations

from torch import nn

from scalegrid.models.registry import register_model

# torchvision's VGG-19 configuration: conv widths, "M" = max-pool.
VGG19_LAYERS = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


class VGGCifar(nn.Module):
    """16 conv3x3-BN-ReLU layers (blocks of 2, 2, 4, 4, 4) then Linear(512->512)-ReLU-Linear(512->128)-ReLU.

    ``features`` has torchvision's ``vgg19_bn`` layout, so its ImageNet convolution weights load by name.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in VGG19_LAYERS:
            if width == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))  # ceil: 28x28 (MNIST) also ends at 1x1
            else:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # a no-op at 32x32; lets larger inputs (data.image_size) through
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Linear(512, 128), nn.ReLU(inplace=True)
        )

    def forward(self, images):
        return self.classifier(self.flatten(self.pool(self.features(images))))


@register_model("vgg19_bn_cifar", imagenet_arch="vgg19_bn")
def vgg19_bn_cifar(input_shape: tuple[int, int, int]) -> tuple[nn.Module, int]:
    return VGGCifar(input_shape[0]), 128
