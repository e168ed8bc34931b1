"""Batched augmentation and normalisation: tensor ops on whole uint8 batches, on the batch's device."""

from __future__ import annotations

from collections.abc import Sequence

import torch

AUGMENTATIONS = ("none", "standard")


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


def random_horizontal_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def augment(images: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply a named augmentation policy to a uint8 batch."""
    if policy == "none":
        return images
    if policy == "standard":
        return random_horizontal_flip(random_crop_reflect(images, padding=4))
    raise ValueError(f"unknown augmentation {policy!r}; choose one of {', '.join(AUGMENTATIONS)}")


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 batch -> float batch with per-channel mean 0 and std 1 under the given statistics."""
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=images.device)[None, :, None, None]
    std_t = torch.as_tensor(std, dtype=torch.float32, device=images.device)[None, :, None, None]
    return (images.float() / 255.0 - mean_t) / std_t


# Policies for square images prepared at a stored size larger than the model's image_size (custom datasets).
IMAGE_AUGMENTATIONS = ("random_resized_crop", "random_crop", "none")


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


def augment_images(
    images: torch.Tensor, policy: str, size: int, crop_scale: tuple[float, float] = (0.08, 1.0)
) -> torch.Tensor:
    """Training view of a batch of stored squares: a random (resized) crop to ``size`` plus a horizontal flip."""
    if policy == "none":
        return center_crop(images, size)
    if policy == "random_crop":
        return random_horizontal_flip(random_crop(images, size))
    if policy == "random_resized_crop":
        return random_horizontal_flip(random_resized_crop(images, size, crop_scale))
    raise ValueError(f"unknown augmentation {policy!r}; choose one of {', '.join(IMAGE_AUGMENTATIONS)}")
