"""Lightning DDP on CPU (gloo): one results.json from rank 0, and each training image once per epoch across ranks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import FAST_TRAINER, TINY_DATA, run_train

from scalegrid.contract.results import RESULTS_FILE
from scalegrid.data.loader import EpochBatches


def _shard_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        seen = {}
        for name, size, equal in (("train", 23, True), ("test", 23, False)):
            batches = EpochBatches(size, batch_size=4, shuffle=name == "train", seed=3, equal_shards=equal)
            batches.set_epoch(1)
            seen[name] = {"len": len(batches), "indices": torch.cat(list(batches)).tolist()}
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(seen))
    finally:
        dist.destroy_process_group()


def test_batches_are_sharded_across_real_ranks(tmp_path: Path) -> None:
    world = 2
    mp.spawn(_shard_worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world, join=True)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(world)]
    train = [rank["train"] for rank in ranks]
    assert train[0]["len"] == train[1]["len"] == 3  # the same number of optimizer steps on every rank
    assert set(train[0]["indices"]) | set(train[1]["indices"]) == set(range(23))  # every image this epoch
    assert len(train[0]["indices"]) + len(train[1]["indices"]) == 24  # 23 padded to a multiple of 2, as DDP does
    test = [rank["test"]["indices"] for rank in ranks]
    assert sorted(test[0] + test[1]) == list(range(23))  # evaluation: every image exactly once, none twice


@pytest.mark.slow
def test_a_two_process_ddp_run_on_cpu(mnist_root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = ["trainer=ddp", "data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}"]
    completed = run_train(
        [*args, *TINY_DATA, *FAST_TRAINER, "trainer.devices=2", "runtime.threads=1", f"hydra.run.dir={run_dir}"]
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("test_acc=") == 1  # one summary line: rank 0's
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    assert results["status"] == "completed" and results["world_size"] == 2
    assert results["train_images_per_epoch"] == results["train_size"] == 180  # each image once per epoch
    assert sum(map(sum, results["confusion_matrix"])) == results["test_size"]  # the test split gathered from both
    names = sorted(path.name for path in (run_dir / "checkpoints").iterdir())
    assert len(names) == 2 and names[0].startswith("best-epoch") and names[1] == "last.ckpt"  # written once
    assert len(list(run_dir.rglob(RESULTS_FILE))) == 1


@pytest.mark.slow
def test_ddp_that_re_runs_the_command_is_refused_inside_a_sweep(mnist_root: Path, tmp_path: Path) -> None:
    grid_dir = tmp_path / "grid"
    args = ["-m", "hydra=grid", "trainer=ddp", "data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}"]
    completed = run_train([*args, *TINY_DATA, *FAST_TRAINER, "trainer.devices=2", f"hydra.sweep.dir={grid_dir}"])
    assert completed.returncode == 0, completed.stderr[-3000:]
    (failure,) = [json.loads(path.read_text()) for path in grid_dir.rglob(RESULTS_FILE)]
    assert failure["status"] == "failed" and "inside a -m sweep" in failure["error"]
