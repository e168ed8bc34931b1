"""The reference studies (docs/studies.md): each composes at each size; one cell of each CPU preset trains."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import CIFAR_CLASSES, compose_config, write_cifar10, write_mnist

from scalegrid import CONF_DIR, PROJECT_ROOT
from scalegrid.contract.results import resolved_config
from scalegrid.data.create import data_options
from scalegrid.errors import ScalegridError
from scalegrid.models.weights import apply_pretrained_keyword

STUDIES_PAGE = PROJECT_ROOT / "docs" / "studies.md"
# The studies of ../shared/STUDIES.md, one experiment each; the others in conf/experiment/ are the demo, sources
# and the transfer sibling of finetune_depth.
STUDIES = [
    "bigsmall",
    "simple_cnn",
    "finetune_depth",
    "tiny_cifar_dropout",
    "cifar_resnet_recipe",
    "custom_transfer",
    "mnist_basics",
    "vgg_cifar",
]
WITH_A_CPU_PRESET = [*STUDIES, "finetune_depth_source", "transfer"]


def first_cell(study: str, size: str) -> list[str]:
    """The overrides of a study's first cell: the first value of every swept key, as the sweep would give them."""
    cfg = compose_config([f"experiment={study}", f"size={size}"])
    swept = cfg.hydra.sweeper.params or {}
    return [f"experiment={study}", f"size={size}"] + [
        f"{key}={str(values).split(',')[0]}" for key, values in swept.items()
    ]


def image_list_data(root: Path, classes: int = 5, per_class: int = 8) -> list[str]:
    """Study D's format: JPEGs in one folder, train and test label files of 'name label' (name without extension)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = root / "images"
    folder.mkdir(parents=True)
    lines = {"train": [], "test": []}
    for label in range(classes):
        for i in range(per_class):
            pixels = np.clip(rng.normal(40 * label + 30, 20, (48, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"img_{label}_{i}.jpg", quality=90)
            lines["test" if i % 4 == 0 else "train"].append(f"img_{label}_{i} {label}")
    for split, entries in lines.items():
        (root / f"{split}.txt").write_text("\n".join(entries) + "\n")
    return [
        f"runtime.data.root={folder}",
        f"runtime.data.train_list={root / 'train.txt'}",
        f"runtime.data.test_list={root / 'test.txt'}",
        f"runtime.data.cache_dir={root / 'cache'}",
        "runtime.data.num_workers=0",
    ]


@pytest.mark.parametrize("size", ["full", "cpu"])
@pytest.mark.parametrize("study", WITH_A_CPU_PRESET)
def test_every_study_composes_at_each_size(study, size, tmp_path):
    overrides = first_cell(study, size)
    if study == "custom_transfer":
        overrides += image_list_data(tmp_path)
    config = resolved_config(compose_config(overrides, output_dir=tmp_path))
    assert config["experiment_name"] == study + ("_cpu" if size == "cpu" else "")
    note = config["runtime"]["report"]["note"]
    assert (note or "").startswith("CPU preset: ") if size == "cpu" else note is None
    assert data_options(config)["name"] == config["data"]["name"]  # what the datamodule is built from
    header = (CONF_DIR / "experiment" / f"{study}.yaml").read_text().split("\ndefaults:")[0]
    assert study in ("finetune_depth_source", "transfer") or "Original" in header  # the original's numbers


def test_every_study_has_a_row_in_the_studies_page_with_its_command():
    text = STUDIES_PAGE.read_text()
    for study in STUDIES:
        assert re.search(rf"^\| [A-E][^|]* \| `{study}` \|.*`make study STUDY={study}", text, re.M), study


def test_a_cpu_preset_keeps_every_arm_and_at_least_two_seeds():
    for study in STUDIES:
        full = compose_config([f"experiment={study}"]).hydra.sweeper.params
        cpu = compose_config([f"experiment={study}", "size=cpu"]).hydra.sweeper.params
        assert {key: value for key, value in full.items() if key not in ("seed", "data.fraction")} == {
            key: value for key, value in cpu.items() if key not in ("seed", "data.fraction")
        }, study
        assert len(str(cpu["seed"]).split(",")) >= 2, study


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["STUDY=nope"], "STUDY=nope is not a study; choose one of:"),
        (["STUDY=_grid"], "STUDY=_grid is not a study; choose one of:"),  # a shared base
        (["STUDY=demo"], "STUDY=demo is not a study"),  # make demo's
        (["STUDY=mnist_scaling_source", "SIZE=full"], "STUDY=mnist_scaling_source is not a study"),  # a source
        (["STUDY=mnist_scaling", "SIZE=cpu"], "make study: mnist_scaling has no SIZE=cpu preset"),
    ],
)
def test_make_study_refuses_what_is_not_a_study_at_this_size_with_the_list(arguments, expected):
    import subprocess

    completed = subprocess.run(
        ["make", "--no-print-directory", "study", *arguments, f"VENV={PROJECT_ROOT / '.venv'}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2
    (line,) = [line for line in completed.stdout.splitlines() if line.startswith("make study:")]
    assert "src/train.py" not in completed.stdout  # refused before anything runs
    listed = line.rsplit(": ", 1)[-1].split()
    assert expected in line and "finetune_depth" in listed
    assert not [name for name in listed if name.startswith("_") or name.endswith("_source") or name == "demo"]


# One cell of each CPU preset, a few batches each, in process: the preset's network, arm, recipe, image size and
# pretrained source, with the data sizes cut to the tiny files (val_size, fraction and test_subset cannot hold on
# 10 images per class).
FEW_BATCHES = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.num_sanity_val_steps=0",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "logger=none",
]
OWN_FILES = ["data.verify_checksums=false", "data.download=false"]  # the tiny files in the official format
TINY_SPLITS = {
    "cifar10": ["data.val_size=20", "data.fraction=1.0", *OWN_FILES],
    "mnist": ["data.fraction=1.0", *OWN_FILES],
}


def _run_cell(overrides: list[str], run_dir: Path):
    from scalegrid.run.training import train

    return train(compose_config(overrides, output_dir=run_dir))


@pytest.mark.slow
@pytest.mark.parametrize("study", [s for s in WITH_A_CPU_PRESET if s != "finetune_depth_source"])
def test_one_cell_of_each_cpu_preset_trains_a_few_batches(study, tmp_path):
    dataset = compose_config([f"experiment={study}"]).data.name
    overrides = [*first_cell(study, "cpu"), *FEW_BATCHES, f"runtime.paths.log_dir={tmp_path / 'outputs'}"]
    if dataset == "image_list":
        overrides += image_list_data(tmp_path)
    else:
        writer = write_mnist if dataset == "mnist" else write_cifar10
        overrides += [f"runtime.data.root={writer(tmp_path / 'data')}", *TINY_SPLITS[dataset]]
    result = _run_cell(overrides, tmp_path / "run")
    assert result.status.value == "completed" and result.test_acc is not None
    assert result.config["experiment_name"] == f"{study}_cpu"


@pytest.mark.slow
def test_finetune_depth_at_cpu_size_fine_tunes_from_its_source(tmp_path):
    """The whole chain `make study STUDY=finetune_depth SIZE=cpu` runs: the source on classes 0-4, then a frozen arm
    on classes 5-9 from the source's last checkpoint at the path the preset names."""
    root = write_cifar10(tmp_path / "data", train_per_class=20)
    common = [*FEW_BATCHES, f"runtime.data.root={root}", f"runtime.paths.log_dir={tmp_path / 'outputs'}"]
    common += TINY_SPLITS["cifar10"]
    source_cfg = compose_config(["experiment=finetune_depth_source", "size=cpu", *common])
    source_dir = Path(
        str(source_cfg.hydra.sweep.dir),
        "resnet18/frac1.0/scratch/full/seed0",  # the folder the grid gives it, with fraction 1 here
    )
    source = _run_cell(["experiment=finetune_depth_source", "size=cpu", *common], source_dir)
    assert source.status.value == "completed" and source.class_names == CIFAR_CLASSES[:5]
    checkpoint = source_dir / "checkpoints" / "last.ckpt"
    target = _run_cell(
        [*first_cell("finetune_depth", "cpu")[:2], "arm=finetune_depth/freeze5", *common, f"pretrained={checkpoint}"],
        tmp_path / "target",
    )
    assert target.config["model"]["weights"] == str(checkpoint)
    assert target.class_names == CIFAR_CLASSES[5:]
    assert target.params_trainable < target.params_total  # conv1 .. layer1 frozen
    default_source = compose_config(["experiment=finetune_depth", "size=cpu", *common])
    assert resolved_config(default_source)["pretrained"].startswith(
        str(tmp_path / "outputs" / "grids" / "finetune_depth_source_cpu")
    )


SOURCE_ARMS = ["bigsmall", "transfer", "vgg_cifar"]  # CPU presets whose pretrained arms have a source preset


def _pretrained_cell(study: str, overrides: list[str]) -> list[str]:
    """The overrides of a study's first pretrained cell: its swept pretraining key at the value that is not scratch."""
    params = compose_config([f"experiment={study}", *overrides]).hydra.sweeper.params
    for key in ("model.weights", "init"):
        if key in params:
            value = next(v for v in str(params[key]).split(",") if v not in ("null", "scratch"))
            return [f"experiment={study}", *overrides, f"{key}={value}"]
    raise AssertionError(f"{study} sweeps no pretraining key")


@pytest.mark.parametrize("study", SOURCE_ARMS)
def test_without_imagenet_files_a_cpu_preset_starts_its_pretrained_arms_from_its_source(study, tmp_path):
    paths = [f"runtime.paths.log_dir={tmp_path}"]
    target = compose_config([f"experiment={study}", "size=cpu", "pretrained_from=source", *paths])
    source = compose_config([f"experiment={study}_source", "size=cpu", *paths])
    assert set(target.data.classes).isdisjoint(source.data.classes)  # the target's images: classes the source never saw
    assert target.experiment_name == f"{study}_cpu_source"  # a grid of its own, apart from the ImageNet one
    assert "not ImageNet" in target.runtime.report.note  # the report says where the pretrained arms came from
    source_models = str((source.hydra.sweeper.params or {}).get("model") or source.model.name).split(",")
    target_models = str((target.hydra.sweeper.params or {}).get("model") or target.model.name).split(",")
    assert set(target_models) <= set(source_models)
    for model in target_models:
        overrides = [*_pretrained_cell(study, ["size=cpu", "pretrained_from=source", *paths]), f"model={model}"]
        cell = compose_config(overrides, output_dir=tmp_path / "cell")
        apply_pretrained_keyword(cell)  # what the entry point does first: model.weights=pretrained -> `pretrained`
        source_cell = Path(source.hydra.sweep.dir, model, f"frac{source.data.fraction}", "scratch", "full", "seed0")
        assert resolved_config(cell)["model"]["weights"] == str(source_cell / "checkpoints" / "last.ckpt")
    imagenet = compose_config(_pretrained_cell(study, ["size=cpu", *paths]), output_dir=tmp_path / "cell")
    assert resolved_config(imagenet)["model"]["weights"] == "imagenet"  # with the files present: ImageNet, as before


def test_model_weights_pretrained_names_the_checkpoint_of_the_pretrained_key(tmp_path):
    cell = compose_config(["model.weights=pretrained", "pretrained=ckpts/${model.name}.ckpt", "model=resnet50"])
    apply_pretrained_keyword(cell)
    assert cell.model.weights == "ckpts/resnet50.ckpt"  # resolved for the cell's own model
    unset = compose_config(["model.weights=pretrained"])
    with pytest.raises(
        ScalegridError, match="model.weights=pretrained names the checkpoint of pretrained=, which is not set"
    ):
        apply_pretrained_keyword(unset)


def test_the_imagenet_check_names_the_missing_files_of_a_study(tmp_path, monkeypatch, capsys):
    import torchvision

    from scalegrid.models.imagenet_files import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["experiment=bigsmall", "size=cpu"]) == 1
    files = [Path(torchvision.models.get_model_weights(arch).DEFAULT.url).name for arch in ("resnet18", "resnet50")]
    assert f"ImageNet weights not in {tmp_path / 'hub' / 'checkpoints'}: {', '.join(files)}" in capsys.readouterr().out
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / files[0]).write_bytes(b"")
    assert main(["experiment=bigsmall", "size=cpu"]) == 1 and files[0] not in capsys.readouterr().out
    (tmp_path / "hub" / "checkpoints" / files[1]).write_bytes(b"")
    assert main(["experiment=bigsmall", "size=cpu"]) == 0
    assert main(["experiment=no_such_study"]) == 2
    assert "no_such_study" in capsys.readouterr().err
