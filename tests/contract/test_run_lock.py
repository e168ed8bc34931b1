"""One process per run directory: two grid invocations on one folder split the cells instead of corrupting them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAST_TRAINER, TINY_DATA, run_train

from scalegrid import PROJECT_ROOT
from scalegrid.contract.results import RESULTS_FILE
from scalegrid.contract.run_lock import RunDirectoryBusy, is_locked, run_directory_lock

HOLD_LOCK = (
    "import sys, time; from scalegrid.contract.run_lock import run_directory_lock\n"
    "with run_directory_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)\n"
)


def _hold(run_dir: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_held_directory_is_refused_and_a_killed_holder_frees_it(tmp_path: Path) -> None:
    holder = _hold(tmp_path / "run")
    try:
        assert is_locked(tmp_path / "run")
        with pytest.raises(RunDirectoryBusy, match=f"is being run by pid {holder.pid} on "):
            with run_directory_lock(tmp_path / "run"):
                pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # the way a pre-empted job dies: no cleanup runs
        holder.wait()
    assert not is_locked(tmp_path / "run")
    with run_directory_lock(tmp_path / "run"):
        assert is_locked(tmp_path / "run")


def test_a_single_run_into_a_busy_directory_is_one_line(mnist_root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    holder = _hold(run_dir)
    try:
        args = ["data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}", *TINY_DATA, *FAST_TRAINER]
        completed = run_train([*args, f"hydra.run.dir={run_dir}"])
    finally:
        holder.kill()
        holder.wait()
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2 and len(lines) == 1, completed.stderr[-2000:]
    assert f"{run_dir} is being run by pid {holder.pid}" in lines[0]
    assert not (run_dir / RESULTS_FILE).exists()


def test_two_grid_invocations_on_one_folder_train_each_cell_once(mnist_root: Path, tmp_path: Path) -> None:
    grid_dir = tmp_path / "grid"
    args = [
        "-m",
        "hydra=grid",
        "data=mnist",
        "model=mnist_net",
        f"runtime.data.root={mnist_root}",
        f"hydra.sweep.dir={grid_dir}",
        *TINY_DATA,
        *FAST_TRAINER,
        "trainer.max_epochs=25",  # cells of a few seconds, so the second invocation meets one the first is running
        "seed=0,1,2,3",
    ]
    command = [sys.executable, str(PROJECT_ROOT / "src" / "train.py"), *args]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    time.sleep(1.0)  # the second starts while the first is inside its first cell
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], outputs[0][1][-1500:] + outputs[1][1][-1500:]

    results = sorted(grid_dir.rglob(RESULTS_FILE))
    assert len(results) == 4
    assert all(json.loads(path.read_text())["status"] == "completed" for path in results)
    trained = sum(len(re.findall(r"^\[\d/4\] .*: [\d.]+ % in ", stdout, re.M)) for stdout, _ in outputs)
    assert trained == 4  # every cell trained exactly once between the two invocations
    assert sum("left to the process that is running it" in stdout for stdout, _ in outputs) >= 1
    assert not list(grid_dir.rglob("*.tmp"))
