"""MNIST from the official IDX files (gzipped or extracted), downloaded by torchvision's MNIST class when absent."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import MNIST

from scalegrid.data.arrays import ImageArrays
from scalegrid.errors import ScalegridError

MEAN = (0.1307,)
STD = (0.3081,)
CLASS_NAMES = tuple(str(digit) for digit in range(10))
_MD5 = dict(MNIST.resources)
_IDX_MAGIC = {
    1: 0x00000801,
    3: 0x00000803,
}  # unsigned-byte IDX files with 1 (labels) or 3 (images) dimensions


def load_mnist(root: Path, train: bool, download: bool, verify_checksums: bool) -> ImageArrays:
    """Load one official split of MNIST from ``root/MNIST/raw`` into memory.

    The IDX files are read in place, gzipped or not, so a read-only data folder works.
    """
    raw = Path(root) / "MNIST" / "raw"
    prefix = "train" if train else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    if not all(_find(raw, stem) for stem in stems):
        if not download:
            raise ScalegridError(
                f"MNIST not found in {raw}: put {stems[0]}.gz and {stems[1]}.gz there, or set DATA_DIR (or runtime.data.root) "
                "to the folder that holds MNIST/raw/"
            )
        try:
            MNIST(str(root), train=train, download=True)
        except Exception as error:
            raise ScalegridError(
                f"MNIST not found in {raw} and the download failed ({type(error).__name__}). Put the official "
                "*-ubyte.gz files there, or set DATA_DIR to the folder that holds MNIST/raw/"
            ) from None
    images = _read_idx(_find(raw, stems[0], verify_checksums), ndim=3, verify_checksums=verify_checksums)
    labels = _read_idx(_find(raw, stems[1], verify_checksums), ndim=1, verify_checksums=verify_checksums)
    if len(images) != len(labels):
        raise ScalegridError(f"MNIST files in {raw} disagree: {len(images)} images but {len(labels)} labels")
    return ImageArrays(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels).long(), CLASS_NAMES)


def _find(raw: Path, stem: str, verified: bool = False) -> Path | None:
    """The file to read: the extracted one, or the .gz; with ``verified`` the .gz first, since only the official .gz
    files have published md5s (an extracted file beside a verified .gz would be used unverified)."""
    order = (raw / f"{stem}.gz", raw / stem) if verified else (raw / stem, raw / f"{stem}.gz")
    for path in order:
        if path.is_file():
            return path
    return None


def _read_idx(path: Path, ndim: int, verify_checksums: bool) -> np.ndarray:
    payload = path.read_bytes()
    if verify_checksums and path.suffix == ".gz" and path.name in _MD5:
        if hashlib.md5(payload).hexdigest() != _MD5[path.name]:
            raise ScalegridError(
                f"MNIST file {path} fails its md5 check (corrupt or not the official file): restore it, or set "
                "data.verify_checksums=false for your own data in the official format"
            )
    try:
        if path.suffix == ".gz":
            payload = gzip.decompress(payload)
    except (OSError, EOFError) as error:
        raise ScalegridError(f"MNIST file {path} is not a readable gzip file ({error}): restore it") from None
    header = 4 * (ndim + 1)
    if len(payload) < header or int.from_bytes(payload[:4], "big") != _IDX_MAGIC[ndim]:
        raise ScalegridError(f"MNIST file {path} is not a {ndim}-d unsigned-byte IDX file: restore it")
    shape = tuple(int.from_bytes(payload[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(payload) != expected:
        raise ScalegridError(
            f"MNIST file {path} is truncated or padded ({len(payload)} bytes, its header promises {expected}): restore it"
        )
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(shape).copy()
