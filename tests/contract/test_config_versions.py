"""Moved keys: old stored configs migrate, and old command-line keys are still accepted with a note."""

from __future__ import annotations

import pytest

from scalegrid.contract.config_versions import CONFIG_VERSION, migrate, rename_override, rename_overrides
from scalegrid.errors import ScalegridError


def test_version_1_moves_runtime_settings_and_keeps_the_defining_ones():
    old = {
        "threads": 2,
        "download_weights": False,
        "model": {"name": "resnet18", "compile": True, "channels_last": False, "weights": None},
        "data": {"name": "cifar10", "root": "/d", "num_workers": 4, "fraction": 0.5},
        "trainer": {"budget": "steps", "devices": "one_free_gpu", "default_root_dir": "/run", "max_epochs": 3},
        "callbacks": {"model_checkpoint": {"monitor": "val/loss", "mode": "min", "dirpath": "/run/checkpoints"}},
        "paths": {"log_dir": "/out"},
        "loss": {"label_smoothing": 0.1, "finite_check_every_n_steps": 1},
    }
    new = migrate(old, None)
    assert new["model"] == {"name": "resnet18", "weights": None}
    assert new["data"] == {"name": "cifar10", "fraction": 0.5, "val_eval_size": None}  # it validated on all (v4)
    assert new["trainer"] == {"devices": 1, "max_epochs": 3}
    assert new["budget"] == "steps" and new["selection"] == {"monitor": "val/loss", "mode": "min"}
    assert new["loss"] == {"label_smoothing": 0.1}
    assert new["runtime"]["claim_gpu"] is True and new["runtime"]["threads"] == 2
    assert new["runtime"]["data"] == {"root": "/d", "num_workers": 4}
    assert new["runtime"]["paths"] == {"log_dir": "/out"} and "callbacks" not in new
    assert old["data"]["root"] == "/d"  # the stored dict itself is left alone
    assert migrate(new, CONFIG_VERSION) == new


def test_a_config_from_a_newer_scalegrid_is_refused():
    with pytest.raises(ScalegridError, match="newer than this scalegrid"):
        migrate({}, CONFIG_VERSION + 1)


@pytest.mark.parametrize(
    ("typed", "becomes"),
    [
        ("data.root=/d", "runtime.data.root=/d"),
        ("+callbacks.progress_bar.refresh_rate=0", "+runtime.callbacks.progress_bar.refresh_rate=0"),
        ("callbacks.model_checkpoint.monitor=val/loss", "selection.monitor=val/loss"),
        ("paths.log_dir=/o", "runtime.paths.log_dir=/o"),
        ("threads=1", "runtime.threads=1"),
        ("trainer.budget=steps", "budget=steps"),
        ("trainer.devices=one_free_gpu", "runtime.claim_gpu=true"),
        ("trainer.use_distributed_sampler=true", None),
    ],
)
def test_an_old_key_on_the_command_line_is_renamed_with_a_note(typed, becomes):
    renamed, note = rename_override(typed)
    assert renamed == becomes and note is not None and typed.split("=")[0].lstrip("+") in note


@pytest.mark.parametrize(
    "kept",
    [
        "logger=none",
        "paths=default",
        "callbacks=default",
        "data=mnist",
        "trainer.devices=2",
        "data.fraction=0.5",
        "hydra.run.dir=/x",
        "+callbacks.early_stopping._target_=E",
        "seed=0,1",
        "-m",
    ],
)
def test_current_keys_and_group_selections_are_left_alone(kept):
    assert rename_overrides([kept]) == ([kept], [])
