"""Grids through the real `-m` path: stable cell folders, skipping finished cells, failures recorded, the report."""

import csv
import json
import re
import statistics
import subprocess
import sys

import pytest
from conftest import FAST_TRAINER, TINY_DATA, compose_config, run_train
from matplotlib import image as mpimg

from scalegrid import PROJECT_ROOT
from scalegrid.contract.config_versions import migrate
from scalegrid.contract.identity import identity_differences, weights_tag
from scalegrid.errors import ScalegridError
from scalegrid.run.budget import training_budget

GRID_AXES = ["model=mnist_net,simple_cnn", "data.fraction=0.5,1.0", "seed=0,1"]


def grid_args(root, grid_dir, *axes):
    return [
        "-m",
        "hydra=grid",
        "data=mnist",
        f"runtime.data.root={root}",
        f"hydra.sweep.dir={grid_dir}",
        *TINY_DATA,
        *FAST_TRAINER,
        "trainer.max_epochs=1",
        *axes,
    ]


@pytest.fixture(scope="module")
def finished_grid(tmp_path_factory):
    from conftest import write_mnist

    base = tmp_path_factory.mktemp("grid")
    root = write_mnist(base / "data")
    grid_dir = base / "grid"
    first = run_train(grid_args(root, grid_dir, *GRID_AXES))
    assert first.returncode == 0, first.stderr[-3000:]
    return root, grid_dir, first


def test_every_cell_completes_in_its_stable_folder(finished_grid):
    _, grid_dir, first = finished_grid
    expected = {
        f"{model}/frac{fraction}/scratch/full/seed{seed}"
        for model in ("mnist_net", "simple_cnn")
        for fraction in ("0.5", "1.0")
        for seed in (0, 1)
    }
    found = {
        str(path.parent.relative_to(grid_dir)) for path in grid_dir.rglob("results.json") if "report" not in str(path)
    }
    assert found == expected
    assert all(json.loads((grid_dir / cell / "results.json").read_text())["status"] == "completed" for cell in expected)
    assert "8 cells: 8 trained, 0 skipped (already finished), 0 diverged, 0 failed" in first.stdout
    summary = next(line for line in first.stdout.splitlines() if "8 cells: 8 trained" in line)
    assert re.search(r"per trained cell [\d.]+ s: steps train [\d.]+, validation [\d.]+, test [\d.]+; ", summary)
    assert re.search(r"outside the steps [\d.]+ s \(.*hydra [\d.]+.*data [\d.]+.*unattributed [\d.]+\) ", summary)
    assert re.search(r"\(the first cell, which also imported the training stack, took [\d.]+ s\)$", summary)
    # one line per cell as it ends; Lightning's chatter and each run's summary are in the cell's own log
    lines = [line for line in first.stdout.splitlines() if re.match(r"\[\d+/8\] ", line)]
    assert len(lines) == 8 and lines[-1].endswith("; none left")
    assert re.fullmatch(
        r"\[1/8\] mnist_net frac0.5 scratch full seed0: [\d.]+ % in \d+ s; 7 left, about \d+ (s|min)", lines[0]
    )
    assert "Trainable params" not in first.stdout and "test_loss=" not in first.stdout and "#1 :" not in first.stdout
    log = (grid_dir / "mnist_net/frac0.5/scratch/full/seed0/train.log").read_text()
    assert "Trainable params" in log and log.count("test_loss=") == 1
    assert not (grid_dir / ".grid_progress").exists()  # the sweep's event folder is gone with it


def test_second_invocation_skips_every_cell_without_training(finished_grid):
    root, grid_dir, _ = finished_grid
    stamps = {path: path.stat().st_mtime_ns for path in grid_dir.rglob("results.json")}
    again = run_train(grid_args(root, grid_dir, *GRID_AXES))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "8 cells: 0 trained, 8 skipped (already finished), 0 diverged, 0 failed" in again.stdout
    assert "per trained cell" not in again.stdout  # nothing was trained, so no time to break down
    assert "[8/8] 8 cells skipped: finished by an earlier run" in again.stdout and "[1/8]" not in again.stdout
    assert "test_loss=" not in again.stdout  # no run printed a training summary
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps


def test_a_failing_cell_is_recorded_and_the_grid_goes_on(mnist_root, tmp_path):
    grid_dir = tmp_path / "grid"
    proc = run_train(grid_args(mnist_root, grid_dir, "model=mnist_net", f"model.weights=null,{tmp_path}/absent.ckpt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    statuses = {
        path.parent.relative_to(grid_dir).parts[2]: json.loads(path.read_text())
        for path in grid_dir.rglob("results.json")
    }
    assert statuses["scratch"]["status"] == "completed"
    (failed,) = [value for key, value in statuses.items() if key != "scratch"]
    assert failed["status"] == "failed" and "no such file" in failed["error"]
    assert "1 trained, 0 skipped (already finished), 0 diverged, 1 failed" in proc.stdout
    assert re.search(
        r"^\[\d/2\] mnist_net frac1.0 from_\S+ full seed0: failed in \d+ s \(.*no such file", proc.stdout, re.M
    )


def test_report_aggregates_the_grid(finished_grid):
    _, grid_dir, _ = finished_grid
    proc = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "src" / "report.py"), str(grid_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = grid_dir / "report"
    with open(report / "results.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 8 and {"model", "data.fraction", "seed", "test_acc", "status", "fit_seconds"} <= set(rows[0])
    markdown = (report / "report.md").read_text()
    for model in ("mnist_net", "simple_cnn"):
        for fraction in ("0.5", "1.0"):
            accuracies = [float(r["test_acc"]) for r in rows if r["model"] == model and r["data.fraction"] == fraction]
            mean, std = 100 * statistics.mean(accuracies), 100 * statistics.stdev(accuracies)
            assert f"| {model} | {fraction} | 2/2 | {mean:.2f} ± {std:.2f} |" in markdown
    assert "0 expected runs missing" in markdown
    for name in ("accuracy_vs_size", "accuracy_vs_time", "learning_curves", "confusion_best", "confusion_worst"):
        pixels = mpimg.imread(report / f"{name}.png")
        assert pixels.shape[0] >= 300 and pixels.shape[1] >= 400 and pixels.std() > 0.01, name
        assert f"({name}.png)" in markdown


def test_the_figure_layout_can_be_named(finished_grid, tmp_path):
    import shutil

    from scalegrid.analysis.report import build_report

    _, grid_dir, _ = finished_grid
    copy = tmp_path / "grid"
    shutil.copytree(grid_dir, copy)
    build_report(copy, {"x": "model", "lines": "data.fraction", "panels": None})
    figures = sorted(path.name for path in (copy / "report").glob("accuracy_*.png"))
    assert figures == ["accuracy_by_model.png", "accuracy_vs_time.png"]  # the earlier layout's figure is gone
    pixels = mpimg.imread(copy / "report" / "accuracy_by_model.png")
    assert pixels.shape[1] >= 400 and pixels.std() > 0.01


def test_report_on_a_partial_grid_says_so(finished_grid, tmp_path):
    import shutil

    _, grid_dir, _ = finished_grid
    partial = tmp_path / "partial"
    shutil.copytree(grid_dir, partial)
    shutil.rmtree(partial / "simple_cnn" / "frac0.5" / "scratch" / "full" / "seed1")
    from scalegrid.analysis.report import build_report

    markdown = build_report(partial).read_text()
    assert "1 expected runs missing. **This grid is partial.**" in markdown
    assert "model=simple_cnn, data.fraction=0.5, seed=1" in markdown


def test_the_report_opens_with_the_note_of_a_study_preset(finished_grid, tmp_path):
    import shutil

    from scalegrid.analysis.report import build_report
    from scalegrid.contract.results import read_result, write_result

    _, grid_dir, _ = finished_grid
    noted = tmp_path / "noted"
    shutil.copytree(grid_dir, noted)
    for path in noted.rglob("results.json"):
        result = read_result(path.parent)
        result.config["runtime"]["report"]["note"] = "CPU preset: 64 px, test on 2,000 images"
        write_result(path.parent, result)
    lines = build_report(noted).read_text().splitlines()
    assert lines[2] == "> CPU preset: 64 px, test on 2,000 images" and lines.count(lines[2]) == 1


def test_report_on_an_empty_folder_is_one_line_and_exit_code_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "src" / "report.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "holds no runs" in proc.stderr


def test_weights_tags_name_the_initialisation():
    assert weights_tag(None) == "scratch" and weights_tag("imagenet") == "imagenet"
    assert weights_tag("/o/grids/src/resnet18/seed0/checkpoints/last.ckpt") == "from_src.resnet18.seed0"
    g1, g2 = (f"/o/grids/{grid}/simple_cnn/frac1.0/scratch/full/seed0/checkpoints/last.ckpt" for grid in ("g1", "g2"))
    assert weights_tag(g1) == "from_g1.simple_cnn.frac1.0.scratch.full.seed0" != weights_tag(g2)  # one tag per file
    best = g1.replace("last.ckpt", "best-epoch002.ckpt")
    assert weights_tag(best) == "from_g1.simple_cnn.frac1.0.scratch.full.seed0.best-epoch002"
    mine, yours = weights_tag("/tmp/mine/source.ckpt"), weights_tag("/tmp/yours/source.ckpt")
    assert mine.startswith("from_mine.source-") and yours.startswith("from_yours.source-")


def test_budgets():
    assert training_budget("epochs", 10, 45_000, 128) == {"max_epochs": 10, "max_steps": -1}
    assert training_budget("steps", 10, 45_000, 128) == {"max_epochs": -1, "max_steps": 3520}
    with pytest.raises(ScalegridError, match="budget='minutes'"):
        training_budget("minutes", 10, 45_000, 128)


def test_a_finished_cell_made_with_another_configuration_is_refused(finished_grid, tmp_path):
    import shutil

    root, grid_dir, _ = finished_grid
    copy = tmp_path / "grid"
    shutil.copytree(grid_dir, copy)
    cell = copy / "mnist_net" / "frac0.5" / "scratch" / "full" / "seed0" / "results.json"
    results = json.loads(cell.read_text())
    results["config"]["optim"]["lr"] = 0.5  # as if the experiment file had been edited since
    cell.write_text(json.dumps(results))
    proc = run_train(grid_args(root, copy, *GRID_AXES))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    # the sweep compares its fixed settings with the folder's cells before any cell runs
    assert "holds cells of a grid with other fixed settings (optim.lr: 0.5 -> 0.05" in lines[0]
    assert "e.g. the finished cell mnist_net/frac0.5/scratch/full/seed0" in lines[0] and "add optim.lr=0.5" in lines[0]


def test_speed_and_location_settings_of_a_version_1_config_do_not_make_a_cell_different():
    """Version 1 kept the cache, workers and data root inside data: once migrated they are runtime settings."""
    stored = {"data": {"cache": False, "cache_dir": "/a", "num_workers": 2, "root": "/x", "image_size": 224}}
    faster = {"data": {"image_size": 224}, "runtime": {"data": {"cache": True, "cache_dir": "/b", "root": "/y"}}}
    faster["test_every_epoch"] = False  # added by version 3 with the value that reproduces version 1
    assert identity_differences(migrate(stored, None), faster) == []
    other = {**faster, "data": {"image_size": 128}}
    assert identity_differences(migrate(stored, None), other) == ["data.image_size: 224 -> 128"]


def test_a_version_1_cell_with_checkpoint_settings_keeps_its_identity_but_early_stopping_changes_it():
    """Checkpoint bookkeeping moved under runtime; the tested checkpoint's monitor moved to selection (defining)."""
    before = {"callbacks": {"model_checkpoint": {"save_last": True, "monitor": "val/acc"}}, "optim": {"lr": 0.05}}
    now = {
        "runtime": {"callbacks": {"model_checkpoint": {"save_top_k": 1}, "last_checkpoint": {"every_n_epochs": 1}}},
        "selection": {"monitor": "val/acc"},
        "optim": {"lr": 0.05},
        "test_every_epoch": False,
    }
    assert identity_differences(migrate(before, None), now) == []
    assert identity_differences(migrate(before, None), {**now, "optim": {"lr": 0.1}}) == ["optim.lr: 0.05 -> 0.1"]
    stopping = {**now, "callbacks": {"early_stopping": {"patience": 3}}}
    assert identity_differences(migrate(before, None), stopping) == ["callbacks.early_stopping.patience: None -> 3"]
    tested_by_loss = {**now, "selection": {"monitor": "val/loss"}}
    assert identity_differences(migrate(before, None), tested_by_loss) == ["selection.monitor: val/acc -> val/loss"]


@pytest.mark.slow
def test_a_grid_written_by_version_1_is_skipped_by_the_same_command_with_its_old_keys(tmp_path):
    """tests/fixtures/v1_grid was written by commit b25bc6b; its own command, old key names and all, skips it."""
    import shutil

    from conftest import write_cifar10

    v1_grid = PROJECT_ROOT / "tests" / "fixtures" / "v1_grid"
    shutil.copytree(v1_grid, tmp_path / "out" / "grids" / "v1_grid")
    stored = json.loads((v1_grid / "simple_cnn/frac1.0/scratch/full/seed0/results.json").read_text())["overrides"]
    keep = [o for o in stored if not o.startswith(("seed=", "data.root=", "paths.log_dir="))]
    data = write_cifar10(tmp_path / "data")  # the data moved: data.root is a runtime setting
    command = ["-m", *keep, "seed=0,1", f"data.root={data}", f"paths.log_dir={tmp_path / 'out'}"]
    refused = run_train(command)  # version 4 validates on 1,000 images by default; the old cells on all of theirs
    assert refused.returncode == 2 and "add data.val_eval_size=null" in refused.stderr, refused.stderr
    proc = run_train([*command, "data.val_eval_size=null"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 cells: 0 trained, 2 skipped (already finished)" in proc.stdout
    assert "[scalegrid] note: data.root is now runtime.data.root" in proc.stdout


@pytest.mark.slow  # three sweeps in subprocesses
def test_a_second_grid_with_other_fixed_settings_is_refused_before_any_cell(finished_grid, tmp_path):
    """Grid B (optim=adam) into grid A's folder: one line naming the differing keys, exit 2, nothing touched; a key B
    sweeps is not compared, and the same settings again share (skip) the finished cells."""
    import shutil

    root, grid_dir, _ = finished_grid
    copy = tmp_path / "grid"
    shutil.copytree(grid_dir, copy)
    before = sorted(path.stat().st_mtime_ns for path in copy.rglob("results.json"))
    for extra, differing in [
        (["optim=adam"], "optim.lr: 0.05 -> 0.002; optim.name: 'sgd' -> 'adam'"),
        (["trainer.max_epochs=2"], "trainer.max_epochs: 1 -> 2"),
    ]:
        args = [arg for arg in grid_args(root, copy, *GRID_AXES) if arg != "trainer.max_epochs=1"] + (
            [] if extra == ["trainer.max_epochs=2"] else ["trainer.max_epochs=1"]
        )
        proc = run_train([*args, *extra])
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
        assert "holds cells of a grid with other fixed settings (" in lines[0] and differing in lines[0]
        way_out = "optim=sgd,adam" if extra == ["optim=adam"] else "trainer.max_epochs=1,2"
        assert f"give this grid another experiment_name, or sweep the key ({way_out})" in lines[0], lines[0]
        assert "e.g. the finished cell " in lines[0] and "to keep them, add " in lines[0]
        assert not re.search(r"^\[\d+/\d+\]", proc.stdout, re.M)  # no cell started
    assert sorted(path.stat().st_mtime_ns for path in copy.rglob("results.json")) == before
    again = run_train(grid_args(root, copy, *GRID_AXES))
    assert again.returncode == 0 and "8 cells: 0 trained, 8 skipped" in again.stdout, again.stderr[-2000:]


def test_fixed_settings_leave_out_swept_keys_runtime_and_hydra():
    """What a sweep compares with the cells already in its folder."""
    from omegaconf import OmegaConf

    from scalegrid.grid.fixed_settings import fixed_settings

    config = OmegaConf.to_container(
        compose_config(["experiment=demo", "runtime.data.root=/somewhere", "optim.lr=0.2"]), resolve=False
    )
    fixed = fixed_settings(config)
    assert fixed["optim.lr"] == 0.2 and "seed" not in fixed and "data.fraction" not in fixed
    assert not [key for key in fixed if key.startswith(("runtime.", "hydra.", "model.")) or key == "init"]


@pytest.mark.slow  # a holder process
def test_a_sweep_running_into_a_folder_holds_it_until_it_ends(tmp_path):
    """Before its first cell folder exists, a running sweep's claim refuses another with other fixed settings; once
    that process is gone, its claim is cleared and the folder is free."""
    import subprocess
    import sys
    import time

    from omegaconf import OmegaConf

    from scalegrid.grid.fixed_settings import CLAIMS, check_grid_folder

    grid = tmp_path / "grid"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.path.insert(0, 'tests'); from conftest import compose_config;"
            "from omegaconf import OmegaConf; from scalegrid.grid.fixed_settings import check_grid_folder;"
            f"check_grid_folder(__import__('pathlib').Path({str(grid)!r}),"
            " OmegaConf.to_container(compose_config(['optim=sgd']), resolve=False)); print('held', flush=True);"
            " time.sleep(60)",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        adam = OmegaConf.to_container(compose_config(["optim=adam"]), resolve=False)
        with pytest.raises(ScalegridError, match=r"optim.name: 'sgd' -> 'adam'.*e\.g\. the sweep running into it now"):
            check_grid_folder(grid, adam)
        check_grid_folder(grid, OmegaConf.to_container(compose_config(["optim=sgd"]), resolve=False))  # same: shares
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    check_grid_folder(grid, adam)  # the holder is gone: its claim no longer counts, and is removed
    assert len(list((grid / CLAIMS).glob("*.json"))) == 1  # this process's latest claim, held until it ends
