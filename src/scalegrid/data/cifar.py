"""CIFAR-10 from the official python batches, through torchvision's CIFAR10 class."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import check_integrity

from scalegrid.data.arrays import ImageArrays
from scalegrid.errors import ScalegridError

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class _UnverifiedCIFAR10(CIFAR10):
    """CIFAR10 that checks files exist but not their md5 (for data in the official format that is not the official data)."""

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}


def load_cifar10(root: Path, train: bool, download: bool, verify_checksums: bool) -> ImageArrays:
    """Load one official split of CIFAR-10 from ``root/cifar-10-batches-py`` into memory."""
    folder = Path(root) / CIFAR10.base_folder
    dataset_class = CIFAR10 if verify_checksums else _UnverifiedCIFAR10
    if folder.is_dir():
        _check_files(folder, dataset_class)
    elif not download:
        raise ScalegridError(
            f"CIFAR-10 not found: {folder} does not exist. Set DATA_DIR (or runtime.data.root) to the folder that holds "
            "cifar-10-batches-py/, or set data.download=true on a machine with internet"
        )
    try:
        dataset = dataset_class(str(root), train=train, download=download and not folder.is_dir())
    except Exception as error:  # torchvision raises URLError/RuntimeError/pickle errors with no file name
        raise ScalegridError(
            f"CIFAR-10 could not be loaded from {folder} ({type(error).__name__}: {error}). Put the official python "
            "batches there (cifar-10-python.tar.gz, extracted), or set DATA_DIR to the folder that holds them"
        ) from None
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    return ImageArrays(images, torch.as_tensor(dataset.targets, dtype=torch.long), tuple(dataset.classes))


def _check_files(folder: Path, dataset_class: type[CIFAR10]) -> None:
    """Name the first missing or corrupt batch file, which torchvision's own check does not."""
    for name, md5 in [
        *dataset_class.train_list,
        *dataset_class.test_list,
        [dataset_class.meta["filename"], None],
    ]:
        path = folder / name
        if not path.is_file():
            raise ScalegridError(f"CIFAR-10 file {path} is missing: restore the official python batches in {folder}")
        if md5 is not None and not check_integrity(str(path), md5):
            raise ScalegridError(
                f"CIFAR-10 file {path} fails its md5 check (corrupt or not the official file): restore it, or set "
                "data.verify_checksums=false for your own data in the official format"
            )
