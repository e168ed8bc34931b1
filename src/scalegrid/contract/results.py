"""The results contract: ``results.json``, the one file the three phases share.

A run writes one :class:`RunResult` through :func:`write_result`; the grid (skip logic), the report and evaluation
read it through :func:`read_result`, which migrates older files (schema 1 had no ``schema_version`` and the config
keys of that time) so that every reader sees the current layout.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from scalegrid.contract.atomic_files import write_atomic
from scalegrid.contract.config_versions import CONFIG_VERSION, migrate, rename_overrides
from scalegrid.contract.device_defaults import resolve_precision
from scalegrid.contract.selection import natural_mode

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 2  # 1: before this contract (no schema_version); 2: typed, with config_version


class RunStatus(str, Enum):
    """What ``status`` in results.json says. A run killed before it finished leaves no results.json (or an older one)."""

    COMPLETED = "completed"  # trained and tested; the metrics are final
    DIVERGED = "diverged"  # the training loss became NaN or infinite; a result too (this setting does not train)
    FAILED = (
        "failed"  # a grid cell stopped by an error, recorded so the grid could go on; the next invocation retries it
    )

    @property
    def is_final(self) -> bool:
        """A result a re-run keeps: completed and diverged cells are skipped, failed ones run again."""
        return self in (RunStatus.COMPLETED, RunStatus.DIVERGED)


@dataclass
class RunResult:
    """One run's outcome. Fields a status does not produce stay None (a failed cell has no test accuracy)."""

    status: RunStatus
    error: str | None = None  # diverged or failed: what happened, in one line
    traceback: str | None = None  # failed by a bug (not by bad input): where
    test_acc: float | None = None
    test_loss: float | None = None
    best_val_acc: float | None = None
    best_epoch: int | None = None
    val_acc_history: list[float] = field(default_factory=list)
    train_acc: float | None = None  # the last training epoch's accuracy (augmented batches, in train mode)
    train_acc_history: list[float] = field(default_factory=list)  # one entry per training epoch
    selected_by: str | None = None  # best_val_epoch | last_epoch: which epoch's weights were tested
    selection_monitor: str | None = None  # the metric that chose the tested checkpoint (selection.monitor)
    selection_value: float | None = None  # its value in the tested checkpoint's epoch
    test_acc_history: list[float] | None = None  # test_every_epoch: test accuracy after each epoch (never selects)
    per_class_acc: list[float | None] | None = None
    confusion_matrix: list[list[int]] | None = None  # test split, rows: true class
    class_names: list[str] | None = None
    weights: str | None = None  # model.weights as given
    weights_sha256: str | None = None  # the content of the file model.weights named, when it named one
    weights_loaded: dict[str, Any] | None = None  # what initialisation loaded, when weights were given
    finetune: str | None = None  # the fine-tune policy
    params_total: int | None = None
    params_trainable: int | None = None
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    test_source: str | None = None  # which images the test split is, in words (e.g. "the official test set")
    resumed_from: dict[str, int] | None = None  # {"epoch", "global_step"} of the checkpoint a resumed run continued
    epochs: int | None = None
    global_step: int | None = None  # diverged: the step it stopped at
    fit_seconds: float | None = None
    test_seconds: float | None = None
    train_images_per_second: float | None = None
    torch_threads: int | None = None
    epoch_seconds: list[float] | None = None  # each epoch, validation included, over every attempt
    train_epoch_seconds: list[float] | None = None  # the training batches of each epoch
    best_checkpoint: str | None = None  # the tested file, relative to the run folder (checkpoints/best-epoch002.ckpt)
    world_size: int | None = None
    train_images_per_epoch: int | None = None  # summed over DDP ranks
    time_breakdown: dict[str, float] | None = None  # seconds per phase of this invocation, total and unattributed
    hydra_record: dict[str, str] | None = (
        None  # the run's .hydra/*.yaml when it finished, put back when a re-run is refused
    )
    overrides: list[str] = field(default_factory=list)  # the command line's overrides (current key names)
    config: dict[str, Any] | None = None  # the resolved config (current layout), Hydra's block left out
    versions: dict[str, str] | None = None  # python, torch, torchvision, lightning, hydra
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer scalegrid wrote, kept so nothing is lost
    schema_version: int = SCHEMA_VERSION
    config_version: int = CONFIG_VERSION

    def to_json(self) -> dict[str, Any]:
        payload = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        payload["status"] = self.status.value
        return {**self.extra, **payload}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> RunResult:
        """A result from the JSON of any schema version, migrated to the current one."""
        payload = dict(payload)
        config_version = payload.pop("config_version", None)
        payload.pop("schema_version", None)
        if payload.get("config") is not None:
            payload["config"] = migrate(payload["config"], config_version)
        if (config_version or 1) < CONFIG_VERSION and payload.get("overrides"):  # typed in older key names
            payload["overrides"] = rename_overrides(payload["overrides"])[0]
        known = {f.name for f in dataclasses.fields(cls)} - {"extra", "schema_version", "config_version"}
        values = {key: value for key, value in payload.items() if key in known}
        check_field_types(values)
        extra = {key: value for key, value in payload.items() if key not in known}
        return cls(**{**values, "status": RunStatus(values.get("status", RunStatus.FAILED.value))}, extra=extra)


STEP_PHASES = ("train", "validation", "test")  # time_breakdown's phases that are the steps (data feeding included)


def outside_steps(breakdown: dict[str, Any]) -> float:
    """A ``time_breakdown``'s seconds outside the training, validation and test steps: the run's overhead."""
    return float(breakdown["total"]) - sum(float(breakdown.get(name, 0.0)) for name in STEP_PHASES)


def tested_checkpoint(result: RunResult, run_dir: Path) -> Path | None:
    """The file a run tested, found in ``run_dir`` wherever the run has moved since (an older record's absolute path
    is taken by its place under the run folder, ``checkpoints/<name>``)."""
    if not result.best_checkpoint:
        return None
    stored = Path(result.best_checkpoint)
    if not stored.is_absolute():
        return run_dir / stored
    if stored.is_file() and stored.parent.parent.resolve() == run_dir.resolve():
        return stored
    return run_dir / stored.parent.name / stored.name  # <run>/checkpoints/<name>.ckpt, moved with its run


_NUMBER_FIELDS = ("test_acc", "test_loss", "best_val_acc", "train_acc", "fit_seconds", "test_seconds")
_NUMBER_FIELDS += ("train_images_per_second", "selection_value")
_WHOLE_FIELDS = ("best_epoch", "params_total", "params_trainable", "train_size", "val_size", "test_size", "epochs")
_WHOLE_FIELDS += ("global_step", "torch_threads", "world_size", "train_images_per_epoch")
_NUMBER_LIST_FIELDS = ("val_acc_history", "train_acc_history", "test_acc_history", "epoch_seconds")
_NUMBER_LIST_FIELDS += ("train_epoch_seconds",)
_MAPPING_FIELDS = ("config", "versions", "weights_loaded", "resumed_from", "time_breakdown", "hydra_record")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_field_types(values: dict[str, Any]) -> None:
    """Raise ValueError naming the first field of a results.json payload whose value has the wrong type."""

    def wrong(key: str, expected: str) -> ValueError:
        return ValueError(f"{key} is {values[key]!r}, not {expected}")

    for key in _NUMBER_FIELDS:
        if values.get(key) is not None and not _is_number(values[key]):
            raise wrong(key, "a number")
    for key in _WHOLE_FIELDS:
        if values.get(key) is not None and (not _is_number(values[key]) or not float(values[key]).is_integer()):
            raise wrong(key, "a whole number")
    for key in _NUMBER_LIST_FIELDS:
        value = values.get(key)
        if value is not None and (not isinstance(value, list) or not all(_is_number(item) for item in value)):
            raise wrong(key, "a list of numbers")
    for key in _MAPPING_FIELDS:
        if values.get(key) is not None and not isinstance(values[key], dict):
            raise wrong(key, "a mapping")
    overrides = values.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(item, str) for item in overrides):
        raise wrong("overrides", "a list of strings")


class UnreadableResult(Exception):
    """A results.json that is not JSON, or not a result: the run has to be redone."""


def read_result(run_dir: Path) -> RunResult | None:
    """The result in ``run_dir``, migrated to the current layout; None when the run left none.

    Raises UnreadableResult for a damaged file (callers decide: a grid re-runs the cell, a report lists it).
    """
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
        return RunResult.from_json(payload)
    except (OSError, ValueError, TypeError) as error:  # JSONDecodeError is a ValueError; so is an unknown status
        raise UnreadableResult(f"{path} cannot be read ({error})") from None


def write_result(run_dir: Path, result: RunResult) -> Path:
    """Write ``run_dir/results.json`` atomically: readers see the old file or the new one, never half of one."""
    path = Path(run_dir) / RESULTS_FILE
    write_json_atomic(path, result.to_json())
    return path


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON through a temporary file in the same folder and a rename, so readers never see half a file."""
    text = json.dumps(payload, indent=2, allow_nan=True) + "\n"
    write_atomic(path, lambda stream: stream.write(text.encode()))


def library_versions() -> dict[str, str]:
    import hydra
    import pytorch_lightning
    import torch
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning": pytorch_lightning.__version__,
        "hydra": hydra.__version__,
    }


def resolved_config(cfg: Any) -> dict[str, Any]:
    """A run's config as plain data, every interpolation resolved (Hydra's own settings left out)."""
    from omegaconf import OmegaConf

    config = {
        key: OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        for key, value in cfg.items()
        if key != "hydra"
    }
    resolve_precision(config)  # trainer.precision=auto: stored as what runs on this machine
    selection = config.get("selection")
    if isinstance(selection, dict) and selection.get("mode") == "auto":  # stored as the direction it stands for
        config["selection"] = {**selection, "mode": natural_mode(str(selection.get("monitor")))}
    return config
