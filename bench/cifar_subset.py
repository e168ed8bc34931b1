"""A small CIFAR-10 in the official python-batch format, cut from the real one, for machines that cannot hold it all.

Takes the first --train-per-class images of each class from the official training batches and --test-per-class from
the test batch, and writes them as cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} under OUT. The
default, 1,000 + 200 per class (12,000 images), is 37 MB: small enough to travel with the project to a device machine.
The files are not the official ones, so train with data.verify_checksums=false:

    python bench/cifar_subset.py /tmp/cifar-small
    DATA_DIR=/tmp/cifar-small python src/train.py data.verify_checksums=false ...
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
from data_location import data_dir

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{index}" for index in range(1, 6)]


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open("rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    return np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"], dtype=np.int64)


def first_per_class(data: np.ndarray, labels: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` images of each class, in their original order."""
    keep = np.sort(np.concatenate([np.flatnonzero(labels == cls)[:per_class] for cls in np.unique(labels)]))
    return data[keep], labels[keep]


def write_batch(path: Path, data: np.ndarray, labels: np.ndarray, name: str) -> None:
    batch = {  # str keys, as the official files read with torchvision's encoding="latin1"
        "batch_label": name,
        "labels": labels.tolist(),
        "data": data,
        "filenames": [f"{name}_{index}.png" for index in range(len(labels))],
    }
    with path.open("wb") as handle:
        pickle.dump(batch, handle, protocol=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write cifar-10-batches-py/ into")
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    args = parser.parse_args()
    source = data_dir(FOLDER) / FOLDER
    parts = [read_batch(source / name) for name in TRAIN_BATCHES]
    train = first_per_class(
        np.concatenate([data for data, _ in parts]),
        np.concatenate([labels for _, labels in parts]),
        args.train_per_class,
    )
    test = first_per_class(*read_batch(source / "test_batch"), args.test_per_class)
    target = args.out / FOLDER
    target.mkdir(parents=True, exist_ok=True)
    for index, (data, labels) in enumerate(zip(np.array_split(train[0], 5), np.array_split(train[1], 5), strict=True)):
        write_batch(target / TRAIN_BATCHES[index], data, labels, f"training batch {index + 1} of 5 (subset)")
    write_batch(target / "test_batch", *test, "testing batch 1 of 1 (subset)")
    (target / "batches.meta").write_bytes((source / "batches.meta").read_bytes())
    size = sum(path.stat().st_size for path in target.iterdir())
    print(f"{target}: {len(train[1]):,} training and {len(test[1]):,} test images, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
