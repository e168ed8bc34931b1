"""Batched augmentation and normalisation: tensor ops on whole batches, on the batch's device.

One vocabulary for every dataset (``data.augment``, presets in ``conf/augment/``): an optional resize first, a crop,
a horizontal flip with probability ``flip``, a random rotation of up to ``rotation`` degrees, in that order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from scalegrid.errors import ScalegridError

CROPS = ("none", "reflect_pad", "random", "random_resized")


@dataclass(frozen=True)
class Augmentation:
    """The training view of a batch; the defaults change nothing (a centre crop to the model's size, if needed)."""

    resize_first: bool = False  # resize to the model's size before the rest (torchvision's Resize first)
    crop: str = "none"  # none | reflect_pad | random | random_resized
    crop_padding: int = 4  # reflect_pad: pixels of reflect padding around the image before cropping back
    crop_scale: tuple[float, float] = (0.08, 1.0)  # random_resized: range of the crop's share of the image area
    flip: float = 0.0  # probability of a horizontal flip
    rotation: float = 0.0  # degrees: each image turns by an angle drawn uniformly in [-rotation, rotation]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> Augmentation:
        """``data.augment`` as configured, checked; one line naming the key for a bad value."""
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(cls.__dataclass_fields__))
        if unknown:
            raise ScalegridError(
                f"data.augment.{unknown[0]} is not an augmentation setting; known: {', '.join(cls.__dataclass_fields__)}"
            )
        augmentation = cls(
            **{**settings, "crop_scale": tuple(float(v) for v in settings.get("crop_scale", (0.08, 1.0)))}
        )
        if augmentation.crop not in CROPS:
            raise ScalegridError(
                f"data.augment.crop={augmentation.crop!r} is unknown; choose one of {', '.join(CROPS)}"
            )
        low, high = augmentation.crop_scale
        if not 0 < low <= high <= 1:
            raise ScalegridError(
                f"data.augment.crop_scale={list(augmentation.crop_scale)} must be [low, high] with 0 < low <= high <= 1"
            )
        if not 0 <= augmentation.flip <= 1:
            raise ScalegridError(f"data.augment.flip={augmentation.flip} must be a probability in [0, 1]")
        if not 0 <= augmentation.rotation <= 180:
            raise ScalegridError(f"data.augment.rotation={augmentation.rotation} must be in [0, 180] degrees")
        if int(augmentation.crop_padding) < 0:
            raise ScalegridError(f"data.augment.crop_padding={augmentation.crop_padding} must be 0 or more")
        return augmentation

    def apply(self, images: torch.Tensor, size: int) -> torch.Tensor:
        """Crop a batch to ``size`` x ``size`` as ``crop`` says, then flip and rotate (after ``resize_first``, which
        the caller does: it alone knows whether the batch is at its stored size)."""
        if self.crop == "none":
            images = center_crop(images, size)
        elif self.crop == "reflect_pad":
            images = random_crop_reflect(center_crop(images, size), padding=int(self.crop_padding))
        elif self.crop == "random":
            images = random_crop(images, size)
        else:
            images = random_resized_crop(images, size, self.crop_scale)
        if self.flip > 0:
            images = random_horizontal_flip(images, probability=self.flip)
        if self.rotation > 0:
            images = random_rotation(images, self.rotation)
        return images


def _reflect(coords: torch.Tensor, size: int) -> torch.Tensor:
    """Map coordinates in [-size+1, 2*size-2] into [0, size) as reflect padding does."""
    coords = coords.abs()
    return torch.where(coords > size - 1, 2 * (size - 1) - coords, coords)


def random_crop_reflect(images: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop of each image back to its size after ``padding`` pixels of reflect padding.

    Gathers the cropped pixels directly through reflected indices, so no padded copy is made and uint8 stays uint8.
    """
    batch, channels, height, width = images.shape
    device = images.device
    shifts = torch.randint(0, 2 * padding + 1, (2, batch), device=device, generator=generator) - padding
    rows = _reflect(shifts[0, :, None] + torch.arange(height, device=device), height)  # (B, H)
    cols = _reflect(shifts[1, :, None] + torch.arange(width, device=device), width)  # (B, W)
    batch_index = torch.arange(batch, device=device)[:, None, None, None]
    channel_index = torch.arange(channels, device=device)[None, :, None, None]
    return images[batch_index, channel_index, rows[:, None, :, None], cols[:, None, None, :]]


def random_horizontal_flip(
    images: torch.Tensor, generator: torch.Generator | None = None, probability: float = 0.5
) -> torch.Tensor:
    """Flip each image left-right with ``probability``."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < probability
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def random_rotation(images: torch.Tensor, degrees: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Turn each image about its centre by an angle drawn uniformly in [-degrees, degrees]; corners fill with 0.

    Float output in the input's range (bilinear sampling, torchvision's RandomRotation with fill 0).
    """
    batch = images.shape[0]
    angles = (torch.rand(batch, device=images.device, generator=generator) * 2 - 1) * math.radians(degrees)
    cos, sin = torch.cos(angles), torch.sin(angles)
    zeros = torch.zeros_like(angles)
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Each image resized to ``size`` x ``size`` (bilinear, antialiased when shrinking); float in the input's range."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    shrinking = images.shape[-1] > size
    return F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking)


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 batch -> float batch with per-channel mean 0 and std 1 under the given statistics."""
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device)[None, :, None, None]
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device)[None, :, None, None]
    return (images.float() / 255.0 - mean_t) / std_t


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` window of each image."""
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size]


def random_crop(images: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A ``size`` x ``size`` window at a random position in each image (no padding)."""
    batch, channels, height, width = images.shape
    device = images.device
    top = torch.randint(0, height - size + 1, (batch,), device=device, generator=generator)
    left = torch.randint(0, width - size + 1, (batch,), device=device, generator=generator)
    rows = top[:, None] + torch.arange(size, device=device)  # (B, size)
    cols = left[:, None] + torch.arange(size, device=device)
    batch_index = torch.arange(batch, device=device)[:, None, None, None]
    channel_index = torch.arange(channels, device=device)[None, :, None, None]
    return images[batch_index, channel_index, rows[:, None, :, None], cols[:, None, None, :]]


def random_resized_crop(
    images: torch.Tensor,
    size: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """torchvision's RandomResizedCrop for a whole batch at once; returns float images in the input's 0..255 range.

    Each image draws ten (area share, aspect ratio) candidates and takes the first that fits, else the whole image,
    as torchvision does; the boxes are then resampled to ``size`` in one ``roi_align`` call, which averages over
    each output pixel's footprint (no aliasing when shrinking).
    """
    from torchvision.ops import roi_align

    batch, _, height, width = images.shape
    device = images.device
    tries = 10
    uniform = torch.rand((3, batch, tries), device=device, generator=generator)
    area = height * width * (scale[0] + (scale[1] - scale[0]) * uniform[0])
    log_low, log_high = torch.log(torch.tensor(ratio, device=device))
    aspect = torch.exp(log_low + (log_high - log_low) * uniform[1])
    box_w = torch.sqrt(area * aspect).round()
    box_h = torch.sqrt(area / aspect).round()
    fits = (box_w >= 1) & (box_h >= 1) & (box_w <= width) & (box_h <= height)
    first = fits.float().argmax(1)
    pick = torch.arange(batch, device=device)
    any_fit = fits.any(1)
    box_w = torch.where(any_fit, box_w[pick, first], torch.tensor(float(width), device=device))
    box_h = torch.where(any_fit, box_h[pick, first], torch.tensor(float(height), device=device))
    position = torch.rand((2, batch), device=device, generator=generator)
    left = torch.floor(position[0] * (width - box_w + 1))
    top = torch.floor(position[1] * (height - box_h + 1))
    boxes = torch.stack([pick.float(), left, top, left + box_w, top + box_h], dim=1)
    return roi_align(
        images.float(), boxes, output_size=(size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True
    )
