"""The LightningDataModule for the built-in datasets: official test split apart, seeded val split, nested fractions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from scalegrid.data import cifar, mnist
from scalegrid.data.arrays import ImageArrays
from scalegrid.data.augment import Augmentation, normalize, resize
from scalegrid.data.loaded_splits import load_once
from scalegrid.data.loader import TensorBatchLoader, resident_device
from scalegrid.data.normalization import choose_normalization
from scalegrid.data.subsets import (
    check_fraction,
    nested_fraction,
    select_classes,
    split_train_val,
    stratified_test_subset,
    validation_subset,
)
from scalegrid.errors import ScalegridError


@dataclass(frozen=True)
class BuiltinDataset:
    """How to load a built-in dataset, and its normalisation statistics."""

    load: Callable[[Path, bool, bool, bool], ImageArrays]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    folder: str  # where under the data root its files are


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "cifar10": BuiltinDataset(cifar.load_cifar10, cifar.MEAN, cifar.STD, "cifar-10-batches-py"),
    "mnist": BuiltinDataset(mnist.load_mnist, mnist.MEAN, mnist.STD, "MNIST/raw"),
}


class BuiltinDataModule(pl.LightningDataModule):
    """Train/val carved from the official training set; the official test set is only ever the test split."""

    def __init__(
        self,
        name: str,
        root: str,
        fraction: float = 1.0,
        val_size: int | float = 5000,
        val_eval_size: int | float | None = None,
        split_seed: int = 0,
        batch_size: int = 128,
        eval_batch_size: int = 512,
        augment: Mapping[str, Any] | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        download: bool = True,
        verify_checksums: bool = True,
        classes: list[int | str] | None = None,
        image_size: int | None = None,
        test_subset: int | float | None = None,
        shuffle_seed: int = 0,
        imagenet_statistics: bool = False,
    ) -> None:
        super().__init__()
        if name not in BUILTIN_DATASETS:
            raise ScalegridError(f"data.name={name!r} is unknown; choose one of {', '.join(BUILTIN_DATASETS)}")
        check_fraction(fraction)  # before any data is loaded
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if int(value) < 1:
                raise ScalegridError(f"data.{key}={value} must be at least 1")
        self.spec = BUILTIN_DATASETS[name]
        self.name = name
        self.root = Path(root).expanduser()
        self.fraction = fraction
        self.val_size = val_size
        self.val_eval_size = val_eval_size
        self.split_seed = split_seed
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.augmentation = Augmentation.from_settings(augment)
        if (mean is None) != (std is None):
            raise ScalegridError("data.mean and data.std go together: set both, or leave both null")
        if image_size is not None and int(image_size) < 8:
            raise ScalegridError(
                f"data.image_size={image_size} must be at least 8 pixels (or null for the native size)"
            )
        self.configured_mean = mean
        self.configured_std = std
        self.imagenet_statistics = imagenet_statistics
        self.mean: tuple[float, ...] = ()
        self.std: tuple[float, ...] = ()
        self.classes = list(classes) if classes is not None else None
        self.image_size = int(image_size) if image_size is not None else None
        self.download = download
        self.verify_checksums = verify_checksums
        self.shuffle_seed = shuffle_seed
        self.train_set: ImageArrays | None = None
        self.val_set: ImageArrays | None = None
        self.test_set: ImageArrays | None = None
        self.train_pool_size = 0
        self._loaded: dict[bool, ImageArrays] = {}
        self.test_subset = test_subset
        self.test_source = "the official test set"  # which images the test split is, in words

    def _load(self, train: bool) -> ImageArrays:
        if train in self._loaded:
            return self._loaded[train]
        if not self.root.is_dir():
            raise ScalegridError(
                f"runtime.data.root={self.root} is not a directory: set DATA_DIR (or runtime.data.root) to the folder that holds "
                f"the {self.name} files"
            )
        self._loaded[train] = load_once(
            self.root / self.spec.folder,
            (self.name, train, self.verify_checksums),
            lambda: self.spec.load(self.root, train, self.download, self.verify_checksums),
        )
        return self._loaded[train]

    def prepare_data(self) -> None:
        # Downloads (when allowed and needed) happen once here; setup() then only reads.
        self._load(train=True)
        self._load(train=False)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        official_train = self._only_requested_classes(self._load(train=True))
        labels = official_train.labels.numpy()
        pool, val = split_train_val(labels, self.val_size, self.split_seed)
        self.train_pool_size = len(pool)
        train = nested_fraction(labels, pool, self.fraction, self.split_seed)
        val = val[validation_subset(labels[val], self.val_eval_size, self.split_seed)]
        self.train_set = official_train.select(train)
        self.val_set = official_train.select(val)
        official_test = self._only_requested_classes(self._load(train=False))
        kept = stratified_test_subset(official_test.labels.numpy(), self.test_subset, self.split_seed)
        self.test_set = official_test.select(kept) if len(kept) < len(official_test.labels) else official_test
        if self.test_set is not official_test:
            self.test_source = (
                f"a fixed stratified {len(kept):,} of the {len(official_test.labels):,} official test images"
            )
        self._loaded.clear()
        self.mean, self.std = choose_normalization(
            self.configured_mean,
            self.configured_std,
            self.spec.mean,
            self.spec.std,
            self.imagenet_statistics,
            self.train_set.images.shape[1],
        )

    def _only_requested_classes(self, arrays: ImageArrays) -> ImageArrays:
        if self.classes is None:
            return arrays
        kept, labels, names = select_classes(arrays.labels.numpy(), arrays.class_names, self.classes)
        return ImageArrays(arrays.images[kept], torch.from_numpy(labels).long(), names)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self._require(self.test_set).class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) as the model sees it: after resizing to ``image_size``."""
        channels, height, width = self._require(self.train_set).images.shape[1:]
        if self.image_size is not None:
            return channels, self.image_size, self.image_size
        return channels, height, width

    def _require(self, arrays: ImageArrays | None) -> ImageArrays:
        if arrays is None:
            raise RuntimeError("call setup() first")
        return arrays

    def train_dataloader(self) -> TensorBatchLoader:
        return TensorBatchLoader(
            self._require(self.train_set),
            self.batch_size,
            device=resident_device(self.trainer),
            shuffle=True,
            seed=self.shuffle_seed,
            drop_singleton=True,
            equal_shards=True,
        )

    def val_dataloader(self) -> TensorBatchLoader:
        device = resident_device(self.trainer)
        return TensorBatchLoader(self._require(self.val_set), self.eval_batch_size, device=device, shuffle=False)

    def test_dataloader(self) -> TensorBatchLoader:
        device = resident_device(self.trainer)
        return TensorBatchLoader(self._require(self.test_set), self.eval_batch_size, device=device, shuffle=False)

    def transform_batch(self, images: torch.Tensor, training: bool) -> torch.Tensor:
        """uint8 batch -> the model's input: augmented when ``training``, normalised, resized to ``image_size``."""
        resize_first = training and self.augmentation.resize_first and self.image_size is not None
        if resize_first:
            images = resize(images, self.image_size)
        if training:
            images = self.augmentation.apply(images, images.shape[-1])  # crops keep the batch's size
        images = normalize(images, self.mean, self.std)
        if self.image_size is not None and not resize_first:
            images = resize(images, self.image_size)  # normalising and bilinear resizing commute
        return images

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        training = self.trainer is not None and self.trainer.training
        return self.transform_batch(images, training), labels
