"""One augmentation vocabulary: presets are settings, the old names give the old batches, new operations behave."""

from pathlib import Path

import pytest
import torch
from conftest import compose_config

from scalegrid import CONF_DIR
from scalegrid.contract.config_versions import AUGMENT_PRESETS, migrate
from scalegrid.contract.results import resolved_config
from scalegrid.data.augment import (
    Augmentation,
    random_crop_reflect,
    random_horizontal_flip,
    random_resized_crop,
    random_rotation,
)
from scalegrid.errors import ScalegridError

PRESETS = sorted(path.stem for path in (CONF_DIR / "data" / "augment").glob("*.yaml") if not path.stem.startswith("_"))


def _batch(seed: int = 0, size: int = 32) -> torch.Tensor:
    return torch.randint(0, 256, (8, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_composes_into_valid_settings(preset):
    settings = resolved_config(compose_config([f"data/augment={preset}"], output_dir=Path("/tmp")))["data"]["augment"]
    assert Augmentation.from_settings(settings).crop in ("none", "reflect_pad", "random", "random_resized")
    if preset in AUGMENT_PRESETS:  # the version-2 names: what migration turns an old data.augment into
        assert settings == {**AUGMENT_PRESETS[preset]}


def test_a_version_2_augment_name_migrates_to_the_preset_a_run_composes_today():
    old = {"data": {"name": "image_folder", "augment": "random_crop", "crop_scale": [0.08, 1.0]}}
    new = resolved_config(
        compose_config(
            ["data=image_folder", "data/augment=random_crop", "runtime.data.root=/x"], output_dir=Path("/tmp")
        )
    )
    assert migrate(old, 2)["data"]["augment"] == new["data"]["augment"]


def test_the_standard_preset_draws_exactly_the_batches_of_the_old_standard_policy():
    settings = resolved_config(compose_config(["data/augment=standard"], output_dir=Path("/tmp")))["data"]["augment"]
    torch.manual_seed(3)
    new = Augmentation.from_settings(settings).apply(_batch(), 32)
    torch.manual_seed(3)
    old = random_horizontal_flip(random_crop_reflect(_batch(), padding=4))  # the old "standard", verbatim
    assert torch.equal(new, old)


def test_random_resized_preset_matches_the_old_image_policy():
    settings = resolved_config(compose_config(["data/augment=random_resized_crop"], output_dir=Path("/tmp")))["data"][
        "augment"
    ]
    torch.manual_seed(5)
    new = Augmentation.from_settings(settings).apply(_batch(size=40), 32)
    torch.manual_seed(5)
    old = random_horizontal_flip(random_resized_crop(_batch(size=40), 32, (0.08, 1.0)))
    assert torch.equal(new, old)


def test_flip_probability_zero_and_one():
    images = _batch()
    assert torch.equal(random_horizontal_flip(images, probability=0.0), images)
    assert torch.equal(random_horizontal_flip(images, probability=1.0), images.flip(3))


def test_rotation_turns_images_and_fills_the_corners_with_zero():
    images = torch.full((64, 1, 33, 33), 200, dtype=torch.uint8)
    turned = random_rotation(images, 30.0, generator=torch.Generator().manual_seed(0))
    assert turned.shape == images.shape and turned.dtype == torch.float32
    assert torch.allclose(turned[:, :, 16, 16], torch.full((64, 1), 200.0))  # the centre stays
    corner = turned[:, 0, 0, 0]
    assert (corner < 1).float().mean() > 0.5  # most turned images have an empty corner
    assert torch.allclose(random_rotation(images, 0.0), images.float())  # 0 degrees: the image itself
    stripes = torch.zeros((1, 1, 33, 33))
    stripes[..., 16, :] = 255  # a horizontal line turns away from the horizontal
    assert random_rotation(stripes, 30.0, generator=torch.Generator().manual_seed(1))[0, 0, 16, :].mean() < 200


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"crop": "zoom"}, "data.augment.crop='zoom' is unknown"),
        ({"flip": 1.5}, r"data.augment.flip=1.5 must be a probability in \[0, 1\]"),
        ({"rotation": -3}, r"data.augment.rotation=-3 must be in \[0, 180\]"),
        ({"crop_scale": [0.5, 0.2]}, r"data.augment.crop_scale=\[0.5, 0.2\] must be \[low, high\]"),
        ({"colour": 1}, "data.augment.colour is not an augmentation setting"),
    ],
)
def test_bad_settings_name_their_key(settings, message):
    with pytest.raises(ScalegridError, match=message):
        Augmentation.from_settings(settings)


def test_resize_first_trains_and_tests_at_the_resized_size(cifar_root):
    from scalegrid.data.datamodule import BuiltinDataModule

    augment = {"resize_first": True, "flip": 0.4, "rotation": 30.0}
    datamodule = BuiltinDataModule(
        "cifar10", str(cifar_root), val_size=20, verify_checksums=False, download=False, image_size=64, augment=augment
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    images = datamodule.train_set.images[:4]
    assert datamodule.transform_batch(images, training=True).shape == (4, 3, 64, 64)
    assert datamodule.transform_batch(images, training=False).shape == (4, 3, 64, 64)
