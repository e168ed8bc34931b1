"""Augmented CIFAR-10 training batches per second: scalegrid's data path vs torchvision's CIFAR10 + DataLoader.

scalegrid: the training set as one uint8 tensor, batches indexed out of it, then the datamodule's own batch transform
(reflect-padded random crop, flip, normalise) as tensor ops. torchvision: `CIFAR10` with `RandomCrop(32, 4,
padding_mode="reflect")`, `RandomHorizontalFlip`, `ToTensor`, `Normalize` through a `DataLoader` with 2 workers, as a
tutorial writes it (a fresh set of workers each epoch). Both serve the same 45,000-image training pool at batch 128;
each figure is the median over --epochs whole epochs. Needs CIFAR-10 under DATA_DIR (or ../shared/data).

    python bench/dataloader.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from data_location import data_dir
from torch.utils.data import DataLoader, Subset
from torchvision import transforms
from torchvision.datasets import CIFAR10

from scalegrid.contract.config_versions import AUGMENT_PRESETS
from scalegrid.data import cifar
from scalegrid.data.datamodule import BuiltinDataModule
from scalegrid.data.subsets import split_train_val
from scalegrid.run.performance import available_cores


def scalegrid_epoch(datamodule: BuiltinDataModule, epoch: int) -> tuple[int, float]:
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(epoch)
    started = time.perf_counter()
    batches = 0
    for images, _labels in loader:
        images = datamodule.transform_batch(images, training=True)
        batches += 1
    return batches, time.perf_counter() - started


def torchvision_epoch(dataset, batch_size: int, workers: int) -> tuple[int, float]:
    started = time.perf_counter()
    batches = 0
    for _images, _labels in DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers):
        batches += 1
    return batches, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="torchvision DataLoader workers")
    args = parser.parse_args()
    torch.set_num_threads(available_cores())

    root = data_dir("cifar-10-batches-py")
    datamodule = BuiltinDataModule(
        "cifar10", str(root), batch_size=args.batch_size, augment=AUGMENT_PRESETS["standard"], download=False
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    pipeline = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4, padding_mode="reflect"),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(cifar.MEAN, cifar.STD),
        ]
    )
    # The same training pool: the official training set minus scalegrid's validation split.
    official = CIFAR10(str(root), train=True, transform=pipeline, download=False)
    pool_indices, _ = split_train_val(np.asarray(official.targets), datamodule.val_size, datamodule.split_seed)
    pool_indices = pool_indices.tolist()
    torchvision_set = Subset(official, pool_indices)

    ours, theirs = [], []
    for epoch in range(args.epochs):
        batches, seconds = scalegrid_epoch(datamodule, epoch)
        ours.append(batches / seconds)
        batches, seconds = torchvision_epoch(torchvision_set, args.batch_size, args.workers)
        theirs.append(batches / seconds)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(
        f"CIFAR-10 training pool of {len(pool_indices)} images, batch {args.batch_size}, median of {args.epochs} epochs"
    )
    print(
        f"scalegrid (uint8 tensor, batched crop/flip/normalise)  {a:8.1f} batches/s  ({a * args.batch_size:,.0f} images/s)"
    )
    print(
        f"torchvision CIFAR10 + transforms, {args.workers} workers           {b:8.1f} batches/s  "
        f"({b * args.batch_size:,.0f} images/s)"
    )
    print(f"ratio scalegrid / torchvision: {a / b:.1f}x")


if __name__ == "__main__":
    main()
