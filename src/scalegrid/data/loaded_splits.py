"""Official splits decoded once per process: the cells of a grid that share a dataset's files share its arrays.

A grid run by Hydra's basic launcher (or by each joblib worker) trains its cells one after another in one process;
without this each cell would read, check and decompress the same files again (a third of a second for MNIST). An
entry is keyed by the files themselves (their names, sizes and modification times), so a changed file is read anew.
The arrays are shared, never written: every split and subset selects from them into new tensors.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from scalegrid.data.arrays import ImageArrays

KEPT = 4  # splits held at once (the train and test splits of two datasets): CIFAR-10's training split is 150 MB
_loaded: OrderedDict[tuple, ImageArrays] = OrderedDict()


def files_fingerprint(folder: Path) -> tuple | None:
    """The names, sizes and modification times of the files in ``folder``; None when it does not exist."""
    if not folder.is_dir():
        return None
    stats = [(entry.name, entry.stat()) for entry in sorted(folder.iterdir()) if entry.is_file()]
    return tuple((name, stat.st_size, stat.st_mtime_ns) for name, stat in stats)


def load_once(folder: Path, key: tuple, load: Callable[[], ImageArrays]) -> ImageArrays:
    """``load()``'s arrays, from this process's earlier call with the same ``key`` over unchanged files in
    ``folder`` when there was one."""
    fingerprint = files_fingerprint(folder)
    entry = (str(folder.resolve()), key, fingerprint)
    if fingerprint is not None and entry in _loaded:
        _loaded.move_to_end(entry)
        return _loaded[entry]
    arrays = load()
    fingerprint = files_fingerprint(folder)  # a download may have just created the files
    if fingerprint is not None:
        _loaded[(str(folder.resolve()), key, fingerprint)] = arrays
        while len(_loaded) > KEPT:
            _loaded.popitem(last=False)
    return arrays


def forget_loaded() -> None:
    """Drop every kept split (tests; a process that wants its memory back)."""
    _loaded.clear()
