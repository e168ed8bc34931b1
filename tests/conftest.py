"""Shared fixtures: tiny CIFAR-10 and MNIST written in their official on-disk formats, and composed configs."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from scalegrid import CONF_DIR, PROJECT_ROOT

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
REAL_DATA = Path(os.environ.get("SCALEGRID_REAL_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def _class_images(labels: np.ndarray, channels: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Noisy images whose brightness pattern depends on the class, so a model can learn them."""
    images = rng.integers(0, 60, size=(len(labels), channels, size, size))
    for i, label in enumerate(labels):
        row = (label * size) // 10
        images[i, :, row : row + max(1, size // 10), :] += 180
    return np.clip(images, 0, 255).astype(np.uint8)


def _balanced_labels(per_class: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(10), per_class))


def write_cifar10(root: Path, train_per_class: int = 10, test_per_class: int = 5, seed: int = 0) -> Path:
    """Write cifar-10-batches-py/ (5 training batches, test batch, meta) as pickles like the official ones."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_labels = _balanced_labels(train_per_class, rng)
    batches = np.array_split(np.arange(len(train_labels)), 5)
    splits = {f"data_batch_{i + 1}": train_labels[index] for i, index in enumerate(batches)}
    splits["test_batch"] = _balanced_labels(test_per_class, rng)
    for name, labels in splits.items():
        images = _class_images(labels, 3, 32, rng).reshape(len(labels), -1)
        entry = {
            "batch_label": name,
            "labels": labels.tolist(),
            "data": images,
            "filenames": [f"{name}_{i}.png" for i in range(len(labels))],
        }
        (folder / name).write_bytes(pickle.dumps(entry))
    meta = {"label_names": CIFAR_CLASSES, "num_cases_per_batch": len(batches[0]), "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return root


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """Write a uint8 array as an IDX file (big-endian header), gzipped when ``compress``."""
    magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def write_mnist(
    root: Path, train_per_class: int = 20, test_per_class: int = 5, compress: bool = True, seed: int = 0
) -> Path:
    """Write MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] like the official files."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, per_class in (("train", train_per_class), ("t10k", test_per_class)):
        labels = _balanced_labels(per_class, rng)
        images = _class_images(labels, 1, 28, rng)[:, 0]
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels.astype(np.uint8), compress)
    return root


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    return write_cifar10(tmp_path / "data")


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    return write_mnist(tmp_path / "data")


# Overrides that fit the tiny datasets: small validation split, no checksum (the files are not the official ones).
TINY_DATA = ["data.val_size=20", "data.verify_checksums=false", "data.download=false", "data.batch_size=32"]
FAST_TRAINER = [
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "runtime.callbacks.progress_bar.refresh_rate=0",
    "trainer.num_sanity_val_steps=0",
]


def compose_config(overrides: list[str], output_dir: Path | None = None):
    """Compose conf/train.yaml as the entry point would (moved keys renamed), with Hydra's own config resolvable."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from scalegrid.contract.config_versions import rename_overrides

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=rename_overrides(overrides)[0], return_hydra_config=True)
    if output_dir is not None:
        with open_dict(cfg):
            cfg.runtime.paths.output_dir = str(output_dir)
            cfg.hydra.runtime.output_dir = str(output_dir)
        HydraConfig().set_config(cfg)
    return cfg


def run_train(args: list[str], env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run src/train.py as a user would, in a subprocess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "src" / "train.py"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )


# Each class of the generated image datasets has its own dominant colour, so a model can learn them.
IMAGE_CLASS_COLOURS = {"cat": (200, 40, 40), "dog": (40, 200, 40), "owl": (40, 40, 200)}


def _colour_image(colour: tuple[int, int, int], size: tuple[int, int], rng: np.random.Generator):
    from PIL import Image

    noise = rng.integers(-30, 31, size=(size[1], size[0], 3))
    pixels = np.clip(np.asarray(colour)[None, None, :] + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def save_in_format(image, path: Path, variant: int) -> Path:
    """Save an RGB PIL image under one of several formats and modes, chosen by ``variant``."""
    kinds = [
        (".jpg", lambda im: im),
        (".PNG", lambda im: im.convert("RGBA")),
        (".jpeg", lambda im: im.convert("CMYK")),
        (".png", lambda im: im.convert("L")),
        (".gif", lambda im: im.convert("P")),
        (".bmp", lambda im: im),
        (".webp", lambda im: im),
        (".TIF", lambda im: im),
        (".JPG", lambda im: im),
    ]
    suffix, convert = kinds[variant % len(kinds)]
    target = path.with_suffix(suffix)
    convert(image).save(target)
    return target


def write_image_folder(
    root: Path,
    per_class: int = 12,
    layout: str = "flat",
    seed: int = 0,
    classes: tuple[str, ...] = ("cat", "dog", "owl"),
) -> Path:
    """Class folders of images of mixed sizes, formats and modes: root/<class>/ (flat) or root/{train,test}/<class>/."""
    rng = np.random.default_rng(seed)
    for name in classes:
        for i in range(per_class):
            split = "" if layout == "flat" else ("test" if i % 4 == 0 else "train")
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            size = (int(rng.integers(24, 64)), int(rng.integers(24, 64)))
            save_in_format(_colour_image(IMAGE_CLASS_COLOURS[name], size, rng), folder / f"{name}_{i:03d}", i)
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "images")


# Overrides that fit the generated image datasets: small images, a cache under tmp, no worker processes.
def tiny_images(tmp_path: Path) -> list[str]:
    return [
        "data.image_size=32",
        "data.batch_size=8",
        f"runtime.data.cache_dir={tmp_path / 'cache'}",
        "runtime.data.num_workers=0",
        "data.val_size=0.2",
        "data.test_size=0.2",
    ]


def quiet_trainer(epochs: int, callbacks: list | None = None, **options):
    """A real Lightning Trainer on the CPU that writes nothing: no logger, checkpoints, progress bar or sanity check."""
    import pytorch_lightning as pl

    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks or [],
        **options,
    )


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A finished tiny simple_cnn run on tiny CIFAR-10 files (results.json and checkpoints), shared by analysis tests."""
    root = write_cifar10(tmp_path_factory.mktemp("data"))
    run_dir = tmp_path_factory.mktemp("run")
    completed = run_train(
        ["model=simple_cnn", f"runtime.data.root={root}", *TINY_DATA, *FAST_TRAINER, f"hydra.run.dir={run_dir}"]
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return run_dir


def run_script(
    script: str, args: list[str], timeout: int = 300, cwd: Path = PROJECT_ROOT
) -> subprocess.CompletedProcess:
    """Run one of the entry points under src/ (eval.py, visualize.py, ...) as a user would."""
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "src" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def write_result_grid(grid: Path, runs: list[dict]) -> Path:
    """A grid folder of finished runs without training: one real results.json per entry of ``runs`` (keys:
    ``overrides`` as a dict, and any RunResult field: ``test_acc``, ``train_size``, ``params_total``, ``weights``,
    ``status``), in folders named by the overrides, read back by the same code as a trained grid's."""
    from scalegrid.contract.results import RunResult, RunStatus, write_result

    for entry in runs:
        entry = dict(entry)
        overrides = entry.pop("overrides")
        folder = grid.joinpath(*(f"{key}={value}" for key, value in overrides.items()))
        folder.mkdir(parents=True, exist_ok=True)
        status = RunStatus(entry.pop("status", "completed"))
        write_result(folder, RunResult(status=status, overrides=[f"{k}={v}" for k, v in overrides.items()], **entry))
    return grid


SYNTHETIC_SIZES = np.geomspace(500, 32_000, 6).round().astype(int)  # 6 sizes from 500 to 32,000 images


def curve_runs(
    error, seeds: int = 3, noise: float = 0.005, rng: np.random.Generator | None = None, sizes=SYNTHETIC_SIZES, **keys
) -> list[dict]:
    """Runs of one learning curve: ``error(n)`` plus Gaussian noise of sd ``noise``, ``seeds`` runs per size, the size
    swept as data.fraction (n / 32,000); ``keys`` (model=..., init=...) are further overrides; init=pretrained
    runs carry weights."""
    rng = rng or np.random.default_rng(0)
    runs = []
    for size in sizes:
        for seed in range(seeds):
            value = float(np.clip(error(size) + rng.normal(0, noise), 0, 1))
            overrides = {**keys, "data.fraction": f"{size / SYNTHETIC_SIZES[-1]:.6g}", "seed": str(seed)}
            weights = "ckpts/source.ckpt" if keys.get("init") == "pretrained" else None
            runs.append({"overrides": overrides, "test_acc": 1 - value, "train_size": int(size), "weights": weights})
    return runs


def start_train(args: list[str], **popen) -> subprocess.Popen:
    """src/train.py as a running process (stdout and stderr captured as text), for tests that signal or limit it."""
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "src" / "train.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        **popen,
    )


def wait_for_checkpoint_epoch(process: subprocess.Popen, checkpoint: Path, epoch: int, poll: float = 0.05) -> None:
    """Return once ``checkpoint`` holds ``epoch`` or later; fail if the process ends first (or after 240 s)."""
    import time

    import torch

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"] >= epoch:
                return
        except Exception:  # not there yet, or caught between Lightning's write and rename
            pass
        time.sleep(poll)
    assert process.poll() is None, f"the run ended before {checkpoint} held epoch {epoch}"
