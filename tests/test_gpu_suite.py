"""bench/gpu_suite.py at toy size on the CPU: every section runs and the JSON and table are whole, so that the one
device call cannot fail on a typo (its figures mean nothing here; the targets are read on the GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_cifar10

from scalegrid import PROJECT_ROOT


@pytest.mark.slow  # about 70 s of process starts: past the default suite's 10-minute budget; CI runs it (make test-slow)
def test_the_gpu_suite_runs_every_section_at_toy_size(tmp_path: Path) -> None:
    data = write_cifar10(tmp_path / "data", train_per_class=20, test_per_class=5)
    out = tmp_path / "suite"
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "gpu_suite.py"), "--size", "toy", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DATA_DIR": str(data)},
        cwd=PROJECT_ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads((out / "gpu_suite.json").read_text())
    results = summary["results"]
    assert set(results) == {"parity", "overhead", "packing", "compile"}
    assert not [name for name, result in results.items() if "error" in result], json.dumps(results)[:3000]
    parity = results["parity"]
    assert parity["epoch_ratio"] > 0 and parity["run_ratio"] > 0 and 0 <= parity["scalegrid_test_acc"] <= 1
    assert results["overhead"]["cells"] == 2 and results["overhead"]["outside_steps_median_s"] > 0
    assert results["packing"]["runs_per_hour_ratio"] > 0 and results["compile"]["disabled"] is True
    assert summary["machine"]["device"] == "cpu" and summary["machine"]["torch"]
    table = (out / "gpu_suite.md").read_text()
    for figure in (
        "parity.epoch_ratio",
        "parity.run_ratio",
        "overhead.outside_steps_median_s",
        "packing.runs_per_hour_ratio",
    ):
        row = next(line for line in table.splitlines() if line.startswith(f"| {figure} |"))
        assert "not measured" not in row and row.rstrip().endswith(("| yes |", "| no |")), row
