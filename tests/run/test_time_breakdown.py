"""Where a run's wall time goes: the phase clock, the breakdown a real run records, the grid's per-cell line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from scalegrid.contract.results import outside_steps
from scalegrid.grid.summary import per_cell_time
from scalegrid.run.time_breakdown import PhaseClock


def test_nested_phases_charge_each_moment_once() -> None:
    clock = PhaseClock()
    with clock.phase("lightning"):
        time.sleep(0.03)
        with clock.phase("train"):
            time.sleep(0.05)
            clock.enter("train")  # already on top: a no-op, not a second level
            time.sleep(0.01)
        clock.exit("train")  # closed already: a no-op
        time.sleep(0.02)
    breakdown = clock.breakdown()
    assert breakdown["train"] == pytest.approx(0.06, abs=0.02)
    assert breakdown["lightning"] == pytest.approx(0.05, abs=0.02)  # its own time only, not train's
    assert breakdown["train"] + breakdown["lightning"] + breakdown["unattributed"] == pytest.approx(
        breakdown["total"], abs=1e-3
    )


def test_closing_a_phase_closes_what_was_left_open_inside_it() -> None:
    clock = PhaseClock()
    clock.enter("lightning")
    clock.enter("validation")  # e.g. an exception skipped on_validation_end
    clock.exit("lightning")
    time.sleep(0.03)  # outside every phase now
    breakdown = clock.breakdown()
    assert breakdown["unattributed"] >= 0.03
    assert breakdown["validation"] < 0.01


def test_a_real_run_attributes_its_time(finished_run: Path) -> None:
    breakdown = json.loads((finished_run / "results.json").read_text())["time_breakdown"]
    for phase in ("startup", "data", "model", "trainer", "lightning", "train", "validation", "test", "checkpointing"):
        assert breakdown[phase] > 0, phase
    assert "logging" in breakdown  # TensorBoard's hyperparameters and confusion figure
    phases = sum(seconds for name, seconds in breakdown.items() if name not in ("total", "unattributed"))
    assert phases + breakdown["unattributed"] == pytest.approx(breakdown["total"], abs=1e-3)
    assert breakdown["unattributed"] <= 0.05 * breakdown["total"]
    assert 0 < outside_steps(breakdown) < breakdown["total"]


def test_the_grid_line_splits_a_cell_into_steps_and_the_rest() -> None:
    cells = [
        {"train": 2.0, "validation": 0.5, "test": 0.5, "data": 0.2, "logging": 0.1, "total": 3.4, "unattributed": 0.1},
        {"train": 4.0, "validation": 0.5, "test": 0.5, "data": 0.0, "logging": 0.1, "total": 5.2, "unattributed": 0.1},
    ]
    line = per_cell_time(cells, [3.9, 5.4])  # the grid saw 0.5 s and 0.2 s more than each run's own clock
    assert line.startswith("; per trained cell 4.65 s: steps train 3.00, validation 0.50, test 0.50;")
    assert "outside the steps 0.65 s (hydra 0.35, data 0.10, logging 0.10, unattributed 0.10)" in line
    assert per_cell_time([], []) == ""
