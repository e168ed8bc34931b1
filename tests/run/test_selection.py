"""Which epoch is tested: the best validation epoch, or the last one when a run has no validation epoch."""

import json
from pathlib import Path

import pytest
import torch
from conftest import FAST_TRAINER, TINY_DATA, compose_config

from scalegrid.contract.results import RESULTS_FILE
from scalegrid.run.training import train


def _train(cifar_root: Path, run_dir: Path, *overrides: str):
    args = ["model=simple_cnn", f"runtime.data.root={cifar_root}", *TINY_DATA, *FAST_TRAINER, "logger=none"]
    return train(compose_config([*args, *overrides], output_dir=run_dir))


@pytest.mark.parametrize(
    "no_validation",
    [["data.val_size=0"], ["trainer.check_val_every_n_epoch=3"], ["trainer.limit_val_batches=0"]],
    ids=["val_size 0", "validation later than the last epoch", "no validation batches"],
)
def test_a_run_without_a_validation_epoch_checkpoints_and_tests_its_last_epoch(cifar_root, tmp_path, no_validation):
    result = _train(cifar_root, tmp_path / "run", *no_validation)
    on_disk = json.loads((tmp_path / "run" / RESULTS_FILE).read_text())
    assert on_disk["status"] == "completed" and on_disk["selected_by"] == "last_epoch"
    assert on_disk["best_val_acc"] is None and on_disk["best_epoch"] is None and on_disk["val_acc_history"] == []
    assert Path(result.best_checkpoint).name == "last.ckpt"
    checkpoint = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == 1  # the last of the two epochs is what was tested
    if no_validation == ["data.val_size=0"]:
        assert result.train_size == 100 and result.val_size == 0  # every training image trains


def test_a_validated_run_tests_its_best_epoch_and_records_train_accuracy(cifar_root, tmp_path):
    result = _train(cifar_root, tmp_path / "run")
    assert result.selected_by == "best_val_epoch" and result.best_checkpoint.endswith(f"{result.best_epoch:03d}.ckpt")
    assert len(result.train_acc_history) == 2 and result.train_acc == result.train_acc_history[-1]
    assert 0 <= result.train_acc <= 1


def test_test_every_epoch_records_a_curve_that_does_not_choose(cifar_root, tmp_path):
    result = _train(cifar_root, tmp_path / "run", "test_every_epoch=true", "trainer.max_epochs=3")
    assert len(result.test_acc_history) == 3 and all(0 <= value <= 1 for value in result.test_acc_history)
    assert result.selected_by == "best_val_epoch"  # validation still chooses the tested checkpoint
    checkpoint = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == result.best_epoch
    if result.best_epoch == 2:  # the last epoch was also the best: its test point is the final test
        assert result.test_acc == pytest.approx(result.test_acc_history[-1])
