"""src/eval.py on a finished tiny run: the same accuracy as training reported, and readable analysis files."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import run_script

from scalegrid.analysis.evaluation import confused_pairs


def _evaluate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_script("eval.py", list(args), cwd=cwd) if cwd else run_script("eval.py", list(args))


def test_eval_reproduces_the_test_accuracy_and_writes_its_analysis(finished_run: Path, tmp_path: Path) -> None:
    results = json.loads((finished_run / "results.json").read_text())
    completed = _evaluate(f"run={finished_run}", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []  # everything goes into the run; no log file where the user stands
    out = finished_run / "eval" / "test"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == results["test_size"] == 50
    assert round(metrics["accuracy"] * 50) == round(results["test_acc"] * 50)  # the same images right
    assert metrics["accuracy"] == pytest.approx(results["test_acc"], abs=1e-6)
    assert metrics["confusion_matrix"] == results["confusion_matrix"]
    with open(out / "confusion.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][1:] == results["class_names"]
    sums = [sum(float(value) for value in row[1:]) for row in rows[1:]]
    assert all(total == pytest.approx(1.0, abs=1e-5) for total in sums)  # every test class is present
    assert (out / "confusion.png").stat().st_size > 0
    wrong = 50 - round(metrics["accuracy"] * 50)
    assert (out / "misclassified.png").is_file() == (wrong > 0)

    by_checkpoint = _evaluate(f"run={metrics['checkpoint']}", "split=val")
    assert by_checkpoint.returncode == 0, by_checkpoint.stderr[-2000:]
    assert json.loads((finished_run / "eval" / "val" / "metrics.json").read_text())["images"] == results["val_size"]


def test_confused_pairs_are_shares_of_the_true_class() -> None:
    confusion = np.array([[8, 2, 0], [0, 10, 0], [1, 3, 6]])
    pairs = confused_pairs(confusion, ["a", "b", "c"], top_k=5)
    assert [pair["text"] for pair in pairs] == ["c → b: 30.0 %", "a → b: 20.0 %", "c → a: 10.0 %"]


def test_a_wrong_run_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    completed = _evaluate(f"run={tmp_path / 'nowhere'}")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"scalegrid: error: run={tmp_path / 'nowhere'} is neither a run directory nor a .ckpt file"
    ]


def test_the_grid_report_links_evaluations(finished_run: Path, tmp_path: Path) -> None:
    import shutil

    from scalegrid.analysis.report import build_report

    completed = _evaluate(f"run={finished_run}")
    assert completed.returncode == 0, completed.stderr[-2000:]
    grid = tmp_path / "grid"
    shutil.copytree(finished_run, grid / "cell")
    markdown = build_report(grid).read_text()
    accuracy = json.loads((grid / "cell" / "eval" / "test" / "metrics.json").read_text())["accuracy"]
    assert "## Evaluations and visualisations" in markdown
    assert f"- `cell`: test {100 * accuracy:.2f} % ([metrics](../cell/eval/test/metrics.json)" in markdown
