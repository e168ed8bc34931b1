"""Which epoch is tested: the best validation epoch, or the last one when a run has no validation epoch."""

import json
from pathlib import Path

import pytest
import torch
from conftest import FAST_TRAINER, TINY_DATA, compose_config

from scalegrid.contract.results import RESULTS_FILE
from scalegrid.errors import ScalegridError
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
    assert result.best_checkpoint == "checkpoints/last.ckpt"  # inside the run folder: it moves with the run
    checkpoint = torch.load(tmp_path / "run" / result.best_checkpoint, map_location="cpu", weights_only=True)
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
    checkpoint = torch.load(tmp_path / "run" / result.best_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == result.best_epoch
    if result.best_epoch == 2:  # the last epoch was also the best: its test point is the final test
        assert result.test_acc == pytest.approx(result.test_acc_history[-1])


def test_a_validation_subset_selects_on_its_images_and_leaves_the_training_pool_alone(cifar_root, tmp_path):
    """data.val_eval_size: each epoch validates a fixed stratified 10 of the 20 held-out images; the best epoch is
    chosen by those, its checkpoint is the one tested, and the training images are the ones a full validation has."""
    whole = _train(cifar_root, tmp_path / "whole", "trainer.max_epochs=3")
    part = _train(cifar_root, tmp_path / "part", "trainer.max_epochs=3", "data.val_eval_size=10")
    assert whole.val_size == 20 and part.val_size == 10 and part.train_size == whole.train_size
    history = part.val_acc_history
    assert len(history) == 3 and all(round(value * 10) == pytest.approx(value * 10) for value in history)  # tenths
    assert part.selected_by == "best_val_epoch" and part.best_epoch == history.index(max(history))
    checkpoint = torch.load(tmp_path / "part" / part.best_checkpoint, map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == part.best_epoch and part.best_val_acc == max(history)


def test_the_validation_subset_is_stratified_fixed_and_inside_the_split(cifar_root):
    from scalegrid.data.datamodule import BuiltinDataModule

    def module(**options):
        data = BuiltinDataModule(
            "cifar10", str(cifar_root), val_size=40, download=False, verify_checksums=False, **options
        )
        data.setup("fit")
        return data

    whole, part, again = module(), module(val_eval_size=20), module(val_eval_size=0.5)
    assert torch.equal(whole.train_set.images, part.train_set.images)
    assert torch.bincount(part.val_set.labels).tolist() == [2] * 10  # two of each class's four
    assert torch.equal(part.val_set.images, again.val_set.images)  # a count and the same share: the same images
    held_out = {bytes(image.numpy()) for image in whole.val_set.images}
    assert all(bytes(image.numpy()) in held_out for image in part.val_set.images)
    with pytest.raises(ScalegridError, match=r"data.val_eval_size='abc' must be a count"):
        module(val_eval_size="abc")


@pytest.mark.slow
def test_grid_cells_without_a_validation_epoch_stay_completed(cifar_root, tmp_path):
    """The no-validation rule in a grid: each cell is recorded completed (last epoch tested), never then failed."""
    from conftest import run_train

    grid = tmp_path / "grid"
    args = ["-m", "hydra=grid", "model=simple_cnn", f"runtime.data.root={cifar_root}", *TINY_DATA, *FAST_TRAINER]
    sweep = "trainer.check_val_every_n_epoch=3,1", "trainer.limit_val_batches=0,null"
    completed = run_train(
        [
            *args,
            *sweep,
            f"hydra.sweep.dir={grid}",
            "hydra.sweep.subdir=c${trainer.check_val_every_n_epoch}_l${trainer.limit_val_batches}",
        ]
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "4 cells: 4 trained, 0 skipped (already finished), 0 diverged, 0 failed" in completed.stdout
    selected = {path.parent.name: json.loads(path.read_text())["selected_by"] for path in grid.rglob(RESULTS_FILE)}
    assert selected == {
        "c3_l0": "last_epoch",
        "c3_lNone": "last_epoch",
        "c1_l0": "last_epoch",
        "c1_lNone": "best_val_epoch",
    }


@pytest.mark.parametrize("mode", ["min", "max", "auto"])
def test_the_record_describes_the_checkpoint_the_selection_chose(cifar_root, tmp_path, mode, capsys):
    """selection.monitor=val/loss: best_epoch, best_val_acc and the monitored value come from the tested file."""
    result = _train(
        cifar_root, tmp_path / "run", "trainer.max_epochs=3", "selection.monitor=val/loss", f"selection.mode={mode}"
    )
    tested = torch.load(tmp_path / "run" / result.best_checkpoint, map_location="cpu", weights_only=True)
    assert result.best_epoch == tested["epoch"] and result.best_checkpoint.endswith(f"{tested['epoch']:03d}.ckpt")
    assert result.best_val_acc == pytest.approx(tested["val_acc_history"][-1])
    assert result.best_val_acc == pytest.approx(result.val_acc_history[result.best_epoch])
    assert result.selection_monitor == "val/loss" and result.selected_by == "best_val_epoch"
    stored = json.loads((tmp_path / "run" / RESULTS_FILE).read_text())
    assert stored["config"]["selection"] == {"monitor": "val/loss", "mode": "max" if mode == "max" else "min"}
    losses = [
        score for score in tested["callbacks"].values() if isinstance(score, dict) and "best_model_score" in score
    ]
    assert losses and float(losses[0]["best_model_score"]) == pytest.approx(result.selection_value)


def test_selection_direction_follows_the_metric_and_an_unknown_metric_is_refused_before_training(cifar_root, tmp_path):
    from scalegrid.contract.selection import natural_mode, selection_mode

    assert [natural_mode(name) for name in ("val/loss", "train/loss", "val/acc")] == ["min", "min", "max"]
    assert selection_mode("val/loss", "auto") == "min" and selection_mode("val/loss", "max") == "max"
    for monitor, mode, message in [
        ("val/bogus", "auto", "selection.monitor='val/bogus' is not a metric a run logs; choose one of val/acc"),
        ("val_acc", "auto", "selection.monitor='val_acc' is not a metric"),
        ("val/acc", "highest", "selection.mode='highest' is unknown; choose one of auto, max, min"),
    ]:
        with pytest.raises(ScalegridError, match=message):
            _train(
                cifar_root,
                tmp_path / monitor.replace("/", "_"),
                f"selection.monitor={monitor}",
                f"selection.mode={mode}",
            )
        assert not (tmp_path / monitor.replace("/", "_") / "checkpoints").exists()  # refused before an epoch


def test_a_mode_against_the_metric_is_kept_with_a_warning():
    import io

    from scalegrid.contract.selection import resolve_selection

    for mode, warned in (("max", True), ("min", False), ("auto", False)):
        said = io.StringIO()
        resolve_selection(compose_config(["selection.monitor=val/loss", f"selection.mode={mode}"]), warn_to=said)
        assert (
            "selection.mode=max with selection.monitor=val/loss tests the epoch with the highest loss"
            in said.getvalue()
        ) == warned
