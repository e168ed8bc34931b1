"""Damaged files in a grid folder: the report lists the cells as unreadable and goes on; a grid re-run redoes them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST_TRAINER, TINY_DATA, curve_runs, run_train, write_result_grid

from scalegrid import PROJECT_ROOT
from scalegrid.contract.results import RESULTS_FILE, UnreadableResult, read_result


def _rewrite(cell: Path, change) -> None:
    payload = json.loads((cell / RESULTS_FILE).read_text())
    change(payload)
    (cell / RESULTS_FILE).write_text(json.dumps(payload))


DAMAGE = {
    "binary": lambda cell: (cell / RESULTS_FILE).write_bytes(b"\x80\x81\xff\x00 not text"),
    "truncated": lambda cell: (cell / RESULTS_FILE).write_text('{"status": "completed", "test_acc": 0.'),
    "a list, not an object": lambda cell: (cell / RESULTS_FILE).write_text("[1, 2, 3]"),
    "accuracy a string": lambda cell: _rewrite(cell, lambda p: p.update(test_acc="high")),
    "history a mapping": lambda cell: _rewrite(cell, lambda p: p.update(val_acc_history={"a": 1})),
    "size a string": lambda cell: _rewrite(cell, lambda p: p.update(train_size="many")),
    "overrides a string": lambda cell: _rewrite(cell, lambda p: p.update(overrides="model=a")),
    "unknown status": lambda cell: _rewrite(cell, lambda p: p.update(status="done")),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_results_file_is_unreadable_not_a_crash(damage, tmp_path) -> None:
    grid = write_result_grid(tmp_path / "grid", curve_runs(lambda n: 0.5 * n**-0.3, seeds=1, model="a"))
    cell = sorted(path.parent for path in grid.rglob(RESULTS_FILE))[0]
    damage(cell)
    with pytest.raises(UnreadableResult, match=str(cell / RESULTS_FILE)):
        read_result(cell)


def test_the_report_lists_damaged_cells_and_tabulates_the_rest(tmp_path) -> None:
    grid = write_result_grid(tmp_path / "grid", curve_runs(lambda n: 0.5 * n**-0.3, seeds=2, model="a"))
    cells = sorted(path.parent for path in grid.rglob(RESULTS_FILE))
    for cell, damage in zip(cells, DAMAGE.values(), strict=False):
        damage(cell)
    record = cells[-1] / ".hydra" / "overrides.yaml"  # a started job whose Hydra record is damaged, no result
    record.parent.mkdir()
    record.write_text("- a: [unclosed\n  - :\n")
    (cells[-1] / RESULTS_FILE).unlink()
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "src" / "report.py"), str(grid)], capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = (grid / "report" / "report.md").read_text()
    assert report.count(": unreadable") == len(DAMAGE) + 1
    with (grid / "report" / "results.csv").open() as handle:  # the readable cells, each with its accuracy
        rows = [row for row in csv.DictReader(handle) if row.get("test_acc")]
    assert len(rows) == len(cells) - len(DAMAGE) - 1


@pytest.mark.slow
def test_a_grid_rerun_redoes_a_cell_whose_results_file_is_damaged(mnist_root, tmp_path) -> None:
    grid = tmp_path / "grid"
    args = ["-m", "hydra=grid", "data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}", *TINY_DATA]
    args += [*FAST_TRAINER, "seed=0,1", f"hydra.sweep.dir={grid}", "hydra.sweep.subdir=s${seed}"]
    assert run_train(args).returncode == 0
    for name, damage in (("binary", DAMAGE["binary"]), ("accuracy a string", DAMAGE["accuracy a string"])):
        damage(grid / "s0")
        again = run_train(args)
        assert again.returncode == 0, (name, again.stderr[-2000:])
        assert "2 cells: 1 trained, 1 skipped (already finished)" in again.stdout, name
        assert read_result(grid / "s0").status.value == "completed"
