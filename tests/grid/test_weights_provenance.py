"""Weights you can trace: a cell started from a checkpoint records the file's digest, and a changed source is said."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FAST_TRAINER, TINY_DATA, compose_config

from scalegrid.contract.results import RESULTS_FILE
from scalegrid.contract.weights_digest import weights_digest
from scalegrid.errors import ScalegridError
from scalegrid.grid.cells import run_cell
from scalegrid.run.training import train


def _cell(cifar_root: Path, run_dir: Path, *overrides: str):
    args = ["model=simple_cnn", f"runtime.data.root={cifar_root}", *TINY_DATA, *FAST_TRAINER, "trainer.max_epochs=1"]
    return run_cell(compose_config([*args, "logger=none", *overrides], output_dir=run_dir), train)


def test_a_retrained_source_makes_its_target_cell_say_so(cifar_root: Path, tmp_path: Path) -> None:
    """source (classes 0-4) -> target (5-9) from its last.ckpt; the source retrained with another lr changes the
    file, and the target's re-run is refused instead of skipped; the same file again skips."""
    source_dir, target_dir = tmp_path / "src", tmp_path / "tgt"
    source = _cell(cifar_root, source_dir, "data.classes=[0,1,2,3,4]")
    checkpoint = source_dir / "checkpoints" / "last.ckpt"
    target_args = ["data.classes=[5,6,7,8,9]", f"model.weights={checkpoint}"]
    first = _cell(cifar_root, target_dir, *target_args)
    assert source.status == first.status == "completed"
    stored = json.loads((target_dir / RESULTS_FILE).read_text())
    assert stored["weights_sha256"] == weights_digest(str(checkpoint)) and len(stored["weights_sha256"]) == 64
    assert _cell(cifar_root, target_dir, *target_args).status == "skipped"  # the same file: the same cell

    shutil.rmtree(source_dir)
    _cell(cifar_root, source_dir, "data.classes=[0,1,2,3,4]", "optim.lr=0.05")  # the source trained again
    assert weights_digest(str(checkpoint)) != stored["weights_sha256"]
    with pytest.raises(ScalegridError) as refused:
        _cell(cifar_root, target_dir, *target_args)
    message = str(refused.value)
    assert f"holds a finished run started from another version of model.weights={checkpoint}" in message
    assert f"sha256 {stored['weights_sha256'][:12]}" in message and "delete that folder" in message
    assert json.loads((target_dir / RESULTS_FILE).read_text()) == stored  # the old result is left as it was


def test_a_result_recorded_before_digests_still_skips(cifar_root: Path, tmp_path: Path) -> None:
    source_dir, target_dir = tmp_path / "src", tmp_path / "tgt"
    _cell(cifar_root, source_dir)
    target_args = [f"model.weights={source_dir / 'checkpoints' / 'last.ckpt'}"]
    _cell(cifar_root, target_dir, *target_args)
    stored = json.loads((target_dir / RESULTS_FILE).read_text())
    del stored["weights_sha256"]  # as an older scalegrid wrote it
    (target_dir / RESULTS_FILE).write_text(json.dumps(stored))
    assert _cell(cifar_root, target_dir, *target_args).status == "skipped"


def test_checkpoints_of_two_grids_get_two_folders_and_an_old_folder_is_moved(cifar_root: Path, tmp_path: Path):
    """Two sources at .../scratch/full/seed0 of grids g1 and g2 were both tagged from_full_seed0; now each cell is
    named by its source's grid and cell, and a finished cell under the old name is moved to the new one, not retrained."""
    from scalegrid.contract.identity import legacy_weights_tag, weights_tag

    sources = [tmp_path / "grids" / grid / "simple_cnn" / "scratch" / "full" / "seed0" for grid in ("g1", "g2")]
    checkpoints = []
    for seed, folder in enumerate(sources):
        _cell(cifar_root, folder, f"seed={seed}")
        checkpoints.append(folder / "checkpoints" / "last.ckpt")
    tags = [weights_tag(str(path)) for path in checkpoints]
    assert tags == ["from_g1.simple_cnn.scratch.full.seed0", "from_g2.simple_cnn.scratch.full.seed0"]
    assert {legacy_weights_tag(str(path)) for path in checkpoints} == {"from_full_seed0"}  # the old collision

    target = tmp_path / "grids" / "tgt" / "simple_cnn"
    old = target / "from_full_seed0" / "seed0"  # as an older scalegrid named the cell started from g2
    args = [f"model.weights={checkpoints[1]}"]
    assert _cell(cifar_root, old, *args).status == "completed"
    trained = json.loads((old / RESULTS_FILE).read_text())
    other = _cell(cifar_root, target / tags[0] / "seed0", f"model.weights={checkpoints[0]}")  # g1's: not g2's folder
    assert other.status == "completed" and old.is_dir()
    moved = _cell(cifar_root, target / tags[1] / "seed0", *args)
    assert moved.status == "skipped" and not old.exists()
    assert json.loads((target / tags[1] / "seed0" / RESULTS_FILE).read_text())["test_acc"] == trained["test_acc"]
