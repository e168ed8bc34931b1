"""The results contract: one typed RunResult, written in one place, read through one function, old files included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import compose_config

from scalegrid.analysis.grid_table import find_runs, group_cells, missing_runs
from scalegrid.contract.results import (
    RESULTS_FILE,
    SCHEMA_VERSION,
    RunResult,
    RunStatus,
    UnreadableResult,
    read_result,
    write_result,
)
from scalegrid.errors import ScalegridError
from scalegrid.grid.cells import finished_result

V1_GRID = Path(__file__).parents[1] / "fixtures" / "v1_grid"  # written by commit b25bc6b: make_v1_fixtures.sh
V1_CELL = V1_GRID / "simple_cnn" / "frac1.0" / "scratch" / "full" / "seed0"


def _v1_overrides(cell: Path) -> list[str]:
    """The command line that made a v1 cell, as stored in it (old key names), minus Hydra's own and sweep-only keys."""
    stored = json.loads((cell / RESULTS_FILE).read_text())["overrides"]
    return [override for override in stored if not override.startswith("hydra")]


def test_a_version_1_results_file_loads_in_the_current_layout():
    assert "schema_version" not in json.loads((V1_CELL / RESULTS_FILE).read_text())  # really the old format
    result = read_result(V1_CELL)
    assert result.status is RunStatus.COMPLETED and result.status.is_final
    assert result.test_acc == pytest.approx(0.1) and result.train_size == 80
    assert result.config["runtime"]["data"]["root"].endswith("/data")  # data.root moved under runtime
    assert "root" not in result.config["data"] and "paths" not in result.config
    assert result.config["selection"] == {"monitor": "val/acc", "mode": "max"}
    assert result.config["budget"] == "epochs" and "budget" not in result.config["trainer"]
    assert "runtime.callbacks.progress_bar.refresh_rate=0" in result.overrides  # the overrides are renamed too
    assert not any(override.startswith("data.root=") for override in result.overrides)


def test_a_version_1_cell_is_this_cell_for_the_same_command_and_refused_for_another(tmp_path):
    """Version 4 validates the built-in datasets on 1,000 images by default, where every older run used its whole
    validation split: the same command is refused, naming the key and how to keep the cell; with it, the same cell."""
    from scalegrid.contract.results import resolved_config

    with pytest.raises(ScalegridError, match=r"data.val_eval_size: None -> 1000\).*add data.val_eval_size=null$"):
        finished_result(V1_CELL, resolved_config(compose_config(_v1_overrides(V1_CELL), output_dir=V1_CELL)))
    overrides = [*_v1_overrides(V1_CELL), "data.val_eval_size=null"]
    same = compose_config(overrides, output_dir=V1_CELL)
    assert finished_result(V1_CELL, resolved_config(same)).test_acc == pytest.approx(0.1)
    moved = compose_config([*overrides, f"data.root={tmp_path}", f"paths.log_dir={tmp_path}"], output_dir=tmp_path)
    assert finished_result(V1_CELL, resolved_config(moved)) is not None  # moved data and outputs: the same cell
    other = compose_config([*overrides, "optim.lr=0.01"], output_dir=V1_CELL)
    with pytest.raises(ScalegridError, match=r"other settings \(optim.lr: 0.05 -> 0.01\)"):
        finished_result(V1_CELL, resolved_config(other))


def test_a_version_1_grid_folder_loads_as_a_table_with_nothing_missing():
    runs = find_runs(V1_GRID)
    assert [run.status for run in runs] == ["completed", "completed"]
    keys, cells = group_cells(runs)
    assert keys == [] and len(cells) == 1 and len(cells[0].completed) == 2  # only the seed differs
    assert missing_runs(V1_GRID, runs) == []  # multirun.yaml's old keys are renamed like the results'


def test_a_result_round_trips_and_keeps_keys_it_does_not_know(tmp_path):
    result = RunResult(status=RunStatus.DIVERGED, error="the loss became nan", val_acc_history=[0.5])
    path = write_result(tmp_path, result)
    payload = json.loads(path.read_text())
    assert payload["status"] == "diverged" and payload["schema_version"] == SCHEMA_VERSION
    payload["written_by_a_newer_scalegrid"] = {"answer": 42}
    path.write_text(json.dumps(payload))
    again = read_result(tmp_path)
    assert again.status is RunStatus.DIVERGED and again.val_acc_history == [0.5] and again.status.is_final
    assert again.extra == {"written_by_a_newer_scalegrid": {"answer": 42}}
    write_result(tmp_path, again)
    assert json.loads(path.read_text())["written_by_a_newer_scalegrid"] == {"answer": 42}  # nothing lost


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"status": "exploded"}'])
def test_a_damaged_results_file_is_unreadable_and_a_missing_one_is_none(tmp_path, text):
    assert read_result(tmp_path) is None
    (tmp_path / RESULTS_FILE).write_text(text)
    with pytest.raises(UnreadableResult, match=RESULTS_FILE):
        read_result(tmp_path)


def test_a_damaged_results_file_is_run_again_not_skipped(tmp_path):
    cell = tmp_path / "cell"
    shutil.copytree(V1_CELL, cell)
    (cell / RESULTS_FILE).write_text("{trunc")
    assert finished_result(cell, {}) is None
