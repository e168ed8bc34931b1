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
