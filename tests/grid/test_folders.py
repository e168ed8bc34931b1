"""Cell folders name every swept key: the pattern's keys as before, any other swept key as a /key=value segment."""

import pytest
import yaml
from conftest import FAST_TRAINER, TINY_DATA, run_train

from scalegrid.grid.folders import other_swept_segments

NAMED = ["model", "model.name", "data.fraction", "model.weights", "finetune", "finetune.policy", "seed"]


def _record(grid_dir, task, params=None):
    grid_dir.mkdir(parents=True, exist_ok=True)
    record = {"hydra": {"overrides": {"task": task}, "sweeper": {"params": params or {}}}}
    (grid_dir / "multirun.yaml").write_text(yaml.safe_dump(record))


def test_a_key_the_pattern_does_not_name_gets_its_own_segment(tmp_path):
    _record(tmp_path, ["model=resnet18,resnet50", "optim.lr=0.01,0.1", "data.root=/d", "trainer.max_epochs=2"])
    job = ["model=resnet50", "optim.lr=0.1", "runtime.data.root=/d", "trainer.max_epochs=2"]
    assert other_swept_segments(NAMED, tmp_path, job) == "/optim.lr=0.1"


def test_segments_are_sorted_escaped_and_come_from_experiment_params_too(tmp_path):
    _record(tmp_path, ["model.head.dropout=0.1,0.3"], params={"arm": "finetune_depth/scratch,finetune_depth/full"})
    job = ["arm=finetune_depth/full", "model.head.dropout=0.3"]
    assert other_swept_segments(NAMED, tmp_path, job) == "/arm=full/model.head.dropout=0.3"
    _record(tmp_path, ["data/augment=none,standard", "data.root=/a/b,/c"])
    assert other_swept_segments(NAMED, tmp_path, ["data/augment=standard", "data.root=/c"]) == "/data.augment=standard"


@pytest.mark.parametrize("task", [["model=resnet18,resnet50", "seed=0,1,2", "data.fraction=0.5,1.0"], []])
def test_grids_that_sweep_only_the_named_keys_keep_their_folders(tmp_path, task):
    _record(tmp_path, [*task, "runtime.threads=1,2"])  # a swept runtime setting never names a folder
    assert other_swept_segments(NAMED, tmp_path, ["model=resnet18", "seed=1", "runtime.threads=2"]) == ""
    assert other_swept_segments(NAMED, tmp_path / "no_record", ["seed=1"]) == ""


@pytest.mark.slow
def test_a_learning_rate_sweep_lands_in_two_folders_and_skips_on_a_rerun(mnist_root, tmp_path):
    grid = tmp_path / "grid"
    args = ["-m", "hydra=grid", "data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}"]
    args += [*TINY_DATA, *FAST_TRAINER, "trainer.max_epochs=1", "logger=none", f"hydra.sweep.dir={grid}"]
    first = run_train([*args, "optim.lr=0.01,0.02"])
    assert first.returncode == 0, first.stderr[-2000:]
    found = sorted(str(p.parent.relative_to(grid)) for p in grid.rglob("results.json"))
    assert found == [f"mnist_net/frac1.0/scratch/full/seed0/optim.lr=0.0{i}" for i in (1, 2)]
    again = run_train([*args, "optim.lr=0.01,0.02"])
    assert "2 cells: 0 trained, 2 skipped" in again.stdout
