"""The content of a checkpoint a cell starts from, as a SHA-256: part of what the cell is.

A cell that starts from ``model.weights=<file>`` (or ``pretrained``, resolved to a file) records the file's digest in
its ``results.json`` (``weights_sha256``). A re-run whose file now has another digest (the source grid was trained
again) is not the same cell: it is refused with the way out, as any other changed setting is, instead of being
skipped. A result recorded before digests were kept (no ``weights_sha256``) is taken as it is: older grids still
skip. ImageNet weights are torchvision's fixed files (their digest is in their name) and need none.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CACHE: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> digest: a grid hashes each source once
CHUNK = 1 << 20


def weights_digest(weights: str | None) -> str | None:
    """The SHA-256 of the file ``model.weights`` names; None for scratch, ImageNet or a file that is not there."""
    if weights in (None, "", "None", "null", "imagenet", "pretrained"):
        return None
    path = Path(str(weights)).expanduser()
    if not path.is_file():
        return None
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
        _CACHE[key] = digest.hexdigest()
    return _CACHE[key]


def changed_weights(stored_digest: str | None, weights: str | None) -> str | None:
    """``"sha256 <old> -> <new>"`` when the file now differs from the one a finished cell started from, else None."""
    if not stored_digest:
        return None  # recorded before digests were kept, or a cell without a source file
    current = weights_digest(weights)
    if current is None or current == stored_digest:
        return None  # the same file; or it is gone, and the result still describes the file it had
    return f"sha256 {stored_digest[:12]}… -> {current[:12]}…"
