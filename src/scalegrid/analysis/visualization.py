"""What a trained network looks at: feature maps of named layers, first-layer filters, Grad-CAM overlays."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image, UnidentifiedImageError  # noqa: E402
from torch import nn  # noqa: E402

from scalegrid.analysis.evaluation import load_finished_run  # noqa: E402
from scalegrid.analysis.plots import DPI, save_figure  # noqa: E402
from scalegrid.errors import ScalegridError  # noqa: E402


def find_layer(network: nn.Module, name: str, key: str = "layers") -> nn.Module:
    """The module called ``name`` in the backbone (``layer4.1.conv2``) or in the whole network (``head.0``); ``key``
    is the setting that named it, for the error."""
    modules = dict(network.named_modules())
    for candidate in (f"backbone.{name}", name):
        if candidate and candidate in modules:
            return modules[candidate]
    valid = [key.removeprefix("backbone.") for key in modules if key]
    raise ScalegridError(f"{key}: no layer {name!r} in this network; valid names: {', '.join(valid)}")


def activation_of(network: nn.Module, layer: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The output of ``layer`` when ``network`` sees ``inputs``."""
    captured = []
    handle = layer.register_forward_hook(lambda module, args, output: captured.append(output.detach()))
    try:
        with torch.no_grad():
            network(inputs)
    finally:
        handle.remove()
    return captured[0]


def grad_cam(network: nn.Module, layer: nn.Module, inputs: torch.Tensor) -> tuple[np.ndarray, int]:
    """Grad-CAM of the predicted class at ``layer``, upsampled to the input size and scaled to [0, 1]."""
    captured: dict[str, torch.Tensor] = {}

    def keep(module, args, output):
        output.register_hook(lambda grad: captured.__setitem__("grad", grad))
        captured["activation"] = output

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = network(inputs)
            predicted = int(logits.argmax(1)[0])
            logits[0, predicted].backward()
    finally:
        handle.remove()
    weights = captured["grad"].mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * captured["activation"]).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=inputs.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    # A 1x1 map (a late layer on a small input) is flat: interpolation noise must not pass for an explanation.
    return (cam / cam.max() if cam.max() > 1e-6 else torch.zeros_like(cam)).numpy(), predicted


def conv_layer_names(network: nn.Module) -> list[str]:
    """The backbone's convolutions, in order, by the names ``layers`` takes."""
    return [name for name, module in network.backbone.named_modules() if isinstance(module, nn.Conv2d)]


def layer_name(network: nn.Module, layer: int | str) -> str:
    """A ``layers`` entry as a layer name: an integer k is the k-th convolution (1-based) in ``named_modules()`` order.

    "The 1st, 2nd and 25th layer" of a notebook means the 1st, 2nd and 25th convolution: ``layers=[1,2,25]``.
    A layer whose name is a number (a Sequential's child) is named as a quoted string: ``layers=['0']``.
    """
    if isinstance(layer, bool) or not isinstance(layer, int):
        return str(layer)
    convolutions = conv_layer_names(network)
    if not 1 <= layer <= len(convolutions):
        raise ScalegridError(
            f"layers: {layer} asks for convolution number {layer}, but this network has {len(convolutions)} "
            f"(count from 1, in named_modules() order: 1 = {convolutions[0] if convolutions else 'none'}); "
            "or name a layer, e.g. layers=[layer1.0.conv1]"
        )
    return convolutions[layer - 1]


def grad_cam_layer(network: nn.Module, inputs: torch.Tensor, min_side: int = 4) -> str:
    """The backbone module that finishes last with a feature map of at least ``min_side`` pixels a side.

    For a ResNet that is a whole stage (``layer4`` at 224 pixels, ``layer2`` on 32x32 CIFAR): a block's output, after
    its ReLU, as Grad-CAM expects, not a convolution inside the block whose output may be all negative.
    """
    finished: list[tuple[str, tuple[int, ...]]] = []
    handles = [
        module.register_forward_hook(lambda m, a, output, name=name: finished.append((name, tuple(output.shape))))
        for name, module in network.backbone.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    maps = [name for name, shape in finished if len(shape) == 4 and min(shape[-2:]) >= min_side]
    if not maps:
        raise ScalegridError(
            "no layer of this network gives a feature map of 4x4 or more for Grad-CAM: set gradcam_layer"
        )
    return maps[-1]


def feature_map_figure(activation: torch.Tensor, channels: int, title: str):
    """The first ``channels`` channels of a (1, C, H, W) activation, each scaled to its own range, in a grid."""
    if activation.ndim != 4:
        raise ScalegridError(
            f"{title}: the output has shape {tuple(activation.shape)}, not a feature map; choose a convolutional layer"
        )
    maps = activation[0, :channels]
    columns = min(8, len(maps))
    rows = -(-len(maps) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.4 * rows + 0.4), dpi=DPI, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for index, (axis, feature) in enumerate(zip(axes.flat, maps, strict=False)):
        axis.imshow(feature.numpy(), cmap="viridis")
        axis.set_title(str(index), fontsize=6)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def filters_figure(conv: nn.Conv2d, title: str):
    """A convolution's filters as small images: RGB for 3 input channels, else the first input channel in grey."""
    weights = conv.weight.detach()
    columns = min(8, len(weights))
    rows = -(-len(weights) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.0 * columns, 1.0 * rows + 0.4), dpi=DPI, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, weight in zip(axes.flat, weights, strict=False):
        tile = weight if weight.shape[0] == 3 else weight[:1]
        tile = (tile - tile.min()) / (tile.max() - tile.min() + 1e-12)
        pixels = tile.permute(1, 2, 0).numpy()
        axis.imshow(pixels if pixels.shape[2] == 3 else pixels[:, :, 0], cmap="gray", interpolation="nearest")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def gradcam_figure(image: np.ndarray, cam: np.ndarray, title: str):
    figure, axes = plt.subplots(1, 2, figsize=(5, 2.8), dpi=DPI)
    shown = image[:, :, 0] if image.shape[2] == 1 else image
    for axis in axes:
        axis.imshow(shown, cmap="gray", vmin=0, vmax=255)
        axis.axis("off")
    axes[1].imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def _raw_image(datamodule, item: int | str) -> tuple[torch.Tensor, str]:
    """A uint8 (C, H, W) image as the datamodule serves it: a test-split index, or an image file."""
    if isinstance(item, int):
        test = datamodule.test_set
        if not 0 <= item < len(test):
            raise ScalegridError(f"images: index {item} is outside the test split (0..{len(test) - 1})")
        return (test.images[item] if hasattr(test, "images") else test[item][0]), f"test{item}"
    path = Path(item).expanduser()
    if not path.is_file():
        raise ScalegridError(f"images: {path} is neither a test index nor an image file")
    try:
        return _decoded(datamodule, path), path.stem
    except (OSError, ValueError, Image.DecompressionBombError) as error:  # PIL's UnidentifiedImageError is an OSError
        reason = "not an image PIL can read" if isinstance(error, UnidentifiedImageError) else str(error)
        raise ScalegridError(f"images: {path} cannot be decoded ({reason}); give a PNG or JPEG file") from None


def _decoded(datamodule, path: Path) -> torch.Tensor:
    stored_size = getattr(datamodule, "stored_size", None)
    if stored_size is not None:
        from scalegrid.data.images import prepare_image

        return prepare_image(path, stored_size)
    channels, height, width = datamodule.test_set.images.shape[1:]
    with Image.open(path) as opened:
        image = opened.convert("L" if channels == 1 else "RGB").resize((width, height))
    pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
    return pixels[None] if channels == 1 else pixels.permute(2, 0, 1)


def visualize(
    target: Path,
    images: list[int | str],
    layers: list[str] | None = None,
    channels: int = 16,
    gradcam_layer: str | None = None,
    data_root: str | None = None,
) -> Path:
    """Write feature maps, first-layer filters and Grad-CAM overlays of a finished run into ``<run>/visualize/``
    (emptied of an earlier call's figures first, once every input has been checked)."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ScalegridError(f"channels={channels!r} must be a whole number of at least 1 (feature maps per figure)")
    run, datamodule, network = load_finished_run(target, data_root)
    if not layers:  # the first and the last convolution: early edges and late, class-level features
        convolutions = conv_layer_names(network)
        layers = list(dict.fromkeys(convolutions[:1] + convolutions[-1:]))
    layers = [layer_name(network, layer) for layer in layers]  # an integer k: the k-th convolution
    modules = {name: find_layer(network, name) for name in layers}  # every name checked before any work
    cam_name = str(gradcam_layer) if gradcam_layer is not None else None
    cam_layer = find_layer(network, cam_name, "gradcam_layer") if cam_name is not None else None
    raws = [_raw_image(datamodule, item) for item in images]  # every image read before anything is written
    out_dir = run.run_dir / "visualize"
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.png"):  # an earlier call's figures: this folder holds this call's only
        stale.unlink()

    first_conv = next((module for module in network.modules() if isinstance(module, nn.Conv2d)), None)
    if first_conv is not None:
        save_figure(filters_figure(first_conv, "first-layer filters"), out_dir / "filters.png")
    names = run.class_names or list(datamodule.class_names)  # the network's output order
    for raw, label in raws:
        inputs = datamodule.transform_batch(raw[None], training=False)
        for name, module in modules.items():
            activation = activation_of(network, module, inputs)
            figure = feature_map_figure(activation, channels, f"{label}: {name} {tuple(activation.shape[1:])}")
            save_figure(figure, out_dir / f"features_{label}_{name}.png")
        if cam_layer is None:
            cam_name = grad_cam_layer(network, inputs)
            cam_layer = find_layer(network, cam_name)
        cam, predicted = grad_cam(network, cam_layer, inputs)
        shown = _display_view(raw, inputs.shape[-2:])
        title = f"{label}: predicted {names[predicted]} (Grad-CAM at {cam_name})"
        if cam.max() == 0:
            title += "\nno positive evidence at this layer: try another gradcam_layer"
        figure = gradcam_figure(shown, cam, title)
        save_figure(figure, out_dir / f"gradcam_{label}.png")
    return out_dir


def _display_view(raw: torch.Tensor, size: torch.Size) -> np.ndarray:
    """The raw image as the model sees it (centre crop or resize to its input size), (H, W, C) uint8."""
    height, width = size
    if raw.shape[-2:] != (height, width):
        if raw.shape[-2] >= height and raw.shape[-1] >= width:
            top, left = (raw.shape[-2] - height) // 2, (raw.shape[-1] - width) // 2
            raw = raw[:, top : top + height, left : left + width]
        else:
            raw = F.interpolate(raw[None].float(), size=(height, width), mode="bilinear")[0].clamp(0, 255).byte()
    return raw.permute(1, 2, 0).numpy()
