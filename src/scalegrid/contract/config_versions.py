"""Versions of the stored config: where keys moved, and one ``migrate()`` that brings an old config up to date.

A run's resolved config is stored in its ``results.json`` and in every checkpoint. When a key moves, the move is
written here once, and serves twice: stored configs of older versions are migrated before anyone compares or reads
them, and a moved key typed on the command line is still accepted, with a one-line note of its new name.
"""

from __future__ import annotations

import copy
from typing import Any

from scalegrid.contract.identity import flatten

CONFIG_VERSION = 4  # 1: before the runtime subtree (commit b25bc6b and earlier); 2: runtime/, selection, budget;
# 3: sched.t_max, finetune.frozen_bn, data.augment as settings; 4: data.val_eval_size

# Version 1 -> 2: settings that change only where things go or how fast moved under ``runtime``; the choice of the
# tested checkpoint moved out of the (bookkeeping) checkpoint callback; the step budget left the Trainer block.
# The most specific prefix wins. A target of None means the key is gone: scalegrid sets it itself.
MOVED_IN_VERSION_2: dict[str, str | None] = {
    "callbacks.model_checkpoint.monitor": "selection.monitor",
    "callbacks.model_checkpoint.mode": "selection.mode",
    "callbacks.model_checkpoint": "runtime.callbacks.model_checkpoint",
    "callbacks.last_checkpoint": "runtime.callbacks.last_checkpoint",
    "callbacks.step_checkpoint": "runtime.callbacks.step_checkpoint",
    "callbacks.learning_rate_monitor": "runtime.callbacks.learning_rate_monitor",
    "callbacks.progress_bar": "runtime.callbacks.progress_bar",
    "paths": "runtime.paths",
    "logger": "runtime.logger",
    "data.root": "runtime.data.root",
    "data.csv_file": "runtime.data.csv_file",
    "data.image_root": "runtime.data.image_root",
    "data.cache": "runtime.data.cache",
    "data.cache_dir": "runtime.data.cache_dir",
    "data.num_workers": "runtime.data.num_workers",
    "model.compile": "runtime.compile",
    "model.channels_last": "runtime.channels_last",
    "threads": "runtime.threads",
    "download_weights": "runtime.download_weights",
    "loss.finite_check_every_n_steps": "runtime.finite_check_every_n_steps",
    "trainer.budget": "budget",
    "trainer.default_root_dir": None,  # the run directory, set by scalegrid
    "trainer.use_distributed_sampler": None,  # always false: scalegrid's loaders shard themselves
}
# Config groups whose selection (``logger=none``) keeps its name although their content moved.
GROUPS_THAT_MOVED = ("logger", "paths", "callbacks")
ONE_FREE_GPU = "one_free_gpu"  # version 1's trainer.devices value for runtime.claim_gpu=true


def new_key(key: str) -> tuple[str | None, bool]:
    """Where a dotted key of version 1 lives now, and whether it moved (None: the key is gone)."""
    for old in sorted(MOVED_IN_VERSION_2, key=len, reverse=True):
        if key == old or key.startswith(old + "."):
            target = MOVED_IN_VERSION_2[old]
            return (None if target is None else target + key[len(old) :]), True
    return key, False


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = copy.deepcopy(value)
    return tree


def migrate(config: dict[str, Any], version: int | None) -> dict[str, Any]:
    """A stored config of ``version`` (None: version 1, which did not say) in the current layout; a new dict.

    Keys move, and values change form; no defining setting is invented. A setting a later version adds is filled
    in here only with the value that reproduces what the old version did (``sched.t_max: null`` is the old cosine
    horizon); otherwise it stays missing, and a cell stored without it differs from a current one that has it.
    """
    version = 1 if version is None else int(version)
    if version > CONFIG_VERSION:
        from scalegrid.errors import ScalegridError

        raise ScalegridError(
            f"a stored config of version {version} is newer than this scalegrid ({CONFIG_VERSION}): update scalegrid"
        )
    flat = {key: copy.deepcopy(value) for key, value in flatten(config).items()}
    for step in MIGRATIONS[version - 1 :]:
        flat = step(flat)
    return _nest(flat)


def _to_version_2(flat: dict[str, Any]) -> dict[str, Any]:
    moved = {}
    for key, value in flat.items():
        if key == "trainer.devices" and value == ONE_FREE_GPU:
            moved["runtime.claim_gpu"], value = True, 1
        target, _ = new_key(key)
        if target is not None:
            moved[target] = value
    moved.setdefault("runtime.claim_gpu", False)
    return moved


def _to_version_3(flat: dict[str, Any]) -> dict[str, Any]:
    """Version 3: the cosine horizon, the BatchNorm behaviours of frozen layers, one augmentation vocabulary, the
    optional per-epoch test curve."""
    flat = dict(flat)
    flat.setdefault("test_every_epoch", False)  # no per-epoch test curve, as before
    if flat.get("sched.name") == "cosine":
        flat.setdefault("sched.t_max", None)  # null: the whole fit, as before
    if "finetune.train_bn" in flat:
        flat["finetune.frozen_bn"] = "trainable" if flat.pop("finetune.train_bn") else "frozen"
    if isinstance(flat.get("data.augment"), str):
        crop_scale = flat.pop("data.crop_scale", None)
        preset = dict(AUGMENT_PRESETS[flat.pop("data.augment")])
        if crop_scale is not None:
            preset["crop_scale"] = crop_scale
        flat.update({f"data.augment.{key}": value for key, value in preset.items()})
    return flat


def _to_version_4(flat: dict[str, Any]) -> dict[str, Any]:
    """Version 4: data.val_eval_size. Every earlier run validated on its whole validation split, which is null; the
    built-in datasets now default to 1,000, so an older cell differs from a new run of the same command in this
    key alone, and a re-run says so (``data.val_eval_size=null`` continues the old grid as it was made)."""
    flat = dict(flat)
    if any(key.startswith("data.") for key in flat):
        flat.setdefault("data.val_eval_size", None)
    return flat


MIGRATIONS = (_to_version_2, _to_version_3, _to_version_4)  # MIGRATIONS[v - 1] brings version v to v + 1
# Version 2's data.augment names as version 3's settings (conf/augment/<name>.yaml holds the same values).
_NO_AUGMENT = {"resize_first": False, "crop": "none", "crop_padding": 4, "crop_scale": [0.08, 1.0], "flip": 0.0}
AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    "none": {**_NO_AUGMENT, "rotation": 0.0},
    "standard": {**_NO_AUGMENT, "crop": "reflect_pad", "flip": 0.5, "rotation": 0.0},
    "random_crop": {**_NO_AUGMENT, "crop": "random", "flip": 0.5, "rotation": 0.0},
    "random_resized_crop": {**_NO_AUGMENT, "crop": "random_resized", "flip": 0.5, "rotation": 0.0},
}


def rename_override(override: str) -> tuple[str | None, str | None]:
    """A command-line override with an older key rewritten: (the override or None when dropped, a note or None).

    Group selections (``logger=none``) and Hydra's own keys are left alone.
    """
    prefix = "".join(char for char in override[:2] if char in "+~")
    body = override[len(prefix) :]
    key, separator, value = body.partition("=")
    if not separator or key.startswith("hydra") or key in GROUPS_THAT_MOVED or "/" in key or "@" in key:
        return override, None
    if key == "trainer.devices" and value == ONE_FREE_GPU:
        return "runtime.claim_gpu=true", f"trainer.devices={ONE_FREE_GPU} is now runtime.claim_gpu=true"
    if key == "data.augment" and value in AUGMENT_PRESETS:  # version 2's names are version 3's presets
        return f"data/augment={value}", f"data.augment={value} is now data/augment={value}"
    if key == "data.crop_scale":
        return f"{prefix}data.augment.crop_scale={value}", "data.crop_scale is now data.augment.crop_scale"
    if key == "finetune.train_bn":
        mode = "trainable" if value.lower() == "true" else "frozen"
        return f"finetune.frozen_bn={mode}", f"finetune.train_bn={value} is now finetune.frozen_bn={mode}"
    target, moved = new_key(key)
    if not moved:
        return override, None
    if target is None:
        return None, f"{key} is set by scalegrid now; dropped"
    return f"{prefix}{target}={value}", f"{key} is now {target}"


def rename_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """Every override with moved keys rewritten, and a note for each one that moved."""
    renamed, notes = [], []
    for override in overrides:
        new, note = rename_override(override)
        if new is not None:
            renamed.append(new)
        if note is not None:
            notes.append(note)
    return renamed, notes
