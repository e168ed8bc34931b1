"""The LightningDataModule for a user's own images (``data=image_folder`` and ``data=image_csv``).

Every image is prepared once per run the same way (EXIF-rotated, RGB, shorter side resized to the stored size,
centre square), either read back from the on-disk cache (``runtime.data.cache=true``: one uint8 tensor, served like
CIFAR-10) or decoded by DataLoader workers. Cropping, flipping and normalisation happen per batch on the device,
so the cache changes how fast images arrive, never what the model sees.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from scalegrid.data.arrays import ImageArrays
from scalegrid.data.augment import Augmentation, center_crop, normalize, resize
from scalegrid.data.image_sources import ImageListing
from scalegrid.data.image_store import ImageStore, ScannedImages, mean_and_std
from scalegrid.data.images import prepare_image, stored_size_for
from scalegrid.data.loader import EpochBatches, TensorBatchLoader, resident_device
from scalegrid.data.normalization import choose_normalization
from scalegrid.data.subsets import (
    check_fraction,
    check_share,
    nested_fraction,
    select_classes,
    split_by_shares,
    validation_subset,
)
from scalegrid.errors import ScalegridError

log = logging.getLogger(__name__)

BAD_IMAGE_POLICIES = ("error", "skip")


def default_workers() -> int:
    """One DataLoader worker per CPU core this process may use, at most 8."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


class DecodedImages(Dataset):
    """Decodes each image on access (in DataLoader workers): (uint8 stored square, label)."""

    def __init__(self, paths: Sequence[Path], labels: np.ndarray, stored_size: int) -> None:
        self.paths = list(paths)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.stored_size = stored_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = int(index)
        try:
            image = prepare_image(self.paths[index], self.stored_size)
        except Exception as error:
            raise ScalegridError(
                f"{self.paths[index]} cannot be decoded any more ({error}): it changed during the run; fix or remove it"
            ) from error
        return image, self.labels[index]


def test_source_of(splits: np.ndarray | None) -> str:
    """Which images a run's test split is, in words, from the split each image was given (None: none given)."""
    if splits is not None and (splits == "test").any():
        return "the given test split"
    if splits is not None and (splits == "val").any():
        return "the given val split (no test split given; validation carved from train by data.val_size)"
    return "carved from the images by data.test_size"


class ImageFileDataModule(pl.LightningDataModule):
    """Train/val/test from a user's image files: given splits are kept, missing ones carved out, stratified and seeded."""

    def __init__(
        self,
        list_images: Callable[[], ImageListing],
        val_size: float = 0.1,
        test_size: float = 0.1,
        val_eval_size: int | float | None = None,
        fraction: float = 1.0,
        split_seed: int = 0,
        classes: list[int | str] | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 128,
        image_size: int = 224,
        resize_size: int | None = None,
        augment: Mapping[str, Any] | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        cache: bool = False,
        cache_dir: str = "outputs/cache",
        num_workers: int | None = None,
        on_bad_image: str = "error",
        shuffle_seed: int = 0,
        imagenet_statistics: bool = False,
    ) -> None:
        super().__init__()
        check_fraction(fraction)
        if on_bad_image not in BAD_IMAGE_POLICIES:
            raise ScalegridError(f"data.on_bad_image={on_bad_image!r} is unknown; choose error or skip")
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if int(value) < 1:
                raise ScalegridError(f"data.{key}={value} must be at least 1")
        if image_size is None or int(image_size) < 8:
            raise ScalegridError(f"data.image_size={image_size} must be at least 8 pixels (224 for ImageNet weights)")
        self.image_size = int(image_size)
        self.stored_size = stored_size_for(self.image_size, resize_size)
        if self.stored_size < self.image_size:
            raise ScalegridError(f"data.resize_size={resize_size} must be at least data.image_size={image_size}")
        if (mean is None) != (std is None):
            raise ScalegridError("data.mean and data.std go together: set both, or leave both null")
        if num_workers is not None and int(num_workers) < 0:
            raise ScalegridError(f"runtime.data.num_workers={num_workers} must be 0 or more (null: one per CPU core)")
        self.list_images = list_images
        self.val_share = check_share("val_size", val_size)
        self.test_share = check_share("test_size", test_size)
        self.val_eval_size = val_eval_size
        self.fraction = fraction
        self.split_seed = split_seed
        self.classes = list(classes) if classes is not None else None
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.augmentation = Augmentation.from_settings(augment)
        self.configured_mean = mean
        self.configured_std = std
        self.cache = bool(cache)
        self.cache_dir = Path(cache_dir).expanduser()
        self.num_workers = default_workers() if num_workers is None else int(num_workers)
        self.on_bad_image = on_bad_image
        self.shuffle_seed = shuffle_seed
        self.imagenet_statistics = imagenet_statistics
        self.mean: tuple[float, ...] = ()
        self.std: tuple[float, ...] = ()
        self.names: tuple[str, ...] = ()
        self.train_set: ImageArrays | DecodedImages | None = None
        self.val_set: ImageArrays | DecodedImages | None = None
        self.test_set: ImageArrays | DecodedImages | None = None
        self.train_pool_size = 0
        self.bad_images: dict[Path, str] = {}
        self._scanned: tuple[ImageListing, ScannedImages] | None = None
        self.test_source = ""  # which images the test split is, in words (set up by setup())

    def prepare_data(self) -> None:
        # Decoding, checking and caching every file happens here, once (Lightning calls this on one process per
        # machine); setup() in other processes then finds every file known. Once set up, there is nothing to do:
        # Lightning calls this again at fit() after train() has set the datamodule up.
        if self._scanned is None and self.train_set is None:
            self._scanned = self._scan()

    def _scan(self) -> tuple[ImageListing, ScannedImages]:
        listing = self.list_images()
        store = ImageStore(self.cache_dir, listing.source, self.stored_size, self.cache, self.num_workers)
        return listing, store.scan(listing.paths)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        listing, scanned = self._scanned or self._scan()
        self._scanned = None  # the split copies what it needs; the whole scan need not stay in memory
        self.bad_images = scanned.bad
        if scanned.bad:
            self._report_bad_images(scanned.bad, listing.source)
        listing = listing.select(scanned.decodable)
        sums, images = scanned.sums, scanned.images
        labels, names = listing.labels, listing.class_names
        kept = np.arange(len(listing))
        if self.classes is not None:
            kept, labels, names = select_classes(labels, names, self.classes)
        splits = None if listing.splits is None else listing.splits[kept]
        self.test_source = test_source_of(splits)
        pool, val, test = split_by_shares(labels, splits, self.val_share, self.test_share, self.split_seed, names)
        missing = sorted(set(labels[pool].tolist()) - set(labels[val].tolist())) if len(val) else []
        if missing:  # the best epoch is then chosen without them: say so, not silently
            log.warning(
                "the validation split has no images of %s: the best epoch is chosen without them (add some to val/)",
                ", ".join(names[i] for i in missing),
            )
        self.train_pool_size = len(pool)
        train = nested_fraction(labels, pool, self.fraction, self.split_seed)
        val = val[validation_subset(labels[val], self.val_eval_size, self.split_seed)]
        self.names = tuple(names)

        # The training pool's statistics, not the fraction's: the whole data-size sweep shares one normalisation.
        dataset_mean, dataset_std = mean_and_std(sums[kept[pool]])
        self.mean, self.std = choose_normalization(
            self.configured_mean, self.configured_std, dataset_mean, dataset_std, self.imagenet_statistics, 3
        )

        def part(indices: np.ndarray) -> ImageArrays | DecodedImages:
            rows = kept[indices]
            if images is not None:
                return ImageArrays(images[torch.as_tensor(rows)], torch.as_tensor(labels[indices]), self.names)
            return DecodedImages([listing.paths[i] for i in rows], labels[indices], self.stored_size)

        self.train_set, self.val_set, self.test_set = part(train), part(val), part(test)

    def _report_bad_images(self, bad: dict[Path, str], source: Path) -> None:
        listed = "; ".join(f"{path} ({reason})" for path, reason in bad.items())
        if self.on_bad_image == "error":
            raise ScalegridError(
                f"{len(bad)} image file(s) under {source} cannot be decoded: {listed}. Fix or remove them, "
                "or set data.on_bad_image=skip to leave them out"
            )
        log.warning("data.on_bad_image=skip: leaving out %d image file(s) that cannot be decoded: %s", len(bad), listed)

    @property
    def class_names(self) -> tuple[str, ...]:
        if not self.names:
            raise RuntimeError("call setup() first")
        return self.names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return 3, self.image_size, self.image_size

    def _loader(self, split: ImageArrays | DecodedImages | None, batch_size: int, train: bool):
        if split is None:
            raise RuntimeError("call setup() first")
        if isinstance(split, ImageArrays):  # runtime.data.cache=true: decoded pixels, kept on the GPU when there is one
            return TensorBatchLoader(
                split,
                batch_size,
                device=resident_device(self.trainer),
                shuffle=train,
                seed=self.shuffle_seed,
                drop_singleton=train,
                equal_shards=train,
            )
        batches = EpochBatches(
            len(split), batch_size, shuffle=train, seed=self.shuffle_seed, drop_singleton=train, equal_shards=train
        )
        return DataLoader(
            split,
            batch_sampler=batches,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self):
        return self._loader(self.train_set, self.batch_size, train=True)

    def val_dataloader(self):
        return self._loader(self.val_set, self.eval_batch_size, train=False)

    def test_dataloader(self):
        return self._loader(self.test_set, self.eval_batch_size, train=False)

    def transform_batch(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        """Stored squares -> the model's input: a random (resized) crop and flip when ``training``, else the centre crop."""
        if self.augmentation.resize_first:  # the whole stored square, resized, for training and evaluation
            images = resize(images, self.image_size)
        if training:
            images = self.augmentation.apply(images, self.image_size)
        else:
            images = center_crop(images, self.image_size)
        return normalize(images, self.mean, self.std)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        training = self.trainer is not None and self.trainer.training
        return self.transform_batch(images, training), labels
