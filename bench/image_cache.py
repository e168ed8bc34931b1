"""Epoch times on a folder of JPEGs, decoded every epoch by DataLoader workers vs served from ``runtime.data.cache=true``.

Generates a folder dataset like the one a lab brings (512x512 JPEGs, a folder per class) unless --root is given,
trains the same run through ``src/train.py`` without and with the cache, and prints each epoch's time and the ratio.

    python bench/image_cache.py                         # resnet18, image_size 224, 5 classes x 80 images, 3 epochs
    python bench/image_cache.py --image-size 64 --epochs 4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def generate(root: Path, classes: int, per_class: int, size: int, seed: int = 0) -> None:
    """``classes`` folders of ``per_class`` JPEGs, size x size, each class a different smooth colour field."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, size)
    for label in range(classes):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            phase = rng.uniform(0, 2 * np.pi, 3)
            waves = np.sin(2 * np.pi * (label + 1) * grid[:, None] + phase[:, None, None]) * np.cos(
                2 * np.pi * grid[None, :] * (i % 3 + 1)
            )
            pixels = 127 + 100 * waves.transpose(1, 2, 0) + rng.normal(0, 20, (size, size, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i:04d}.jpg", quality=90)


def train(root: Path, run_dir: Path, cache_dir: Path, cache: bool, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        str(PROJECT_ROOT / "src" / "train.py"),
        "data=image_folder",
        f"runtime.data.root={root}",
        f"data.image_size={args.image_size}",
        f"runtime.data.cache={str(cache).lower()}",
        f"runtime.data.cache_dir={cache_dir}",
        f"model={args.model}",
        f"trainer.max_epochs={args.epochs}",
        "logger=none",
        "runtime.callbacks.progress_bar.refresh_rate=0",
        f"hydra.run.dir={run_dir}",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
    results = json.loads((run_dir / "results.json").read_text())
    results["wall_seconds"] = time.perf_counter() - started
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="an existing folder dataset (default: generate one)")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--per-class", type=int, default=80)
    parser.add_argument("--source-size", type=int, default=512, help="side of the generated JPEGs")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="scalegrid-bench-") as scratch:
        scratch = Path(scratch)
        root = args.root or scratch / "images"
        if args.root is None:
            generate(root, args.classes, args.per_class, args.source_size)
        runs = {
            "decoded by workers": train(root, scratch / "plain", scratch / "cache", False, args),
            "runtime.data.cache=true (first run builds it)": train(
                root, scratch / "cached1", scratch / "cache", True, args
            ),
            "runtime.data.cache=true (cache already built)": train(
                root, scratch / "cached2", scratch / "cache", True, args
            ),
        }
    print(f"{args.model}, image_size {args.image_size}, {runs['decoded by workers']['train_size']} training images")
    print(f"{'run':46s} {'epoch seconds (train + val)':34s} {'train img/s':>11s} {'wall s':>7s}")
    for name, results in runs.items():
        epochs = " ".join(f"{s:6.2f}" for s in results["epoch_seconds"])
        print(f"{name:46s} {epochs:34s} {results['train_images_per_second']:11.1f} {results['wall_seconds']:7.1f}")
    plain = np.mean(runs["decoded by workers"]["epoch_seconds"][1:] or runs["decoded by workers"]["epoch_seconds"])
    cached_run = runs["runtime.data.cache=true (cache already built)"]
    cached = np.mean(cached_run["epoch_seconds"][1:] or cached_run["epoch_seconds"])
    print(f"mean epoch after the first: {plain:.2f} s decoded vs {cached:.2f} s cached -> {plain / cached:.2f}x faster")


if __name__ == "__main__":
    main()
