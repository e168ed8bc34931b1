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
