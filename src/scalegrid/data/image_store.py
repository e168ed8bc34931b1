"""What is known of a dataset's image files at one stored size, kept on disk between runs.

For every file, keyed by its path, size and modification time: its per-channel pixel sums (for normalisation
statistics) or the reason it cannot be decoded. With ``runtime.data.cache=true`` also its decoded pixels, as one uint8
tensor. A file that changes gets a new key and is decoded again; nothing else is.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from scalegrid.contract.atomic_files import write_atomic
from scalegrid.data.images import prepare_image
from scalegrid.errors import ScalegridError

_FORMAT = 1


def file_key(path: Path) -> str:
    """Identifies one version of a file: absolute path, size in bytes, modification time in ns."""
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def pixel_sums(image: torch.Tensor) -> list[float]:
    """[sum R, sum G, sum B, sum R², sum G², sum B², pixels] of a (3, H, W) uint8 image scaled to [0, 1]."""
    values = image.reshape(3, -1).double() / 255.0
    return [*values.sum(1).tolist(), *(values**2).sum(1).tolist(), float(values.shape[1])]


def mean_and_std(sums: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation from rows of :func:`pixel_sums`."""
    total = np.asarray(sums, dtype=np.float64).sum(0)
    mean = total[:3] / total[6]
    std = np.sqrt(np.maximum(total[3:6] / total[6] - mean**2, 1e-12))
    return tuple(mean.tolist()), tuple(std.tolist())


@dataclass(frozen=True)
class ScannedImages:
    """The outcome of a scan, in the order of the paths given."""

    decodable: np.ndarray  # indices of the paths that decode
    bad: dict[Path, str]  # path -> why it cannot be decoded
    sums: np.ndarray  # (len(decodable), 7) rows of pixel_sums
    images: torch.Tensor | None  # (len(decodable), 3, S, S) uint8 with keep_pixels, else None


def _decode(path: Path, stored_size: int) -> tuple[torch.Tensor | None, str | None]:
    try:
        return prepare_image(path, stored_size), None
    except Exception as error:  # PIL raises OSError, ValueError, SyntaxError, DecompressionBombError, ...
        return None, f"{type(error).__name__}: {error}"


class ImageStore:
    """The per-file record (and optional pixel cache) of one data source at one stored size, under ``cache_dir``."""

    def __init__(self, cache_dir: Path, source: Path, stored_size: int, keep_pixels: bool, workers: int) -> None:
        digest = hashlib.sha1(str(Path(source).resolve()).encode()).hexdigest()[:10]
        stem = f"{Path(source).stem or 'data'}-{digest}-{stored_size}px"
        self.cache_dir = Path(cache_dir).expanduser()
        self.record_file = self.cache_dir / f"{stem}.json"
        self.pixels_file = self.cache_dir / f"{stem}.pt"
        self.stored_size = stored_size
        self.keep_pixels = keep_pixels
        self.workers = max(1, workers)

    def _read_record(self) -> dict[str, dict]:
        try:
            record = json.loads(self.record_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {}  # a missing or unreadable record only costs a rescan
        except OSError as error:  # e.g. a part of cache_dir is a plain file: the record can never be kept there
            raise ScalegridError(
                f"runtime.data.cache_dir={self.cache_dir} cannot hold the image record ({error.strerror}: "
                f"{_blocking_file(self.cache_dir) or error.filename}): point runtime.data.cache_dir at a folder"
            ) from None
        if not isinstance(record, dict):
            return {}
        return record.get("files", {}) if record.get("format") == _FORMAT else {}

    def _read_pixels(self) -> tuple[dict[str, int], torch.Tensor | None]:
        if not self.keep_pixels or not self.pixels_file.is_file():
            return {}, None
        try:
            stored = torch.load(self.pixels_file, map_location="cpu", weights_only=True, mmap=True)
            images = stored["images"]
            if images.dtype != torch.uint8 or tuple(images.shape[1:]) != (3, self.stored_size, self.stored_size):
                return {}, None
            return {key: row for row, key in enumerate(stored["keys"])}, images
        except Exception:  # an unreadable cache is rebuilt, never trusted
            return {}, None

    def scan(self, paths: tuple[Path, ...]) -> ScannedImages:
        """Decode what is not known yet (in ``workers`` threads, with a progress bar), save, and return everything."""
        keys = [file_key(path) for path in paths]
        record = self._read_record()
        rows, cached = self._read_pixels()
        missing = [
            i
            for i, key in enumerate(keys)
            if key not in record or (self.keep_pixels and "sums" in record[key] and key not in rows)
        ]
        fresh: dict[str, torch.Tensor] = {}
        if missing:
            what = "decoding and caching" if self.keep_pixels else "checking"
            with ThreadPoolExecutor(self.workers) as pool:
                decoded = pool.map(lambda i: _decode(paths[i], self.stored_size), missing)
                for i, (image, error) in tqdm(
                    zip(missing, decoded, strict=True), total=len(missing), desc=f"{what} images"
                ):
                    if image is None:
                        record[keys[i]] = {"error": error}
                    else:
                        record[keys[i]] = {"sums": pixel_sums(image)}
                        if self.keep_pixels:
                            fresh[keys[i]] = image

        decodable = np.asarray([i for i, key in enumerate(keys) if "sums" in record[key]], dtype=np.int64)
        bad = {paths[i]: record[key]["error"] for i, key in enumerate(keys) if "error" in record[key]}
        sums = np.asarray([record[keys[i]]["sums"] for i in decodable], dtype=np.float64).reshape(-1, 7)
        images = None
        if self.keep_pixels:
            images = torch.empty((len(decodable), 3, self.stored_size, self.stored_size), dtype=torch.uint8)
            for out, i in enumerate(decodable.tolist()):
                images[out] = fresh[keys[i]] if keys[i] in fresh else cached[rows[keys[i]]]
        if missing:
            self._save({key: record[key] for key in keys}, [keys[i] for i in decodable], images)
        return ScannedImages(decodable, bad, sums, images)

    def _save(self, record: dict[str, dict], pixel_keys: list[str], images: torch.Tensor | None) -> None:
        try:
            if images is not None:
                write_atomic(
                    self.pixels_file, lambda stream: torch.save({"keys": pixel_keys, "images": images}, stream)
                )
            text = json.dumps({"format": _FORMAT, "files": record})
            write_atomic(self.record_file, lambda stream: stream.write(text.encode()))
        except OSError as error:
            raise ScalegridError(
                f"runtime.data.cache_dir={self.cache_dir} cannot be written ({error}): point runtime.data.cache_dir at a writable folder"
            ) from error


def _blocking_file(folder: Path) -> str | None:
    """The first part of ``folder``'s path that exists as a plain file (so the folder cannot be made), if any."""
    for part in [folder, *folder.parents]:
        if part.is_file():
            return f"{part} is a file"
    return None
