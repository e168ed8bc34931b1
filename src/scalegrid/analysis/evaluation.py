"""Evaluating a finished run again, from its own saved config and checkpoint: metrics, confusion, mistakes."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scalegrid.confusion import per_class_accuracy, row_normalised
from scalegrid.contract.atomic_files import write_atomic
from scalegrid.contract.results import RESULTS_FILE, RunResult, UnreadableResult, read_result, write_json_atomic
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


def locate_run(target: Path) -> RunToEvaluate:
    """A run directory (its best checkpoint, else last.ckpt) or a .ckpt inside one, with the run's resolved config."""
    target = Path(target).expanduser()
    if target.is_file() and target.suffix == ".ckpt":
        checkpoint, run_dir = target, target.parent.parent  # <run>/checkpoints/<name>.ckpt
    elif target.is_dir():
        run_dir = target
        result = _read_result(run_dir)
        best = result.best_checkpoint if result else None
        candidates = [Path(best)] if best else []
        candidates += sorted((run_dir / "checkpoints").glob("best-*.ckpt")) + [run_dir / "checkpoints" / "last.ckpt"]
        checkpoint = next((path for path in candidates if path.is_file()), None)
        if checkpoint is None:
            raise ScalegridError(f"run={target} holds no checkpoint under checkpoints/: give a finished run directory")
    else:
        raise ScalegridError(f"run={target} is neither a run directory nor a .ckpt file")
    result = _read_result(run_dir)
    if result is None or result.config is None:
        raise ScalegridError(
            f"run={target}: {run_dir / RESULTS_FILE} with the run's config is missing; evaluate a finished run"
        )
    return RunToEvaluate(run_dir, checkpoint, result.config)


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
    network = create_model_from_config(model_options, datamodule.num_classes, datamodule.input_shape)
    state_dict, _ = read_checkpoint(run.checkpoint)
    prefix = "network."
    network.load_state_dict(
        {key.removeprefix(prefix): value for key, value in state_dict.items() if key.startswith(prefix)}
    )
    network.eval()
    return run, datamodule, network


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
    run, datamodule, network = load_finished_run(target, data_root)

    loader = datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()
    labels, predictions, losses, wrong_images, wrong_pairs = [], [], [], [], []
    with torch.inference_mode():
        for raw, batch_labels in loader:
            logits = network(datamodule.transform_batch(raw, training=False))
            batch_predictions = logits.argmax(1)
            losses.append(F.cross_entropy(logits, batch_labels, reduction="sum").item())
            labels.append(batch_labels)
            predictions.append(batch_predictions)
            wrong = (batch_predictions != batch_labels).nonzero().flatten()[: max(0, examples - len(wrong_images))]
            wrong_images += list(raw[wrong])
            wrong_pairs += list(zip(batch_labels[wrong].tolist(), batch_predictions[wrong].tolist(), strict=True))
    labels = torch.cat(labels).numpy()
    predictions = torch.cat(predictions).numpy()
    names = list(datamodule.class_names)
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
