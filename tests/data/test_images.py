"""Decoding any image a user has: formats, modes, EXIF orientation, broken files; and the batched crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scalegrid.data.augment import center_crop, random_crop, random_resized_crop
from scalegrid.data.images import is_image_file, prepare_image, stored_size_for


def _solid(mode_colour: tuple[int, int, int], size=(30, 20)) -> Image.Image:
    return Image.new("RGB", size, mode_colour)


@pytest.mark.parametrize(
    ("suffix", "convert", "expected"),
    [
        (".JPG", lambda im: im, (200, 30, 30)),
        (".jpeg", lambda im: im.convert("CMYK"), (200, 30, 30)),
        (".png", lambda im: im.convert("L"), None),  # grey: all three channels equal
        (".gif", lambda im: im.convert("P"), (200, 30, 30)),
        (".BMP", lambda im: im, (200, 30, 30)),
        (".webp", lambda im: im, (200, 30, 30)),
        (".tiff", lambda im: im, (200, 30, 30)),
        (".PNG", lambda im: im.convert("RGBA"), (200, 30, 30)),
    ],
)
def test_every_format_and_mode_becomes_rgb(tmp_path: Path, suffix, convert, expected) -> None:
    path = tmp_path / f"image{suffix}"
    convert(_solid((200, 30, 30))).save(path)
    assert is_image_file(path)
    image = prepare_image(path, 16)
    assert image.shape == (3, 16, 16) and image.dtype == torch.uint8
    centre = image[:, 8, 8].tolist()
    if expected is None:
        assert centre[0] == centre[1] == centre[2]
    else:  # lossy formats and CMYK round trips move colours a little
        assert np.abs(np.asarray(centre) - np.asarray(expected)).max() <= 12


def test_transparency_is_shown_over_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))  # fully transparent black
    rgba.paste((0, 0, 255, 255), (0, 0, 10, 20))  # opaque blue left half
    rgba.save(tmp_path / "rgba.png")
    palette = Image.new("P", (20, 20), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (10, 0, 20, 20))  # right half: palette entry 1 (red); entry 0 transparent
    palette.save(tmp_path / "palette.png", transparency=0)
    rgba_image = prepare_image(tmp_path / "rgba.png", 20)
    assert rgba_image[:, 10, 2].tolist() == [0, 0, 255]
    assert rgba_image[:, 10, 17].tolist() == [255, 255, 255]
    palette_image = prepare_image(tmp_path / "palette.png", 20)
    assert palette_image[:, 10, 2].tolist() == [255, 255, 255]
    assert palette_image[:, 10, 17].tolist() == [255, 0, 0]


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.full((20, 20), 32896, dtype=np.uint16)  # 50 % grey in 16 bits
    values[:, 10:] = 65535
    Image.fromarray(values).save(tmp_path / "deep.png")
    Image.fromarray(values).save(tmp_path / "deep.tif")
    for name in ("deep.png", "deep.tif"):
        image = prepare_image(tmp_path / name, 20)
        assert image[:, 5, 2].tolist() == [128, 128, 128], name
        assert image[:, 5, 17].tolist() == [255, 255, 255], name


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = Image.new("RGB", (40, 20), (0, 0, 0))
    stored.paste((255, 255, 255), (20, 0, 40, 20))  # stored: black left, white right
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the left half becomes the top
    stored.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    image = prepare_image(tmp_path / "rotated.jpg", 20).float()
    assert image[:, 2, 10].mean() < 40  # top: black
    assert image[:, 17, 10].mean() > 215  # bottom: white


def test_large_jpeg_is_prepared_at_the_stored_size(tmp_path: Path) -> None:
    Image.new("RGB", (512, 384), (10, 200, 10)).save(tmp_path / "big.jpg")
    image = prepare_image(tmp_path / "big.jpg", 256)
    assert image.shape == (3, 256, 256)
    assert stored_size_for(224, None) == 256 and stored_size_for(224, 240) == 240


@pytest.mark.parametrize("content", [b"this is not an image\n", None])
def test_undecodable_files_raise(tmp_path: Path, content) -> None:
    path = tmp_path / "bad.jpg"
    if content is None:  # a JPEG cut off halfway
        Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "whole.jpg")
        whole = (tmp_path / "whole.jpg").read_bytes()
        content = whole[: len(whole) // 2]
    path.write_bytes(content)
    with pytest.raises(Exception):  # noqa: B017 - PIL raises several types; the store records whichever it is
        prepare_image(path, 16)


def test_batched_crops_keep_size_range_and_content() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 40, 40), dtype=torch.uint8, generator=generator)
    assert center_crop(images, 32).equal(images[:, :, 4:36, 4:36])
    crops = random_crop(images, 32, generator=generator)
    assert crops.shape == (6, 3, 32, 32) and crops.dtype == torch.uint8
    for image, crop in zip(images, crops, strict=True):  # each crop is a window of its own image
        windows = image.unfold(1, 32, 1).unfold(2, 32, 1)  # (3, 9, 9, 32, 32)
        assert (windows == crop[:, None, None]).all(dim=(0, 3, 4)).any()
    resized = random_resized_crop(images, 24, generator=generator)
    assert resized.shape == (6, 3, 24, 24) and resized.min() >= 0 and resized.max() <= 255
    whole = random_resized_crop(images, 40, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=generator)
    assert torch.allclose(whole, images.float(), atol=1e-3)  # the whole image at its own size is the image
