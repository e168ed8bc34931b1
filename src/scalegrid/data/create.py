"""``create_datamodule``: the data config (``conf/data/*.yaml``) to a LightningDataModule."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytorch_lightning as pl

from scalegrid.data.datamodule import BUILTIN_DATASETS, BuiltinDataModule
from scalegrid.data.image_datamodule import ImageFileDataModule
from scalegrid.data.image_sources import list_image_csv, list_image_folder, list_image_list
from scalegrid.errors import ScalegridError

CUSTOM_DATASETS = ("image_folder", "image_csv", "image_list")
_LIST_KEYS = ("root", "train_list", "test_list", "header", "class_names")
_CSV_KEYS = ("csv_file", "path_column", "label_column", "split_column", "image_root", "class_names")


def data_options(config: dict[str, Any]) -> dict[str, Any]:
    """The datamodule's options from a resolved config: the dataset's settings (``data``) and where its files are and
    how they are fed (``runtime.data``, ``runtime.paths.data_dir``)."""
    options = dict(config["data"])
    runtime = config.get("runtime") or {}
    places = runtime.get("data") or {}
    name = options.get("name")
    if name in BUILTIN_DATASETS:
        options["root"] = places.get("root") or (runtime.get("paths") or {}).get("data_dir") or "data"
        return options
    for key in ("cache", "cache_dir", "num_workers"):
        if places.get(key) is not None:
            options[key] = places[key]
    examples = {"root": "~/photos", "csv_file": "~/lab/labels.csv", "train_list": "~/lab/train.txt"}
    for required in {"image_folder": ["root"], "image_csv": ["csv_file"], "image_list": ["root", "train_list"]}.get(
        name, []
    ):
        if places.get(required) in (None, ""):
            raise ScalegridError(
                f"data={name} needs runtime.data.{required}: e.g. runtime.data.{required}={examples[required]}"
            )
    if name == "image_folder":
        options["root"] = places["root"]
    elif name == "image_list":
        options.update(root=places["root"], train_list=places["train_list"], test_list=places.get("test_list"))
    elif name == "image_csv":
        options["csv_file"] = places["csv_file"]
        options["image_root"] = places.get("image_root")
    return options


def create_datamodule(options: dict[str, Any], shuffle_seed: int, imagenet_statistics: bool) -> pl.LightningDataModule:
    """A datamodule for ``options["name"]``: a built-in dataset, a folder of class folders, or a label CSV."""
    options = dict(options)
    name = options.get("name")
    if name in BUILTIN_DATASETS:
        return BuiltinDataModule(**options, shuffle_seed=shuffle_seed, imagenet_statistics=imagenet_statistics)
    if name == "image_folder":
        options.pop("name")
        list_images = partial(list_image_folder, options.pop("root"))
    elif name == "image_csv":
        options.pop("name")
        list_images = partial(list_image_csv, **{key: options.pop(key) for key in _CSV_KEYS if key in options})
    elif name == "image_list":
        options.pop("name")
        list_images = partial(list_image_list, **{key: options.pop(key) for key in _LIST_KEYS if key in options})
    else:
        known = ", ".join([*BUILTIN_DATASETS, *CUSTOM_DATASETS])
        raise ScalegridError(f"data.name={name!r} is unknown; choose one of {known}")
    try:
        return ImageFileDataModule(
            list_images, **options, shuffle_seed=shuffle_seed, imagenet_statistics=imagenet_statistics
        )
    except TypeError as error:  # an unknown key in the data config
        raise ScalegridError(f"data: {error}; see conf/data/{name}.yaml for the keys it takes") from error
