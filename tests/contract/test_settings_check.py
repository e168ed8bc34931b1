"""Every numeric setting a user types: a wrong type or range is one line naming the key, before any work."""

from __future__ import annotations

import json
import re

import pytest
from conftest import FAST_TRAINER, TINY_DATA, compose_config, run_train
from omegaconf import OmegaConf

from scalegrid.contract.results import RESULTS_FILE
from scalegrid.contract.settings_check import CHECKS, check_settings
from scalegrid.errors import ScalegridError

# (overrides, what the one line must say)
BAD_SETTINGS = {
    "fraction a string": (["data.fraction=abc"], "data.fraction='abc' must be a number in (0, 1]"),
    "fraction 0": (["data.fraction=0"], "data.fraction=0 is outside (0, 1]"),
    "batch size a string": (["data.batch_size=big"], "data.batch_size='big' must be a whole number of at least 1"),
    "batch size a float": (["data.batch_size=32.5"], "data.batch_size=32.5 must be a whole number"),
    "val size a string": (["data.val_size=some"], "data.val_size='some' must be a count (0 or more), a share"),
    "val size negative": (["data.val_size=-5"], "data.val_size=-5 must be a count"),
    "val eval size 0": (["data.val_eval_size=0"], "data.val_eval_size=0 must be a count (at least 1)"),
    "seed a string": (["seed=one"], "seed='one' must be a whole number of at least 0"),
    "split seed negative": (["data.split_seed=-1"], "data.split_seed=-1 must be a whole number of at least 0"),
    "image size a string": (["data.image_size=large"], "data.image_size='large' must be a whole number of at least 8"),
    "epochs a string": (["trainer.max_epochs=ten"], "trainer.max_epochs='ten' must be a whole number of at least 1"),
    "epochs -1 (Lightning's no limit)": (["trainer.max_epochs=-1"], "trainer.max_epochs=-1 must be a whole number"),
    "epochs 0": (["trainer.max_epochs=0"], "trainer.max_epochs=0 must be a whole number of at least 1"),
    "negative learning rate": (["optim.lr=-0.1"], "optim.lr=-0.1 must be a finite number in (0, inf)"),
    "learning rate nan": (["optim.lr=nan"], "optim.lr=nan must be a finite number in (0, inf)"),
    "learning rate inf": (["optim.lr=inf"], "optim.lr=inf must be a finite number"),
    "label smoothing 1": (["loss.label_smoothing=1.0"], "loss.label_smoothing=1.0 must be a finite number in [0, 1)"),
    "label smoothing negative": (["loss.label_smoothing=-0.1"], "loss.label_smoothing=-0.1 must be"),
    "momentum 1.5": (["optim.momentum=1.5"], "optim.momentum=1.5 must be a finite number in [0, 1)"),
    "weight decay nan": (["optim.weight_decay=nan"], "optim.weight_decay=nan must be a finite number"),
    "divergence check negative": (["runtime.finite_check_every_n_steps=-1"], "runtime.finite_check_every_n_steps=-1"),
    "min epochs above max": (["trainer.min_epochs=5", "trainer.max_epochs=2"], "trainer.min_epochs=5 is more than"),
    "unknown curve form": (["runtime.report.curve_form=M9"], "runtime.report.curve_form='M9' must be one of auto, M1"),
    "curve form lower case": (["runtime.report.curve_form=m4"], "runtime.report.curve_form='m4' must be one of"),
}


@pytest.mark.parametrize(("overrides", "expected"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_a_bad_setting_is_refused_naming_the_key(overrides, expected) -> None:
    cfg = compose_config(["data=mnist", "model=mnist_net", *overrides])
    with pytest.raises(ScalegridError) as refused:
        check_settings(cfg)
    assert str(refused.value).startswith(expected), str(refused.value)


@pytest.mark.parametrize("experiment", [None, "mnist_basics", "finetune_depth", "mnist_scaling"])
def test_every_shipped_default_passes(experiment) -> None:
    extra = [] if experiment is None else [f"experiment={experiment}"]
    check_settings(compose_config(extra))


def test_every_checked_key_exists_in_the_config() -> None:
    """A renamed key would leave its check silently unused."""
    cfg = compose_config(["data=mnist", "optim=sgd", "data.image_size=null"])
    for key in CHECKS:
        if key.startswith(("data.test_size", "data.resize_size")):  # custom image data only
            key_cfg = compose_config(["data=image_folder"])
            assert OmegaConf.select(key_cfg, key, default="absent") != "absent", key
            continue
        assert OmegaConf.select(cfg, key, default="absent") != "absent", key


@pytest.mark.slow
@pytest.mark.parametrize(
    "bad",
    [
        ["data.fraction=abc"],
        ["trainer.max_epochs=-1"],
        ["optim.lr=nan"],
        ["loss.label_smoothing=2"],
        ["trainer.precision=bogus"],  # these four are read late (the Trainer, the optimiser): refused first
        ["sched.name=bogus"],
        ["optim.name=bogus"],
        ["budget=bogus"],
    ],
)
def test_through_the_entry_point_one_line_exit_2_and_nothing_written(bad, mnist_root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    args = ["data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}", *TINY_DATA, *FAST_TRAINER]
    proc = run_train([*args, *bad, f"hydra.run.dir={run_dir}"])
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"scalegrid: error: {bad[0].split('=')[0]}="), proc.stderr
    assert not run_dir.exists()


@pytest.mark.slow
def test_a_grid_whose_every_cell_shares_a_bad_setting_stops_before_any_cell(mnist_root, tmp_path) -> None:
    grid_dir = tmp_path / "grid"
    args = ["-m", "hydra=grid", "data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}", *TINY_DATA]
    proc = run_train([*args, *FAST_TRAINER, "optim.lr=nan", "seed=0,1", f"hydra.sweep.dir={grid_dir}"])
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["scalegrid: error: optim.lr=nan must be a finite number in (0, inf)"], proc.stderr
    assert not grid_dir.exists() or not list(grid_dir.rglob(RESULTS_FILE))


@pytest.mark.slow
def test_a_grid_cell_with_its_own_bad_setting_is_recorded_and_the_grid_goes_on(mnist_root, tmp_path) -> None:
    grid_dir = tmp_path / "grid"
    args = ["-m", "hydra=grid", "data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}", *TINY_DATA]
    proc = run_train(
        [*args, *FAST_TRAINER, "optim.lr=0.01,-1", f"hydra.sweep.dir={grid_dir}", "hydra.sweep.subdir=lr${optim.lr}"]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 cells: 1 trained, 0 skipped (already finished), 0 diverged, 1 failed" in proc.stdout
    failed = json.loads((grid_dir / "lr-1" / RESULTS_FILE).read_text())
    assert failed["status"] == "failed" and failed["error"].startswith("optim.lr=-1 must be a finite number")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("trainer.precision=bogus", "trainer.precision='bogus' is unknown; choose one of auto, 32-true, 16-mixed"),
        ("sched.name=bogus", "sched.name='bogus' is unknown; choose one of none, cosine, onecycle, step"),
        ("optim.name=bogus", "optim.name='bogus' is unknown; choose one of sgd, adam, adamw"),
        ("budget=bogus", "budget='bogus' is unknown; choose one of epochs, steps"),
    ],
)
def test_settings_that_name_a_choice_are_refused_before_any_work(override, expected) -> None:
    from scalegrid.run.training import check_choices

    with pytest.raises(ScalegridError, match=re.escape(expected)):
        check_choices(compose_config(["data=mnist", "model=mnist_net", override]))
    check_choices(compose_config(["data=mnist", "model=mnist_net", "trainer.precision=bf16-mixed"]))


SLURM = ["hydra=grid", "hydra/launcher=slurm"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["hydra.launcher.timeout_min=1"],
            "hydra.launcher.timeout_min=1 is too short for hydra.launcher.signal_delay_s"
            "=120: SLURM sends its requeue warning that long before the time limit, and up to 60 s earlier, so the job "
            "would get it as it starts, before it can catch it; set hydra.launcher.timeout_min=4 or more",
        ),
        (["hydra.launcher.timeout_min=3"], "set hydra.launcher.signal_delay_s=90 or less"),
        (["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=31"], "signal_delay_s=30 or less"),
        (["hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=0"], "timeout_min=2 or more"),
    ],
)
def test_a_slurm_time_limit_the_requeue_warning_cannot_fit_is_refused(overrides, expected) -> None:
    from scalegrid.contract.settings_check import check_launcher_settings

    with pytest.raises(ScalegridError, match=re.escape(expected)):
        check_launcher_settings(compose_config([*SLURM, *overrides]))


@pytest.mark.parametrize(
    "overrides",
    [
        [],  # the shipped settings: 240 min, warned 120 s before
        ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=30"],  # the tests' time-limited cell
        ["hydra.launcher.timeout_min=4"],
    ],
)
def test_slurm_time_limits_with_room_for_the_warning_pass(overrides) -> None:
    from scalegrid.contract.settings_check import check_launcher_settings

    check_launcher_settings(compose_config([*SLURM, *overrides]))
    check_launcher_settings(compose_config(["hydra=grid"]))  # the basic launcher has no time limit at all


@pytest.mark.parametrize("name", ["", "  ", "a/b", "..", 5])
def test_an_experiment_name_that_is_not_one_folder_is_refused(name):
    with pytest.raises(ScalegridError, match=r"^experiment_name=.* must name one folder"):
        check_settings({"experiment_name": name})
    check_settings({"experiment_name": "demo_source-2"})
