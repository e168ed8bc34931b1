"""Decoding one image file into a fixed-size RGB uint8 tensor, whatever its format, mode and orientation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

# Transparent pixels are shown over white, as an image viewer shows them (their stored colour is arbitrary).
_BACKGROUND = (255, 255, 255)


def is_image_file(path: Path) -> bool:
    """True for the image extensions scalegrid reads, in any letter case."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def stored_size_for(image_size: int, resize_size: int | None) -> int:
    """The side of the square each image is prepared at: ``resize_size``, or ``image_size / 0.875`` (256 for 224)."""
    if resize_size is not None:
        return int(resize_size)
    return int(round(image_size / 0.875))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB: palettes expanded, alpha composited over white, 16-bit and float scaled to 8 bits."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        # 16-bit integer images span 0..65535; float images are taken to span 0..1 when they stay within it.
        scale = 1 / 257 if image.mode != "F" else (255.0 if values.max(initial=0) <= 1 else 1.0)
        image = Image.fromarray(np.clip(values * scale + 0.5, 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def prepare_image(path: Path, stored_size: int) -> torch.Tensor:
    """Decode ``path`` into a (3, S, S) uint8 tensor: EXIF orientation applied, shorter side resized to S, centre square.

    JPEGs are decoded at the smallest power-of-two reduction that stays at least S pixels on the shorter side,
    which is several times faster for large photographs and loses nothing at the stored size.
    Raises whatever PIL raises for a file it cannot decode (``OSError``, ``Image.DecompressionBombError``, ...).
    """
    with Image.open(path) as opened:
        opened.draft(None, (stored_size, stored_size))
        opened.load()  # decodes the whole file: a truncated one fails here, not later
        image = to_rgb(ImageOps.exif_transpose(opened))
    width, height = image.size
    scale = stored_size / min(width, height)
    new_size = (max(stored_size, round(width * scale)), max(stored_size, round(height * scale)))
    image = image.resize(new_size, Image.Resampling.BILINEAR)
    left = (new_size[0] - stored_size) // 2
    top = (new_size[1] - stored_size) // 2
    image = image.crop((left, top, left + stored_size, top + stored_size))
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()
