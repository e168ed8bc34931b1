"""Cell identity by structure: settings under runtime never change a cell, every other setting does."""

from __future__ import annotations

import pytest
from conftest import compose_config

from scalegrid import CONF_DIR
from scalegrid.contract.identity import defining_settings, flatten, identity_differences, is_runtime
from scalegrid.contract.results import resolved_config

GROUPS = ["data", "model", "finetune", "optim", "sched", "trainer", "logger", "callbacks", "paths", "hydra", "debug"]
OPTIONS = [
    (group, path.stem)
    for group in [*GROUPS, "experiment"]
    for path in sorted((CONF_DIR / group).glob("*.yaml"))
    if not path.stem.startswith("_")  # shared base files, not options
]
# What a leaf on the defining side may not be: a place on disk, or a bookkeeping object.
BOOKKEEPING_TARGETS = ("pytorch_lightning.loggers.", "ModelCheckpoint", "TQDMProgressBar", "LearningRateMonitor")


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    """Each option's resolved config, composed once for both tests of this module."""
    cache: dict[tuple[str, str], tuple[dict, object]] = {}

    def compose_once(group: str, option: str):
        if (group, option) not in cache:
            folder = tmp_path_factory.mktemp(f"{group}-{option}")
            cache[group, option] = (_composed(group, option, folder), folder)
        return cache[group, option]

    return compose_once


def _composed(group: str, option: str, tmp_path) -> dict:
    overrides = [f"{group}={option}"]
    if group == "data" and option.startswith("image"):
        overrides.append(f"runtime.data.{'csv_file' if option == 'image_csv' else 'root'}={tmp_path}/images")
    if group == "experiment" and option == "demo":
        overrides.append("init=source")  # its checkpoint path: a defining setting that names a place
    return resolved_config(compose_config(overrides, output_dir=tmp_path / "run"))


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_no_place_or_bookkeeping_setting_lies_outside_runtime(group, option, composed):
    config, tmp_path = composed(group, option)
    paths = config["runtime"]["paths"]
    places = [str(tmp_path), paths["log_dir"], paths["data_dir"], paths["output_dir"]]
    misplaced = []
    for key, value in defining_settings(config).items():
        if key == "model.weights" or key.startswith("init_weights."):
            continue  # a checkpoint to start from is what the run computes from (demo's source model)
        text = str(value)
        if any(place in text for place in places) or any(target in text for target in BOOKKEEPING_TARGETS):
            misplaced.append(f"{key}: {value}")
    assert not misplaced, f"{group}={option}: put these under runtime: {misplaced}"


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_runtime_leaves_never_change_identity_and_every_other_leaf_does(group, option, composed):
    config, _ = composed(group, option)
    leaves = flatten(config)
    assert any(is_runtime(key) for key in leaves) and any(not is_runtime(key) for key in leaves)
    for key in leaves:
        changed = _with_leaf(config, key, "<changed>")
        differences = identity_differences(config, changed)
        if is_runtime(key):
            assert differences == [], key
        else:
            assert [line.split(":")[0] for line in differences] == [key], key


def _with_leaf(config: dict, dotted: str, value) -> dict:
    import copy

    changed = copy.deepcopy(config)
    node = changed
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    return changed


def test_an_added_setting_outside_runtime_defines_the_cell_and_inside_it_does_not():
    base = {"optim": {"lr": 0.1}, "runtime": {"threads": 2}}
    assert identity_differences(base, {**base, "callbacks": {"early_stopping": {"patience": 3}}}) == [
        "callbacks.early_stopping.patience: None -> 3"
    ]
    assert identity_differences(base, {**base, "runtime": {"threads": 2, "profiler_dir": "/tmp"}}) == []
