"""The benchmark scripts run and print well-formed figures (tiny settings; no timing targets: those live in docs)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REAL_DATA

from scalegrid import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _bench(script: str, *args: str, env: dict | None = None) -> str:
    import os

    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
        cwd=PROJECT_ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_image_cache_bench_prints_epoch_times_and_a_ratio() -> None:
    out = _bench(
        "image_cache.py",
        "--classes",
        "2",
        "--per-class",
        "6",
        "--source-size",
        "64",
        "--image-size",
        "32",
        "--model",
        "simple_cnn",
        "--epochs",
        "2",
    )
    width = next(line.index("epoch seconds") for line in out.splitlines() if line.startswith("run "))
    rows = {
        line[:width].strip(): line[width:].split()
        for line in out.splitlines()
        if line.startswith(("decoded", "runtime"))
    }
    assert set(rows) == {
        "decoded by workers",
        *(f"runtime.data.cache=true ({when})" for when in ("first run builds it", "cache already built")),
    }
    for figures in rows.values():  # 2 epoch times, training images/s, wall seconds: all positive numbers
        assert len(figures) == 4 and all(float(value) > 0 for value in figures), figures
    (ratio,) = re.findall(r"-> ([0-9.]+)x faster", out)
    assert float(ratio) > 0


needs_cifar = pytest.mark.skipif(not (REAL_DATA / "cifar-10-batches-py").is_dir(), reason="real CIFAR-10 absent")


@needs_cifar
def test_throughput_bench_prints_the_three_figures_and_ratios() -> None:
    out = _bench(
        "throughput.py",
        "--model",
        "simple_cnn",
        "--steps",
        "4",
        "--warmup",
        "2",
        "--repeats",
        "1",
        env={"DATA_DIR": str(REAL_DATA)},
    )
    ratios = {name: float(value) for name, value in re.findall(r"\b([bc]/a) = ([0-9.]+)", out)}
    assert set(ratios) == {"b/a", "c/a"} and all(0 < value < 10 for value in ratios.values()), out


@needs_cifar
def test_dataloader_bench_prints_the_ratio() -> None:
    out = _bench("dataloader.py", "--epochs", "1", env={"DATA_DIR": str(REAL_DATA)})
    (ratio,) = re.findall(r"ratio scalegrid / torchvision: ([0-9.]+)x", out)
    assert float(ratio) > 0


def test_study_times_bench_extrapolates_a_study_from_a_short_run(tmp_path) -> None:
    import json

    from conftest import write_cifar10

    root = write_cifar10(tmp_path / "data", train_per_class=20)
    out = _bench(
        "study_times.py",
        *("--only", "simple_cnn", "--train-images", "100", "--val-images", "20", "--out", str(tmp_path / "t.json")),
        env={"DATA_DIR": str(root)},
    )
    (row,) = json.loads((tmp_path / "t.json").read_text())
    assert row["study"] == "simple_cnn" and row["cells"] == 2  # the full study: 2 seeds
    (speed,) = row["speeds"].values()
    assert speed["train_per_image"] > 0 and speed["test_per_image"] > 0 and speed["fixed"] > 0
    # 2 cells of 30 epochs over 45,000 training and 5,000 validation images, and a 10,000-image test each
    per_cell = speed["fixed"] + 30 * (45_000 * speed["train_per_image"] + 5_000 * speed["val_per_image"])
    per_cell += 10_000 * speed["test_per_image"]
    assert row["minutes"] == pytest.approx(2 * per_cell / 60)
    assert re.search(r"^simple_cnn +2 simple_cnn nativepx b128 +\d+ +\d+ +[0-9.]+ +[0-9.]+ min$", out, re.M)
