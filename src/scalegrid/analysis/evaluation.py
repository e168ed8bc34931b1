"""Evaluating a finished run again, from its own saved config and checkpoint: metrics, confusion, mistakes."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scalegrid.confusion import per_class_accuracy, row_normalised
from scalegrid.contract.atomic_files import write_atomic
from scalegrid.contract.results import (
    RESULTS_FILE,
    RunResult,
    UnreadableResult,
    read_result,
    tested_checkpoint,
    write_json_atomic,
)
from scalegrid.data.create import create_datamodule, data_options
from scalegrid.errors import ScalegridError
from scalegrid.models.registry import create_model_from_config
from scalegrid.models.weights import read_checkpoint

SPLITS = ("test", "val")


@dataclass(frozen=True)
class RunToEvaluate:
    run_dir: Path
    checkpoint: Path
    config: dict[str, Any]
    class_names: list[str] | None = None  # the run's classes, in its network's output order
    relabel: list[int] | None = None  # the data's label i is the network's output relabel[i] (data_root by name)


def locate_run(target: Path) -> RunToEvaluate:
    """A run directory (the checkpoint its record says it tested) or a .ckpt inside one, with the run's config."""
    target = Path(target).expanduser()
    if target.is_file() and target.suffix == ".ckpt":
        checkpoint, run_dir = target, target.parent.parent  # <run>/checkpoints/<name>.ckpt
    elif target.is_dir():
        checkpoint, run_dir = None, target
    else:
        raise ScalegridError(f"run={target} is neither a run directory nor a .ckpt file")
    result = _read_result(run_dir)
    if result is None or result.config is None:
        raise ScalegridError(
            f"run={target}: {run_dir / RESULTS_FILE} with the run's config is missing; evaluate a finished run"
        )
    checkpoint = checkpoint or _tested_file(run_dir, result)
    return RunToEvaluate(run_dir, checkpoint, result.config, list(result.class_names or []) or None)


def _tested_file(run_dir: Path, result: RunResult) -> Path:
    """The checkpoint the run's record says it tested, found where the run is now (never a guess among
    best-*.ckpt); last.ckpt for a record that names none."""
    recorded = tested_checkpoint(result, run_dir)
    if recorded is not None and recorded.is_file():
        return recorded
    if recorded is not None:
        raise ScalegridError(
            f"run={run_dir}: {recorded}, the checkpoint its {RESULTS_FILE} says was tested, is missing; give the "
            "checkpoint to evaluate as run=<file.ckpt>"
        )
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise ScalegridError(f"run={run_dir} holds no checkpoint under checkpoints/: give a finished run directory")
    return last


def _read_result(run_dir: Path) -> RunResult | None:
    try:
        return read_result(run_dir)
    except UnreadableResult:
        return None


def load_finished_run(target: Path, data_root: str | None = None):
    """(run, its datamodule set up, its network with the checkpoint's weights in eval mode), from the run's config."""
    run = locate_run(target)
    config = run.config
    if data_root is not None:  # the data moved since the run: where the dataset's files are now
        places = config.setdefault("runtime", {}).setdefault("data", {})
        places["csv_file" if config["data"].get("name") == "image_csv" else "root"] = data_root
    model_options = dict(config["model"])
    weights = model_options.get("weights")
    options = data_options(config)
    datamodule = create_datamodule(options, shuffle_seed=config["seed"], imagenet_statistics=weights == "imagenet")
    datamodule.prepare_data()
    datamodule.setup("test")
    run = replace(run, relabel=_labels_by_name(run, list(datamodule.class_names), data_root))
    network = create_model_from_config(model_options, datamodule.num_classes, datamodule.input_shape)
    state_dict, _ = read_checkpoint(run.checkpoint)
    prefix = "network."
    weights = {key.removeprefix(prefix): value for key, value in state_dict.items() if key.startswith(prefix)}
    try:
        network.load_state_dict(weights)
    except RuntimeError as error:  # another architecture's or another head's tensors
        first = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), str(error))[:160]
        raise ScalegridError(
            f"run={target}: {run.checkpoint} does not fit the run's model {model_options.get('name')} "
            f"({first}); give a checkpoint of this run, or the run folder the checkpoint belongs to"
        ) from None
    network.eval()
    return run, datamodule, network


def _labels_by_name(run: RunToEvaluate, found: list[str], data_root: str | None) -> list[int] | None:
    """How the data's classes map onto the run's by name; refused when they are not the run's classes."""
    trained = run.class_names
    if not trained or found == trained:
        return None
    where = f"data_root={data_root}" if data_root is not None else "the run's data"
    if sorted(found) != sorted(trained):
        raise ScalegridError(
            f"{where} holds the classes {', '.join(found)}; the run was trained on {', '.join(trained)}: give a folder "
            "with the run's classes, by name"
        )
    return [trained.index(name) for name in found]


def confused_pairs(confusion: np.ndarray, class_names: list[str], top_k: int) -> list[dict[str, Any]]:
    """The ``top_k`` largest off-diagonal shares of the row-normalised confusion matrix, largest first."""
    shares = row_normalised(confusion)
    np.fill_diagonal(shares, 0)
    order = np.argsort(-shares, axis=None, kind="stable")[:top_k]
    pairs = []
    for flat in order:
        true, predicted = np.unravel_index(flat, shares.shape)
        if shares[true, predicted] == 0:
            break
        pairs.append(
            {
                "true": class_names[true],
                "predicted": class_names[predicted],
                "share": float(shares[true, predicted]),
                "count": int(confusion[true, predicted]),
                "text": f"{class_names[true]} → {class_names[predicted]}: {100 * shares[true, predicted]:.1f} %",
            }
        )
    return pairs


def evaluate(
    target: Path, split: str = "test", top_k: int = 5, examples: int = 32, data_root: str | None = None
) -> Path:
    """Evaluate a run's checkpoint on ``split`` and write ``<run>/eval/<split>/``; returns that folder."""
    if split not in SPLITS:
        raise ScalegridError(f"split={split!r} is unknown; choose test or val")
    for key, value in (("top_k", top_k), ("examples", examples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ScalegridError(f"{key}={value!r} must be a whole number of at least 0")
    run, datamodule, network = load_finished_run(target, data_root)

    loader = datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()
    labels, predictions, losses, wrong_images, wrong_pairs = [], [], [], [], []
    with torch.inference_mode():
        relabel = None if run.relabel is None else torch.tensor(run.relabel)
        for raw, batch_labels in loader:
            if relabel is not None:  # the data's class order is not the run's: compare by name
                batch_labels = relabel[batch_labels]
            logits = network(datamodule.transform_batch(raw, training=False))
            batch_predictions = logits.argmax(1)
            losses.append(F.cross_entropy(logits, batch_labels, reduction="sum").item())
            labels.append(batch_labels)
            predictions.append(batch_predictions)
            wrong = (batch_predictions != batch_labels).nonzero().flatten()[: max(0, examples - len(wrong_images))]
            wrong_images += list(raw[wrong])
            wrong_pairs += list(zip(batch_labels[wrong].tolist(), batch_predictions[wrong].tolist(), strict=True))
    if not labels:
        size = run.config.get("data", {}).get("val_size")
        raise ScalegridError(
            f"split={split}: the run holds no {split} images"
            + (f" (it was trained with data.val_size={size})" if split == "val" else "")
            + "; evaluate split=test"
        )
    labels = torch.cat(labels).numpy()
    predictions = torch.cat(predictions).numpy()
    names = run.class_names or list(datamodule.class_names)
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)

    out_dir = run.run_dir / "eval" / split
    metrics = {
        "split": split,
        "checkpoint": str(run.checkpoint),
        "images": int(len(labels)),
        "accuracy": float((labels == predictions).mean()),
        "loss": float(sum(losses) / len(labels)),
        "class_names": names,
        "per_class_acc": per_class_accuracy(confusion.tolist()),
        "confused_pairs": confused_pairs(confusion, names, top_k),
        "confusion_matrix": confusion.tolist(),
    }
    _write_outputs(out_dir, metrics, confusion, names, wrong_images, wrong_pairs)
    return out_dir


def _write_outputs(out_dir: Path, metrics: dict, confusion: np.ndarray, names: list[str], images, pairs) -> None:
    from scalegrid.analysis.plots import confusion_figure, examples_figure, save_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    normalised = row_normalised(confusion)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["true \\ predicted", *names])
    for name, row in zip(names, normalised, strict=True):
        writer.writerow([name, *(f"{value:.6f}" for value in row)])
    write_atomic(out_dir / "confusion.csv", lambda stream: stream.write(text.getvalue().encode()))
    title = f"{metrics['split']} accuracy {100 * metrics['accuracy']:.2f} %"
    save_figure(confusion_figure(confusion.tolist(), names, title), out_dir / "confusion.png")
    if images:
        titles = [f"{names[true]} → {names[predicted]}" for true, predicted in pairs]
        save_figure(examples_figure(images, titles), out_dir / "misclassified.png")
    write_json_atomic(out_dir / "metrics.json", metrics)
