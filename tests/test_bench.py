"""The benchmark scripts still run (tiny settings; the figures themselves live in the README, not in asserts)."""

from __future__ import annotations

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
    assert "data.cache=true (cache already built)" in out and "x faster" in out


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
    assert "b/a = " in out and "c/a = " in out


@needs_cifar
def test_dataloader_bench_prints_the_ratio() -> None:
    out = _bench("dataloader.py", "--epochs", "1", env={"DATA_DIR": str(REAL_DATA)})
    assert "ratio scalegrid / torchvision:" in out
