"""Grids through Hydra's launchers: joblib on one machine, submitit locally, and the SLURM config's sbatch file."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import FAST_TRAINER, TINY_DATA, compose_config, run_train
from omegaconf import OmegaConf

from scalegrid.contract.results import RESULTS_FILE

pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install -e .[cluster]")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install -e .[cluster]")


def _two_cells(root: Path, grid_dir: Path, *launcher: str) -> list[str]:
    return [
        "-m",
        "hydra=grid",
        *launcher,
        "data=mnist",
        "model=mnist_net",
        f"runtime.data.root={root}",
        f"hydra.sweep.dir={grid_dir}",
        *TINY_DATA,
        *FAST_TRAINER,
        "trainer.max_epochs=1",
        "seed=0,1",
    ]


def _statuses(grid_dir: Path) -> dict[str, str]:
    return {path.parent.name: json.loads(path.read_text())["status"] for path in grid_dir.rglob(RESULTS_FILE)}


def _assert_one_line_per_cell(stdout: str) -> None:
    """The sweeping process printed a line for each cell its workers ran, and none of the launcher's job list."""
    lines = sorted(line for line in stdout.splitlines() if re.match(r"\[[12]/2\] ", line))
    assert len(lines) == 2 and lines[1].endswith("; none left"), stdout[-2000:]
    assert {re.search(r"seed\d", line).group() for line in lines} == {"seed0", "seed1"}
    assert "#0 :" not in stdout and "Trainable params" not in stdout


@pytest.mark.slow
def test_a_grid_through_the_joblib_launcher(mnist_root: Path, tmp_path: Path) -> None:
    grid_dir = tmp_path / "grid"
    completed = run_train(_two_cells(mnist_root, grid_dir, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert _statuses(grid_dir) == {"seed0": "completed", "seed1": "completed"}
    threads = {json.loads(path.read_text())["torch_threads"] for path in grid_dir.rglob(RESULTS_FILE)}
    assert threads == {max(1, len(os.sched_getaffinity(0)) // 2)}  # the cores shared by the 2 jobs
    assert "the launcher's workers ran the jobs; 2 cells on disk: 2 completed" in completed.stdout
    _assert_one_line_per_cell(completed.stdout)


@pytest.mark.slow
def test_a_grid_through_submitit_local(mnist_root: Path, tmp_path: Path) -> None:
    grid_dir = tmp_path / "grid"
    completed = run_train(_two_cells(mnist_root, grid_dir, "hydra/launcher=submitit_local"), timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert _statuses(grid_dir) == {"seed0": "completed", "seed1": "completed"}
    assert list((grid_dir / ".submitit").iterdir())  # submitit's own job folders: it really ran them
    _assert_one_line_per_cell(completed.stdout)


def test_the_slurm_launcher_config_gives_the_expected_sbatch_file(tmp_path: Path, monkeypatch) -> None:
    """conf/hydra/launcher/slurm.yaml through the plugin's own parameter mapping into submitit's sbatch file."""
    bin_dir = tmp_path / "bin"  # submitit looks for srun before it will describe a SLURM job; it never runs it here
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    import submitit
    from hydra.core.hydra_config import HydraConfig
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    cfg = compose_config(
        [
            "hydra=grid",
            "hydra/launcher=slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.gpus_per_node=2",
            "hydra.launcher.timeout_min=90",
            "hydra.launcher.setup=[module load cuda/12.4]",
            "+hydra.launcher.additional_parameters.constraint=a100",
            "experiment_name=cluster",
        ]
    )
    HydraConfig().set_config(cfg)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert params["_target_"].endswith("SlurmLauncher")
    assert params["submitit_folder"].endswith("outputs/grids/cluster/.submitit/%j")  # beside the grid's cells
    params.pop("_target_")
    params.pop("submitit_folder")
    # The mapping hydra-submitit-launcher's launch() applies before it submits.
    executor = submitit.AutoExecutor(
        folder=tmp_path, cluster="slurm", slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in base else f"slurm_{key}": value for key, value in params.items()})
    sbatch = executor._executor._make_submission_file_text("python src/train.py", "0")  # noqa: SLF001
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=2",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32GB",
        "#SBATCH --time=90",
        "#SBATCH --constraint=a100",
        "#SBATCH --signal=USR2@120",
        "module load cuda/12.4",
    ):
        assert line in sbatch, line
