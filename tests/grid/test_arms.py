"""Arms: settings that move together, swept by name, each arm in its own folder and row of the report."""

import pytest
from conftest import FAST_TRAINER, TINY_DATA, compose_config, run_train

from scalegrid.analysis.report import build_report
from scalegrid.contract.results import read_result, resolved_config


def test_an_arm_sets_its_settings_together_and_wins_over_the_experiment(tmp_path):
    config = resolved_config(compose_config(["arm=finetune_depth/freeze5", "model.weights=null"], output_dir=tmp_path))
    assert config["arm"] == "freeze5" and config["optim"]["lr"] == 0.001 and config["model"]["weights"] is None
    assert config["finetune"] == {**config["finetune"], "policy": "freeze_stages", "freeze_stages": 5}
    assert config["finetune"]["frozen_bn"] == "updating" and config["model"]["head"]["kind"] == "mlp"
    assert resolved_config(compose_config([], output_dir=tmp_path))["arm"] is None  # no arm outside arm studies
    pretrained_arm = compose_config(["arm=finetune_depth/freeze5"], output_dir=tmp_path)
    assert resolved_config(pretrained_arm)["model"]["weights"] == "imagenet"  # pretrained: null means ImageNet
    own = compose_config(["arm=finetune_depth/freeze5", "pretrained=/ckpts/source.ckpt"], output_dir=tmp_path)
    assert resolved_config(own)["model"]["weights"] == "/ckpts/source.ckpt"


@pytest.mark.slow
def test_a_two_arm_sweep_lands_in_two_folders_and_the_report_shows_what_each_arm_set(cifar_root, tmp_path):
    grid = tmp_path / "grid"
    args = ["-m", "hydra=grid", "model=resnet18", f"runtime.data.root={cifar_root}", *TINY_DATA, *FAST_TRAINER]
    args += ["trainer.max_epochs=1", "logger=none", "model.weights=null", f"hydra.sweep.dir={grid}"]
    completed = run_train([*args, "arm=finetune_depth/scratch,finetune_depth/freeze5"])
    assert completed.returncode == 0, completed.stderr[-3000:]
    cells = {path.parent.name: path.parent for path in grid.rglob("results.json")}
    assert set(cells) == {"arm=scratch", "arm=freeze5"}
    scratch, freeze5 = read_result(cells["arm=scratch"]), read_result(cells["arm=freeze5"])
    assert scratch.config["arm"] == "scratch" and freeze5.params_trainable < scratch.params_trainable
    markdown = build_report(grid).read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| arm |"))
    assert "optim.lr" in header and "model.head.kind" in header and "params trainable" in header
    rows = [line for line in markdown.splitlines() if line.startswith("| finetune_depth/")]
    assert len(rows) == 2
    freeze_row = next(row for row in rows if "freeze5" in row)
    assert "| 0.001 |" in freeze_row and "| mlp |" in freeze_row and f"{freeze5.params_trainable:,}" in freeze_row
    assert "(n=1)" in freeze_row  # one seed: no spread printed
    assert (grid / "report" / "accuracy_by_arm.png").is_file()  # a categorical axis: grouped bars
