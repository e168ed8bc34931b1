"""In-memory image sets: uint8 tensors plus labels and class names."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ImageArrays:
    """A whole split held as one uint8 tensor (N, C, H, W) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> ImageArrays:
        """The same split on ``device`` (a GPU holds CIFAR-10's 50,000 images in 150 MB as uint8)."""
        return ImageArrays(self.images.to(device), self.labels.to(device), self.class_names)

    def select(self, indices) -> ImageArrays:
        index = torch.as_tensor(indices, dtype=torch.long)
        return ImageArrays(self.images[index], self.labels[index], self.class_names)
