"""The custom-image datamodule: splits, the on-disk cache, broken files, and real training runs through src/train.py."""

from __future__ import annotations

import json
import logging
import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import FAST_TRAINER, compose_config, quiet_trainer, run_train, tiny_images, write_image_folder
from PIL import Image

from scalegrid.contract.results import resolved_config
from scalegrid.data.create import create_datamodule, data_options
from scalegrid.data.image_datamodule import ImageFileDataModule
from scalegrid.data.image_sources import list_image_folder
from scalegrid.data.normalization import IMAGENET_MEAN
from scalegrid.errors import ScalegridError
from scalegrid.models import create_model
from scalegrid.run.classifier import ImageClassifier

ADAM = {"name": "adam", "lr": 2e-3, "betas": [0.9, 0.999], "weight_decay": 0.0, "backbone_lr_scale": 1.0}


def _datamodule(root: Path, cache_dir: Path, **options) -> ImageFileDataModule:
    settings = dict(image_size=32, batch_size=8, cache_dir=str(cache_dir), num_workers=0, val_size=0.2, test_size=0.2)
    return ImageFileDataModule(partial(list_image_folder, root), **{**settings, **options})


@pytest.fixture
def opened_files(monkeypatch) -> list[str]:
    """Every image file PIL opens from now on (the real decoder still runs)."""
    opened: list[str] = []
    original = Image.open

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    return opened


def _fit(datamodule: ImageFileDataModule, tmp_path: Path, epochs: int = 2) -> pl.Trainer:
    datamodule.prepare_data()
    datamodule.setup("fit")
    network = create_model("simple_cnn", num_classes=datamodule.num_classes, input_shape=datamodule.input_shape)
    module = ImageClassifier(network, datamodule.num_classes, optim=ADAM, sched={"name": "none"})
    trainer = quiet_trainer(epochs, default_root_dir=tmp_path)
    trainer.fit(module, datamodule=datamodule)
    return trainer


def test_cache_decodes_each_image_once(image_folder: Path, tmp_path: Path, opened_files: list[str]) -> None:
    first = _datamodule(image_folder, tmp_path / "cache", cache=True)
    first.prepare_data()
    assert len(opened_files) == 36  # every image decoded, once
    opened_files.clear()
    _fit(first, tmp_path)
    assert opened_files == []  # two epochs of training and validation open no image file

    second = _datamodule(image_folder, tmp_path / "cache", cache=True)  # a later run
    _fit(second, tmp_path)
    assert opened_files == []
    assert torch.equal(first.train_set.images, second.train_set.images)

    changed = sorted(image_folder.glob("dog/*"))[0]
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    _datamodule(image_folder, tmp_path / "cache", cache=True).setup()
    assert opened_files == [str(changed)]  # only the changed file is decoded again


def test_cache_changes_speed_not_data(image_folder: Path, tmp_path: Path) -> None:
    cached = _datamodule(image_folder, tmp_path / "cache", cache=True)
    decoded = _datamodule(image_folder, tmp_path / "cache", cache=False)
    cached.setup()
    decoded.setup()
    assert cached.mean == decoded.mean and cached.std == decoded.std
    assert len(cached.train_set) == len(decoded.train_set) and cached.class_names == decoded.class_names
    cached_batch = next(iter(cached.val_dataloader()))
    decoded_batch = next(iter(decoded.val_dataloader()))
    assert torch.equal(cached_batch[0], decoded_batch[0]) and torch.equal(cached_batch[1], decoded_batch[1])
    images, labels = cached.on_after_batch_transfer(cached_batch, 0)
    assert images.shape == (len(labels), 3, 32, 32) and images.dtype == torch.float32
    # The statistics are the training pool's own: normalised training images have mean ~0 and std ~1.
    pool = cached.on_after_batch_transfer((cached.train_set.images, cached.train_set.labels), 0)[0]
    assert pool.mean(dim=(0, 2, 3)).abs().max() < 0.2 and (pool.std(dim=(0, 2, 3)) - 1).abs().max() < 0.2


def test_splits_fraction_and_classes(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", per_class=20)
    full = _datamodule(root, tmp_path / "cache")
    full.setup()
    assert len(full.test_set) == 12 and len(full.val_set) == 9 and len(full.train_set) == 39
    half = _datamodule(root, tmp_path / "cache", fraction=0.5)
    half.setup()
    assert len(half.train_set) == 21 and half.train_pool_size == 39
    assert set(map(str, half.train_set.paths)) < set(map(str, full.train_set.paths))  # nested
    assert set(map(str, half.test_set.paths)) == set(map(str, full.test_set.paths))  # the test split does not move
    two = _datamodule(root, tmp_path / "cache", classes=["owl", "cat"])
    two.setup()
    assert two.class_names == ("owl", "cat")
    assert {Path(p).parent.name for p in two.train_set.paths} == {"owl", "cat"}
    assert all(
        two.class_names[int(label)] == Path(path).parent.name
        for path, label in zip(two.test_set.paths, two.test_set.labels, strict=True)
    )


def test_imagenet_weights_use_imagenet_statistics(image_folder: Path, tmp_path: Path) -> None:
    datamodule = _datamodule(image_folder, tmp_path / "cache", imagenet_statistics=True)
    datamodule.setup()
    assert datamodule.mean == IMAGENET_MEAN


def _break_two_files(root: Path) -> list[Path]:
    truncated = root / "dog" / "dog_truncated.jpg"
    Image.new("RGB", (64, 64), (0, 200, 0)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    text = root / "cat" / "notes.JPG"
    text.write_text("this is a text file with an image extension\n")
    return [truncated, text]


def test_bad_images_are_all_listed_in_one_error(image_folder: Path, tmp_path: Path) -> None:
    broken = _break_two_files(image_folder)
    with pytest.raises(ScalegridError) as error:
        _datamodule(image_folder, tmp_path / "cache").setup()
    message = str(error.value)
    assert message.startswith("2 image file(s) under") and "\n" not in message
    assert all(str(path) in message for path in broken) and "data.on_bad_image=skip" in message


def test_bad_images_can_be_skipped_with_a_warning(image_folder: Path, tmp_path: Path, caplog) -> None:
    broken = _break_two_files(image_folder)
    for cache in (True, False):
        datamodule = _datamodule(image_folder, tmp_path / "cache", cache=cache, on_bad_image="skip")
        with caplog.at_level(logging.WARNING):
            datamodule.setup()
        assert "leaving out 2 image file(s)" in caplog.text and all(str(path) in caplog.text for path in broken)
        caplog.clear()
        kept = len(datamodule.train_set) + len(datamodule.val_set) + len(datamodule.test_set)
        assert kept == 36 and set(datamodule.bad_images) == set(broken)


def test_decoding_in_worker_processes_trains(image_folder: Path, tmp_path: Path) -> None:
    datamodule = _datamodule(image_folder, tmp_path / "cache", num_workers=2)
    trainer = _fit(datamodule, tmp_path, epochs=1)
    assert trainer.current_epoch == 1 and isinstance(datamodule.train_dataloader(), torch.utils.data.DataLoader)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.augment.crop=mixup", "data.augment.crop='mixup' is unknown"),
        ("data.on_bad_image=ignore", "data.on_bad_image='ignore' is unknown"),
        ("data.val_size=0", r"data.val_size=0 must be a share in \(0, 1\)"),
        ("data.resize_size=16", "data.resize_size=16 must be at least data.image_size=32"),
        ("data.crop_scale=[0.5,0.1]", r"data.augment.crop_scale=\[0.5, 0.1\] must be \[low, high\]"),  # old name
        ("+data.colour=red", "data: .*unexpected keyword argument 'colour'; see conf/data/image_folder.yaml"),
    ],
)
def test_bad_settings_are_refused(image_folder: Path, tmp_path: Path, override: str, message: str) -> None:
    cfg = compose_config(
        ["data=image_folder", f"runtime.data.root={image_folder}", *tiny_images(tmp_path), override], tmp_path / "run"
    )
    with pytest.raises(ScalegridError, match=message):
        create_datamodule(data_options(resolved_config(cfg)), shuffle_seed=0, imagenet_statistics=False)


def test_broken_images_stop_the_entry_point_with_one_line(image_folder: Path, tmp_path: Path) -> None:
    broken = _break_two_files(image_folder)
    completed = run_train(
        [
            "data=image_folder",
            f"runtime.data.root={image_folder}",
            *tiny_images(tmp_path),
            f"hydra.run.dir={tmp_path}/run",
        ]
    )
    assert completed.returncode == 2, completed.stderr[-2000:]
    errors = [line for line in completed.stderr.splitlines() if line.startswith("scalegrid:")]
    assert len(errors) == 1 and "Traceback" not in completed.stderr
    assert errors[0].startswith("scalegrid: error: 2 image file(s)") and all(str(p) in errors[0] for p in broken)
    assert not (tmp_path / "run" / "results.json").exists()


def test_train_on_a_generated_folder_and_csv(image_folder: Path, tmp_path: Path) -> None:
    common = [*tiny_images(tmp_path), *FAST_TRAINER, "model=simple_cnn", "optim=adam", "trainer.max_epochs=3"]
    completed = run_train(
        ["data=image_folder", f"runtime.data.root={image_folder}", *common, f"hydra.run.dir={tmp_path}/folder"]
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((tmp_path / "folder" / "results.json").read_text())
    assert results["class_names"] == ["cat", "dog", "owl"]
    assert (results["train_size"], results["val_size"], results["test_size"]) == (24, 6, 6)
    assert results["test_acc"] > 1 / 3  # the classes differ by colour: three epochs learn something
    assert len(results["epoch_seconds"]) == len(results["train_epoch_seconds"]) == 3
    assert all(
        0 < train <= whole
        for train, whole in zip(results["train_epoch_seconds"], results["epoch_seconds"], strict=True)
    )

    rows = ["image,kind"] + [
        f"{p.relative_to(image_folder)},{p.parent.name}" for p in sorted(image_folder.rglob("*.*"))
    ]
    (image_folder / "labels.csv").write_text("\n".join(rows) + "\n")
    csv_args = [
        "data=image_csv",
        f"runtime.data.csv_file={image_folder / 'labels.csv'}",
        "data.path_column=image",
        "data.label_column=kind",
    ]
    completed = run_train([*csv_args, *common, "runtime.data.cache=true", f"hydra.run.dir={tmp_path}/csv"])
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((tmp_path / "csv" / "results.json").read_text())
    assert results["class_names"] == ["cat", "dog", "owl"] and results["test_size"] == 6
    assert results["config"]["runtime"]["data"]["cache"] is True


def test_a_small_grid_on_a_generated_folder(image_folder: Path, tmp_path: Path) -> None:
    completed = run_train(
        [
            "-m",
            "hydra=grid",
            f"hydra.sweep.dir={tmp_path}/grid",
            "data=image_folder",
            f"runtime.data.root={image_folder}",
            *tiny_images(tmp_path),
            *FAST_TRAINER,
            "runtime.data.cache=true",
            "model=simple_cnn",
            "data.fraction=0.5,1.0",
        ]
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = [json.loads(path.read_text()) for path in sorted((tmp_path / "grid").rglob("results.json"))]
    assert sorted(r["train_size"] for r in results) == [12, 24]
    assert len({r["test_size"] for r in results}) == 1
    assert np.all([r["status"] == "completed" for r in results])
    logs = "".join(path.read_text() for path in (tmp_path / "grid").rglob("train.log"))  # a cell's output: its log
    assert "decoding and caching images" not in completed.stderr + completed.stdout
    assert logs.count("decoding and caching images: 100%") == 1  # once: the second cell finds the cache


def test_preparing_again_after_setup_reads_nothing(image_folder: Path, tmp_path: Path, monkeypatch) -> None:
    datamodule = _datamodule(image_folder, tmp_path / "cache", cache=True)
    datamodule.prepare_data()
    datamodule.setup("fit")
    scans, real_scan = [], datamodule._scan
    monkeypatch.setattr(datamodule, "_scan", lambda: scans.append(1) or real_scan())  # counts, still scans
    datamodule.prepare_data()  # what Trainer.fit does after train() set the datamodule up
    assert scans == []


def test_a_train_and_val_layout_tests_on_val_and_selects_on_a_split_of_train(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", per_class=12, layout="split")  # train/ and test/ per class
    (root / "test").rename(root / "val")  # ants/bees-style: train/ and val/, no test/
    datamodule = create_datamodule(
        {
            "name": "image_folder",
            "root": str(root),
            "image_size": 32,
            "val_size": 0.2,
            "cache_dir": str(tmp_path / "c"),
            "num_workers": 0,
        },
        shuffle_seed=0,
        imagenet_statistics=False,
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    val_images = len(list((root / "val").rglob("*.*")))
    assert len(datamodule.test_set) == val_images == 9  # every val/ image is tested
    assert len(datamodule.train_set) + len(datamodule.val_set) == 27  # selection uses train/ only
    assert datamodule.test_source.startswith("the given val split")


def test_a_validation_folder_missing_a_class_is_said(tmp_path: Path, caplog) -> None:
    """A given val/ without one of train/'s classes trained silently (best_val_acc chosen without it): now a warning."""
    import shutil

    root = write_image_folder(tmp_path / "images", layout="splits", per_class=8)
    shutil.copytree(root / "test", root / "val")
    shutil.rmtree(root / "val" / "owl")
    with caplog.at_level(logging.WARNING):
        _datamodule(root, tmp_path / "cache").setup("fit")
    assert "the validation split has no images of owl: the best epoch is chosen without them" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _datamodule(write_image_folder(tmp_path / "whole", per_class=8), tmp_path / "cache2").setup("fit")
    assert "validation split has no images" not in caplog.text  # carved validation holds every class


@pytest.mark.parametrize("cache", [False, True])
def test_a_cache_folder_under_a_plain_file_names_the_file_and_the_key(tmp_path: Path, cache: bool) -> None:
    root = write_image_folder(tmp_path / "images", per_class=4)
    (tmp_path / "plain").write_text("")
    with pytest.raises(ScalegridError) as refused:
        _datamodule(root, tmp_path / "plain" / "cache", cache=cache).setup("fit")
    message = str(refused.value)
    assert message.startswith(f"runtime.data.cache_dir={tmp_path / 'plain' / 'cache'} cannot hold the image record")
    assert f"{tmp_path / 'plain'} is a file" in message and "point runtime.data.cache_dir at a folder" in message
