"""Every config group option composes, and the composed config has the keys the pipeline reads."""

import pytest
from conftest import compose_config

from scalegrid import CONF_DIR

GROUPS = ["data", "model", "finetune", "optim", "sched", "trainer", "logger", "callbacks", "paths", "hydra", "debug"]
OPTIONS = [(group, path.stem) for group in GROUPS for path in sorted((CONF_DIR / group).glob("*.yaml"))]


def test_every_group_has_options():
    assert {group for group, _ in OPTIONS} == set(GROUPS)


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_option_composes(group, option, tmp_path):
    cfg = compose_config([f"{group}={option}"], output_dir=tmp_path)
    assert cfg.data.name == (option if group == "data" else "cifar10")
    assert 0 < cfg.data.fraction <= 1
    assert cfg.model.name and cfg.optim.name and cfg.sched.name
    assert cfg.paths.output_dir == str(tmp_path)


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert compose_config([], output_dir=tmp_path).data.root == str(tmp_path)


def test_data_dir_defaults_to_the_project(monkeypatch, tmp_path):
    monkeypatch.delenv("DATA_DIR", raising=False)
    from scalegrid import PROJECT_ROOT

    assert compose_config([], output_dir=tmp_path).data.root == str(PROJECT_ROOT / "data")


def test_every_knob_is_commented():
    uncommented = []
    for path in CONF_DIR.rglob("*.yaml"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            is_leaf = ":" in line and not line.rstrip().endswith(":") and not line.lstrip().startswith(("#", "-"))
            if is_leaf and "#" not in line and "_target_" not in line and "name:" not in line.split("#")[0][:8]:
                uncommented.append(f"{path.relative_to(CONF_DIR)}:{number}: {line.strip()}")
    assert not uncommented, "\n".join(uncommented)
