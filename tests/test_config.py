"""Every config group option composes into a config the pipeline can read; option lists never go stale."""

import re

import pytest
from conftest import compose_config

from scalegrid import CONF_DIR, PROJECT_ROOT
from scalegrid.contract.config_versions import MOVED_IN_VERSION_2
from scalegrid.data.create import data_options
from scalegrid.models.registry import available_models

GROUPS = "data model finetune optim sched trainer logger callbacks paths hydra size debug".split()


def options_of(group: str) -> list[str]:
    """The selectable options of a config group: its YAML files, minus shared bases (``_*.yaml``); for ``arm``, the
    ``<study>/<arm>`` files below it."""
    pattern = "*/*.yaml" if group == "arm" else "*.yaml"
    paths = (CONF_DIR / group).glob(pattern)
    return sorted(
        str(path.relative_to(CONF_DIR / group).with_suffix("")) for path in paths if not path.stem.startswith("_")
    )


OPTIONS = [(group, option) for group in GROUPS for option in options_of(group)]


def test_every_model_option_names_a_registered_model_and_every_model_has_an_option():
    names = {option: compose_config([f"model={option}"]).model.name for option in options_of("model")}
    assert set(names.values()) == set(available_models())
    assert all(name == option for option, name in names.items() if option in available_models())


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_option_composes_into_a_readable_config(group, option, tmp_path):
    overrides = [f"{group}={option}"]
    if group == "data" and option.startswith("image"):
        overrides.append(f"runtime.data.{'csv_file' if option == 'image_csv' else 'root'}={tmp_path}")
        overrides += [f"runtime.data.train_list={tmp_path}/train.txt"] if option == "image_list" else []
    cfg = compose_config(overrides, output_dir=tmp_path)
    assert cfg.data.name == (option if group == "data" else "cifar10")
    if group == "model":
        assert cfg.model.name in available_models() and "weights" in cfg.model and cfg.model.head.kind == "linear"
    if group in ("finetune", "optim", "sched"):
        assert cfg[group].get("policy", cfg[group].get("name")) == option
    assert 0 < cfg.data.fraction <= 1 and cfg.optim.lr > 0
    assert cfg.runtime.paths.output_dir == str(tmp_path)
    from scalegrid.contract.results import resolved_config

    options = data_options(resolved_config(cfg))  # what the datamodule is built from
    assert options["name"] == cfg.data.name and ("root" in options or "csv_file" in options)


def _listed_options(text: str, group: str) -> list[str]:
    match = re.search(rf"^  - {group}: \S+ +# (.+)$", text, re.M)
    assert match, f"conf/train.yaml lists no options for {group}"
    return sorted(part.strip() for part in match.group(1).split("|"))


@pytest.mark.parametrize("group", [*GROUPS, "experiment"])
def test_train_yaml_lists_exactly_the_options_in_each_folder(group):
    assert _listed_options((CONF_DIR / "train.yaml").read_text(), group) == options_of(group)


@pytest.mark.parametrize("group", [*GROUPS, "experiment", "arm", "data/augment"])
def test_the_configuration_page_lists_exactly_the_options_in_each_folder(group):
    text = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    row = re.search(rf"^\| `{group}` \| (.+?) \|", text, re.M)
    assert row, f"docs/configuration.md has no row for {group}"
    assert sorted(re.findall(r"`([^`]+)`", row.group(1))) == options_of(group)


def test_the_configuration_page_lists_every_moved_key():
    text = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    section = text.split("## Keys that moved")[1].split("\n## ")[0]
    missing = [key for key in MOVED_IN_VERSION_2 if f"`{key}" not in section]
    assert not missing


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    from scalegrid.contract.results import resolved_config

    config = resolved_config(compose_config([], output_dir=tmp_path))
    assert data_options(config)["root"] == str(tmp_path)


def test_data_dir_defaults_to_the_project(monkeypatch, tmp_path):
    monkeypatch.delenv("DATA_DIR", raising=False)
    from scalegrid.contract.results import resolved_config

    config = resolved_config(compose_config([], output_dir=tmp_path))
    assert data_options(config)["root"] == str(PROJECT_ROOT / "data")


def test_every_knob_is_commented():
    uncommented = []
    for path in CONF_DIR.rglob("*.yaml"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            is_leaf = ":" in line and not line.rstrip().endswith(":") and not line.lstrip().startswith(("#", "-"))
            if is_leaf and "#" not in line and "_target_" not in line and "name:" not in line.split("#")[0][:8]:
                uncommented.append(f"{path.relative_to(CONF_DIR)}:{number}: {line.strip()}")
    assert not uncommented, "\n".join(uncommented)
