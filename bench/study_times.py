"""How long each reference study takes at full size on this machine, extrapolated from short timed runs.

For each study, each network of its `model` axis (for arm studies the first arm, the one that trains every layer:
the costliest) trains for 2 epochs on the data at hand with the study's full-size recipe (network, batch, image
size, augmentation, precision). The second epoch's seconds per training image and per validation image, the test's
seconds per image, and the run's fixed cost (start, data loading, checkpoints) then scale to every cell of the full
study: its training-set sizes, validation and test sets, epochs, per-epoch tests and seeds. The estimate assumes the
cells run one after another on this machine. Prints one row per study and writes them as JSON (--out).

    python bench/study_times.py                               # every CIFAR-10 and MNIST study (needs DATA_DIR)
    python bench/study_times.py --only finetune_depth mnist_basics --train-images 5000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from data_location import data_dir

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Every study with a CPU preset (conf/study_size/<study>/), sources aside; those on your own images are left out.
STUDIES = sorted(
    path.parent.name
    for path in (PROJECT_ROOT / "conf" / "study_size").glob("*/cpu.yaml")
    if not path.parent.name.endswith("_source") and path.parent.name != "custom_transfer"
)
OFFICIAL_SIZES = {"cifar10": (50_000, 10_000, 10), "mnist": (60_000, 10_000, 10)}  # train, test, classes


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from scalegrid import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=overrides, return_hydra_config=True)


def cells_of(study: str) -> list[list[str]]:
    """Every cell of the full study, as command-line overrides (the sweep's cartesian product)."""
    params = compose([f"experiment={study}"]).hydra.sweeper.params or {}
    axes = [[f"{key}={value}" for value in str(values).split(",")] for key, values in params.items()]
    return [[f"experiment={study}", *cell] for cell in itertools.product(*axes)]


def cell_shape(overrides: list[str]) -> dict:
    """What one cell computes: its network, images per split, epochs (from the composed config)."""
    from omegaconf import OmegaConf

    cfg = compose(overrides)
    data = OmegaConf.to_container(cfg.data, resolve=False)
    train_total, test_total, classes = OFFICIAL_SIZES[data["name"]]
    share = len(data["classes"]) / classes if data.get("classes") else 1.0
    pool = round(train_total * share)
    val = data["val_size"] if data["val_size"] >= 1 or data["val_size"] == 0 else round(data["val_size"] * pool)
    test = round(test_total * share)
    if data.get("test_subset"):
        subset = data["test_subset"]
        test = min(test, subset if subset >= 1 else round(subset * test))
    return {
        "dataset": data["name"],
        "class_share": share,
        "network": (cfg.model.name, data.get("image_size"), data["batch_size"]),
        "train": round((pool - val) * data["fraction"]),
        "val": int(val),
        "test": test,
        "epochs": int(cfg.trainer.max_epochs),
        "test_every_epoch": bool(cfg.test_every_epoch),
    }


def timed_run(overrides: list[str], shape: dict, train_images: int, val_images: int, epochs: int, out: Path) -> dict:
    """Train one cell (``shape`` from cell_shape) briefly on ``train_images`` images; seconds per image for each
    phase and the fixed cost."""
    from scalegrid.data.datamodule import BUILTIN_DATASETS

    available = len(BUILTIN_DATASETS[shape["dataset"]].load(data_dir(), True, False, False).labels)  # the data at hand
    fraction = min(1.0, train_images / (available * shape["class_share"] - val_images))
    command = [
        sys.executable,
        str(PROJECT_ROOT / "src" / "train.py"),
        *overrides,
        "hydra.mode=RUN",
        f"hydra.run.dir={out}",
        f"trainer.max_epochs={epochs}",
        f"data.val_size={val_images}",
        f"data.fraction={fraction:.6f}",
        "data.test_subset=null",
        "data.verify_checksums=false",  # a subset in the official format (the device machine carries one)
        "data.download=false",
        "test_every_epoch=false",
        "logger=none",
        "runtime.callbacks.progress_bar.refresh_rate=0",
        f"runtime.data.root={data_dir()}",
    ]
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(overrides)} failed:\n{completed.stderr[-2000:]}")
    result = json.loads((out / "results.json").read_text())
    last = len(result["epoch_seconds"]) - 1  # the first epoch also warms up (allocations, cuDNN's choices)
    train_seconds = result["train_epoch_seconds"][last]
    val_seconds = result["epoch_seconds"][last] - train_seconds
    return {
        "network": shape["network"],
        "train_per_image": train_seconds / result["train_size"],
        "val_per_image": max(val_seconds, 0.0) / result["val_size"],
        "test_per_image": result["test_seconds"] / result["test_size"],
        "fixed": wall - sum(result["epoch_seconds"]) - result["test_seconds"],
    }


def estimate(shape: dict, speed: dict) -> float:
    """Seconds for one full-size cell at the measured speeds."""
    epoch = shape["train"] * speed["train_per_image"] + shape["val"] * speed["val_per_image"]
    if shape["test_every_epoch"]:
        epoch += shape["test"] * speed["test_per_image"]
    return speed["fixed"] + shape["epochs"] * epoch + shape["test"] * speed["test_per_image"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", default=STUDIES, choices=STUDIES, help="the studies to time")
    parser.add_argument("--train-images", type=int, default=10_000, help="training images per timed run")
    parser.add_argument("--val-images", type=int, default=1000, help="validation images per timed run")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed run (the last one is measured)")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")

    rows = []
    print(
        f"{'study':22} {'cells':>5} {'network':34} {'train img/s':>11} {'eval img/s':>10} {'fixed s':>7} {'full study':>10}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for study in args.only:
            cells = cells_of(study)
            shapes = [cell_shape(cell) for cell in cells]
            speeds = {}
            for cell, shape in zip(cells, shapes, strict=True):
                if shape["network"] not in speeds:
                    folder = Path(scratch) / f"{study}_{len(speeds)}"
                    speeds[shape["network"]] = timed_run(
                        cell, shape, args.train_images, args.val_images, args.epochs, folder
                    )
            seconds = sum(estimate(shape, speeds[shape["network"]]) for shape in shapes)
            for network, speed in speeds.items():
                name = f"{network[0]} {network[1] or 'native'}px b{network[2]}"
                print(
                    f"{study:22} {len(cells):5d} {name:34} {1 / speed['train_per_image']:11.0f} "
                    f"{1 / max(speed['val_per_image'], 1e-9):10.0f} {speed['fixed']:7.1f} {seconds / 60:8.1f} min",
                    flush=True,
                )
            rows.append(
                {
                    "study": study,
                    "cells": len(cells),
                    "minutes": seconds / 60,
                    "speeds": {f"{n[0]}@{n[1] or 'native'}/b{n[2]}": s for n, s in speeds.items()},
                }
            )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
