"""The grid's per-cell lines: what each ended cell gets said, and how many cells a sweep has."""

from __future__ import annotations

from pathlib import Path

from conftest import compose_config
from omegaconf import open_dict

from scalegrid.contract.sweep_record import sweep_size
from scalegrid.grid.progress import ProgressLines, cell_label, duration


def _event(cell: str, status: str = "completed", acc: float | None = 0.812, seconds: float = 41.0, error=None):
    return {"cell": cell, "status": status, "test_acc": acc, "seconds": seconds, "error": error}


def test_each_trained_cell_gets_its_accuracy_time_and_an_estimate_from_the_cells_done():
    lines = ProgressLines(total=36)
    first = lines.line(_event("resnet50 frac0.5 imagenet seed1"), elapsed=60.0)
    assert first == "[1/36] resnet50 frac0.5 imagenet seed1: 81.2 % in 41 s; 35 left, about 35 min"
    second = lines.line(_event("resnet18 frac0.5 imagenet seed1", seconds=19.0, acc=0.7), elapsed=90.0)
    assert second == "[2/36] resnet18 frac0.5 imagenet seed1: 70.0 % in 19 s; 34 left, about 26 min"  # 34 x 45 s


def test_skipped_cells_are_counted_apart_and_said_with_the_next_line():
    lines = ProgressLines(total=4)
    assert lines.line(_event("a", status="skipped"), elapsed=1.0) is None
    assert lines.line(_event("b", status="skipped"), elapsed=2.0) is None
    said = lines.line(_event("c", seconds=30.0), elapsed=32.0)
    # the estimate counts only the cell that trained: 1 left x 32 s
    assert said == "[3/4] c: 81.2 % in 30 s; 1 left, about 32 s (2 skipped before it: finished by an earlier run)"
    assert lines.closing_line() is None  # nothing unsaid
    assert lines.line(_event("d", status="skipped"), elapsed=33.0) is None
    assert lines.closing_line() == "[4/4] 1 cell skipped: finished by an earlier run"


def test_a_grid_that_was_finished_before_gets_one_line():
    lines = ProgressLines(total=3)
    assert all(lines.line(_event(name, status="skipped"), elapsed=1.0) is None for name in "abc")
    assert lines.closing_line() == "[3/3] 3 cells skipped: finished by an earlier run"


def test_failed_and_diverged_cells_say_so_and_the_last_line_says_none_left():
    lines = ProgressLines(total=2)
    failed = lines.line(_event("a", status="failed", acc=None, seconds=3.0, error="no such file x.ckpt"), elapsed=4.0)
    assert failed == "[1/2] a: failed in 3 s (no such file x.ckpt); 1 left, about 4 s"
    diverged = lines.line(_event("b", status="diverged", acc=None, seconds=75.0), elapsed=80.0)
    assert diverged == "[2/2] b: diverged in 1 min; none left"


def test_without_a_total_the_lines_count_up():
    lines = ProgressLines(total=None)
    assert lines.line(_event("a"), elapsed=5.0) == "[1] a: 81.2 % in 41 s"


def test_durations_read_as_a_person_would_say_them():
    assert [duration(s) for s in (4.2, 59.4, 61, 719, 3600, 3930)] == [
        "4 s",
        "59 s",
        "1 min",
        "12 min",
        "1 h 00 min",
        "1 h 06 min",
    ]


def test_a_cell_is_named_by_its_folder_inside_the_grid(tmp_path: Path):
    cell = tmp_path / "grid" / "resnet50" / "frac0.5" / "imagenet" / "full" / "seed1"
    assert cell_label(cell, tmp_path / "grid") == "resnet50 frac0.5 imagenet full seed1"
    assert cell_label(tmp_path / "elsewhere", tmp_path / "grid") == str(tmp_path / "elsewhere")


def test_the_sweep_size_is_the_product_of_the_swept_values_with_the_command_line_winning():
    config = compose_config(["experiment=bigsmall"])
    assert sweep_size(config) == 2 * 3 * 2 * 3  # bigsmall's 36 cells
    with open_dict(config):
        config.hydra.overrides.task = ["seed=0,1", "data.fraction=range(1,5)", "model=resnet18"]
    assert sweep_size(config) == 4 * 2 * 2  # model no longer swept: 4 fractions x 2 weights x 2 seeds
    with open_dict(config):
        config.hydra.sweeper._target_ = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert sweep_size(config) is None  # another sweeper's jobs are its own business
