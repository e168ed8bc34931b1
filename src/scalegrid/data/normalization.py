"""Which statistics normalise the input: the config's, the pretrained weights', or the dataset's."""

from __future__ import annotations

from collections.abc import Sequence

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def choose_normalization(
    configured_mean: Sequence[float] | None,
    configured_std: Sequence[float] | None,
    dataset_mean: Sequence[float],
    dataset_std: Sequence[float],
    imagenet_weights: bool,
    channels: int,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The config's statistics when set; else ImageNet's for ImageNet weights; else the dataset's own.

    For 1-channel data and ImageNet weights the channel means of ImageNet's statistics are used, matching
    the stem whose 3 input filters were summed into 1.
    """
    if configured_mean is not None and configured_std is not None:
        return tuple(configured_mean), tuple(configured_std)
    if imagenet_weights:
        if channels == 1:
            return (sum(IMAGENET_MEAN) / 3,), (sum(IMAGENET_STD) / 3,)
        return IMAGENET_MEAN, IMAGENET_STD
    return tuple(dataset_mean), tuple(dataset_std)
