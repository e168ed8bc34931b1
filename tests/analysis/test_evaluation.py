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
from scalegrid.errors import ScalegridError


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


def _train_in_process(overrides: list[str], run_dir: Path):
    from conftest import FAST_TRAINER, compose_config

    from scalegrid.run.training import train

    return train(compose_config([*FAST_TRAINER, "logger=none", *overrides], output_dir=run_dir))


def test_a_moved_run_tests_the_checkpoint_its_record_names(cifar_root: Path, tmp_path: Path) -> None:
    """save_top_k=3 keeps every best-*.ckpt (two epochs: two); after mv, eval takes the recorded one (relative), and an old record's
    absolute path is found by its place in the moved folder, never by sort order."""
    import shutil

    from conftest import TINY_DATA

    from scalegrid.analysis.evaluation import evaluate

    args = ["model=simple_cnn", f"runtime.data.root={cifar_root}", *TINY_DATA, "trainer.max_epochs=2"]
    result = _train_in_process([*args, "runtime.callbacks.model_checkpoint.save_top_k=3"], tmp_path / "run")
    assert len(list((tmp_path / "run" / "checkpoints").glob("best-*.ckpt"))) == 2
    assert result.best_checkpoint == f"checkpoints/best-epoch{result.best_epoch:03d}.ckpt"
    moved = tmp_path / "moved here"
    shutil.move(tmp_path / "run", moved)
    for record in ("relative", "absolute, from before the move"):
        if record.startswith("absolute"):
            stored = json.loads((moved / "results.json").read_text())
            stored["best_checkpoint"] = str(tmp_path / "run" / result.best_checkpoint)
            (moved / "results.json").write_text(json.dumps(stored))
        metrics = json.loads((evaluate(moved) / "metrics.json").read_text())
        assert metrics["checkpoint"] == str(moved / result.best_checkpoint), record
        assert metrics["accuracy"] == pytest.approx(result.test_acc, abs=1e-6), record
    (moved / result.best_checkpoint).unlink()
    with pytest.raises(ScalegridError, match=r"the checkpoint its results.json says was tested, is missing"):
        evaluate(moved)


def test_eval_on_another_folder_maps_classes_by_name_and_refuses_other_classes(image_folder: Path, tmp_path: Path):
    import shutil

    from conftest import tiny_images

    from scalegrid.analysis.evaluation import evaluate

    run_dir = tmp_path / "run"
    common = ["data=image_folder", "model=simple_cnn", *tiny_images(tmp_path)]
    result = _train_in_process([*common, f"runtime.data.root={image_folder}"], run_dir)
    assert result.class_names == ["cat", "dog", "owl"]
    copy = tmp_path / "copy"
    shutil.copytree(image_folder, copy)
    same = json.loads((evaluate(run_dir, data_root=str(copy)) / "metrics.json").read_text())
    assert same["accuracy"] == pytest.approx(result.test_acc, abs=1e-6) and same["class_names"] == result.class_names
    for old, new in (("cat", "zcat"), ("dog", "bird")):  # zcat sorts last: positions would shift every label
        (copy / old).rename(copy / new)
        with pytest.raises(ScalegridError) as refused:
            evaluate(run_dir, data_root=str(copy))
        message = str(refused.value)
        assert f"data_root={copy} holds the classes" in message and "the run was trained on cat, dog, owl" in message
        assert new in message
        (copy / new).rename(copy / old)


def test_eval_refuses_bad_requests_in_one_line(cifar_root: Path, tmp_path: Path) -> None:
    from conftest import TINY_DATA

    from scalegrid.analysis.evaluation import evaluate

    args = ["model=simple_cnn", f"runtime.data.root={cifar_root}", *TINY_DATA, "data.val_size=0"]
    _train_in_process(args, tmp_path / "run")
    other = _train_in_process([*args, "model=mlp"], tmp_path / "other")
    assert other.status.value == "completed"
    cases = [
        (
            {"split": "val"},
            r"split=val: the run holds no val images \(it was trained with data.val_size=0\); evaluate split=test",
        ),
        ({"examples": -1}, r"examples=-1 must be a whole number of at least 0"),
        ({"top_k": "many"}, r"top_k='many' must be a whole number"),
    ]
    for options, message in cases:
        with pytest.raises(ScalegridError, match=message):
            evaluate(tmp_path / "run", **options)
    foreign = tmp_path / "run" / "checkpoints" / "foreign.ckpt"
    shutil_copy = __import__("shutil").copy
    shutil_copy(tmp_path / "other" / "checkpoints" / "last.ckpt", foreign)
    with pytest.raises(ScalegridError, match=r"foreign.ckpt does not fit the run's model simple_cnn \("):
        evaluate(foreign)
    assert not (tmp_path / "run" / "eval").exists()  # nothing written by a refused request
