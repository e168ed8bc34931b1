"""Cell identity: which settings make two runs the same grid cell, by the structure of the config.

Everything under ``runtime`` (paths, loggers, checkpoint bookkeeping, progress bars, threads, workers, caches,
compilation) says where things go and how fast they run; everything else defines what a run computes. Two runs are
the same cell when their migrated, resolved configs agree outside ``runtime``. A new key is on the defining side
unless it is put under ``runtime``: the safe side, since a wrongly defining key refuses a skip, never reuses a result.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

RUNTIME = "runtime"  # the subtree of settings that never change what a run computes


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b.c": leaf}`` for every leaf of nested dicts (an empty dict is a leaf)."""
    if isinstance(tree, dict) and tree:
        return {k: v for key, value in tree.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): tree} if prefix else {}


def is_runtime(key: str) -> bool:
    """Whether a dotted config key only says where things go or how fast they run."""
    return key == RUNTIME or key.startswith(RUNTIME + ".")


def defining_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The flattened settings that define a cell: every leaf outside ``runtime`` (Hydra's own block excluded)."""
    return {
        key: value for key, value in flatten(config).items() if not is_runtime(key) and key.split(".")[0] != "hydra"
    }


def identity_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every defining setting that differs between two current-layout configs."""
    old, new = defining_settings(stored), defining_settings(current)
    return [
        f"{key}: {old.get(key)} -> {new.get(key)}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def stored_overrides(differences: list[str], shown: int = 3) -> str:
    """The command-line overrides that put back the stored values of ``identity_differences``' lines."""
    overrides = []
    for line in differences[:shown]:
        key, _, change = line.partition(": ")
        old = change.split(" -> ")[0]
        overrides.append(f"{key}={'null' if old == 'None' else old}")
    return " ".join(overrides) + (" ..." if len(differences) > shown else "")


def describe_differences(differences: list[str], shown: int = 3) -> str:
    return "; ".join(differences[:shown]) + ("; ..." if len(differences) > shown else "")


def weights_tag(weights: str | None) -> str:
    """A folder name for ``model.weights``, unique to the file and readable: scratch, imagenet, pretrained, or
    ``from_<grid>.<cell>`` for a checkpoint inside a grid (``from_demo_source.resnet18.frac0.25.scratch.seed0``; a
    file other than last.ckpt adds its stem), else ``from_<folder>.<stem>-<6 hex of its absolute path>``."""
    if weights in (None, "None", "null"):
        return "scratch"
    if weights in ("imagenet", "pretrained"):  # pretrained: the checkpoint of the `pretrained` key (models/weights.py)
        return str(weights)
    path = Path(str(weights)).expanduser()
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    stem = "" if path.name == "last.ckpt" else path.stem
    parts = [part for part in run.parts if part not in ("/", "")]
    if "grids" in parts[:-1]:
        cell = parts[len(parts) - parts[::-1].index("grids") :]  # the grid and the cell's folders under it
        return "from_" + ".".join([*cell, *([stem] if stem else [])])
    place = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:6]
    return f"from_{'.'.join([*parts[-1:], *([stem] if stem else [])]) or path.stem}-{place}"


def legacy_weights_tag(weights: str | None) -> str:
    """The folder name version 4 and earlier gave ``model.weights``: ``from_<the run folder's last two names>``, shared
    by every ``.../full/seed0`` checkpoint (kept to find, and move, a cell folder of an older grid)."""
    tag = weights_tag(weights)
    if not tag.startswith("from_"):
        return tag
    path = Path(str(weights))
    run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return "from_" + "_".join(part for part in run.parts[-2:] if part not in ("/", ""))
