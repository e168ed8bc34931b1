"""`make demo`, shrunk: the source on classes 0-4, the demo's source cells starting from it, the per-cell lines, and a
report that answers (the real demo's figures are in docs/performance.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import CIFAR_CLASSES, run_train, write_cifar10

from scalegrid import PROJECT_ROOT
from scalegrid.contract.results import RESULTS_FILE


@pytest.mark.slow
def test_a_shrunken_demo_trains_its_source_cells_from_the_source_and_reports(tmp_path):
    root = write_cifar10(tmp_path / "data", train_per_class=40)
    outputs = tmp_path / "outputs"
    common = [
        f"runtime.data.root={root}",
        f"runtime.paths.log_dir={outputs}",
        "data.verify_checksums=false",
        "data.download=false",
        "data.val_size=20",
        "data.test_subset=null",
        "trainer.max_epochs=1",
    ]
    source = run_train(["experiment=demo_source", "model=convnet_narrow", *common])
    assert source.returncode == 0, source.stderr[-3000:]
    checkpoint = outputs / "grids/demo_source/convnet_narrow/frac0.25/scratch/seed0/checkpoints/last.ckpt"
    assert checkpoint.is_file()
    demo = run_train(["experiment=demo", "model=convnet_narrow", "data.fraction=0.5,1.0", "seed=0", *common])
    assert demo.returncode == 0, demo.stderr[-3000:]
    lines = [line for line in demo.stdout.splitlines() if re.match(r"\[\d/4\] convnet_narrow frac", line)]
    assert len(lines) == 4 and lines[-1].endswith("none left"), demo.stdout[-2000:]
    results = {
        path.parent.relative_to(outputs / "grids/demo").as_posix(): json.loads(path.read_text())
        for path in (outputs / "grids/demo").rglob(RESULTS_FILE)
    }
    assert set(results) == {
        f"convnet_narrow/frac{f}/{init}/seed0" for f in ("0.5", "1.0") for init in ("scratch", "source")
    }
    assert all(result["status"] == "completed" for result in results.values())
    assert results["convnet_narrow/frac1.0/source/seed0"]["config"]["model"]["weights"] == str(checkpoint)
    assert results["convnet_narrow/frac1.0/scratch/seed0"]["config"]["model"]["weights"] is None
    assert results["convnet_narrow/frac1.0/source/seed0"]["class_names"] == CIFAR_CLASSES[5:]  # never the source's
    report = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "src" / "report.py"), str(outputs / "grids/demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    assert "## Answers" in (outputs / "grids/demo/report/report.md").read_text()
