"""Initial weights for a Network: ImageNet (torchvision's files, through torch.hub's cache) or an earlier checkpoint."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from torch import nn

from scalegrid.errors import ScalegridError
from scalegrid.models.registry import model_entry

log = logging.getLogger(__name__)

# Ways an on-disk state dict's keys can relate to a Network's ``backbone.*``/``head.*`` keys.
_KEY_PREFIXES = (
    ("network.", ""),  # a scalegrid Lightning checkpoint (ImageClassifier.network)
    ("", ""),  # a Network state dict
    ("", "backbone."),  # a bare backbone / torchvision model state dict
)


@dataclass
class LoadReport:
    """What happened when weights were loaded: which keys took, and which did not and why."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # model keys the file did not provide
    unexpected: list[str] = field(default_factory=list)  # file keys the model does not have
    shape_mismatch: list[str] = field(default_factory=list)  # same key, other shape (a new head, a new stem)
    head_skipped: str | None = None  # why the file's head was not used, when it was not

    def summary(self) -> str:
        return (
            f"weights from {self.source}: {len(self.loaded)} tensors loaded, {len(self.missing)} missing "
            f"({_preview(self.missing)}), {len(self.unexpected)} unexpected ({_preview(self.unexpected)}), "
            f"{len(self.shape_mismatch)} skipped for shape ({_preview(self.shape_mismatch)})"
            + (f"; head not loaded: {self.head_skipped}" if self.head_skipped else "")
        )


def _preview(keys: list[str], count: int = 4) -> str:
    return ", ".join(keys[:count]) + (", ..." if len(keys) > count else "") if keys else "none"


def imagenet_weights(model_name: str, arch: str | None = None):
    """torchvision's default ImageNet weights enum for a registered model (``arch`` for ``model=torchvision``)."""
    source = arch if model_name == "torchvision" else model_entry(model_name).imagenet_arch
    if source is None:
        raise ScalegridError(
            f"model.weights=imagenet: {model_name} has no ImageNet weights; use model.weights=null or a checkpoint path"
        )
    try:
        return torchvision.models.get_model_weights(source).DEFAULT
    except ValueError:
        raise ScalegridError(f"model.weights=imagenet: torchvision has no ImageNet weights for {source}") from None


def load_imagenet_state_dict(weights, download: bool = True) -> dict[str, torch.Tensor]:
    """The state dict of a torchvision weights entry, from torch.hub's cache (``$TORCH_HOME/hub/checkpoints``).

    A missing file is downloaded when ``download``; otherwise, or offline, the error names the file and the folder.
    """
    file_name = Path(weights.url).name
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    if not (cache / file_name).is_file():
        if not download:
            raise ScalegridError(
                f"ImageNet weights {file_name} are not in {cache} and download_weights=false: put the file there "
                "(set TORCH_HOME to use another cache), or allow the download"
            )
        log.info("ImageNet weights %s are not in %s: downloading", file_name, cache)
    try:
        return torch.hub.load_state_dict_from_url(
            weights.url, model_dir=str(cache), map_location="cpu", progress=False, check_hash=True, weights_only=True
        )
    except Exception as error:  # offline: URLError; a bad file: RuntimeError/UnpicklingError
        raise ScalegridError(
            f"ImageNet weights {file_name} could not be loaded ({type(error).__name__}): put the file {file_name} "
            f"in {cache} (set TORCH_HOME to use another cache), or run once with internet"
        ) from None


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """The state dict of a scalegrid ``.ckpt`` or a plain ``.pt``/``.pth`` state dict (loaded with weights_only=True),
    and the class names it was trained on when the file records them (scalegrid checkpoints do)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ScalegridError(
            f"model.weights={path} is a folder: give a file in it (a run's checkpoints/last.ckpt, or a .pt/.pth state "
            "dict)"
        )
    if not path.is_file():
        raise ScalegridError(
            f"model.weights={path}: no such file (give a .ckpt of an earlier run, or a .pt/.pth state dict)"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a text file gives KeyError, a few bytes IndexError: any is "not a checkpoint"
        text = str(error)
        if "unsupported global" in text.lower():  # arbitrary objects, which could run code when loaded
            raise ScalegridError(
                f"model.weights={path} holds Python objects besides tensors; weights are loaded with "
                "weights_only=True so that a file cannot run code: save a plain state dict (torch.save(model.state_dict()))"
            ) from None
        detail = text.split("WeightsUnpickler error:")[-1] if "WeightsUnpickler error:" in text else text
        reason = next((line.strip() for line in detail.splitlines() if line.strip()), type(error).__name__)[:120]
        raise ScalegridError(
            f"model.weights={path} is not a checkpoint or state dict ({type(error).__name__}: {reason}): give a .ckpt "
            "of an earlier run or a .pt/.pth state dict"
        ) from None
    state_dict = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state_dict, dict) or not all(isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise ScalegridError(f"model.weights={path} holds no state dict (a mapping of names to tensors)")
    class_names = (payload.get("hyper_parameters") or {}).get("class_names") if "state_dict" in payload else None
    return state_dict, class_names


def load_into(
    network: nn.Module,
    state_dict: dict[str, torch.Tensor],
    source: str,
    source_classes: list[str] | None = None,
    target_classes: list[str] | None = None,
) -> LoadReport:
    """Load every tensor whose name and shape fit; a head (or stem) of another shape is skipped and reported.

    The head is also skipped when both class lists are known and differ: a head trained on other classes
    (the same count, other meaning) would start the new task confidently wrong.

    A 3-channel first convolution loads into a 1-channel one by summing its filters over the input channels:
    a grey image repeated three times gives the same response, at a third of the cost.
    Raises when the file is for another architecture: fewer than 90 % of the backbone's tensors found in it, or
    fewer than 90 % of its own backbone tensors used (a deeper network of the same family shares the shallow one's
    first blocks, name for name and shape for shape, but leaves most of its tensors unused).
    """
    target = network.state_dict()
    best: dict[str, torch.Tensor] = {}
    for strip, add in _KEY_PREFIXES:
        renamed = {add + key[len(strip) :]: value for key, value in state_dict.items() if key.startswith(strip)}
        if len(set(renamed) & set(target)) > len(set(best) & set(target)):
            best = renamed
    if not set(best) & set(target):
        raise ScalegridError(
            f"model.weights={source}: none of its {len(state_dict)} tensors has a name this model uses (it has e.g. "
            f"{_preview(list(state_dict), 2)}; this model's are e.g. {_preview(list(target), 2)}): give weights saved "
            "from the same model"
        )
    report = LoadReport(source)
    if source_classes is not None and target_classes is not None and list(source_classes) != list(target_classes):
        report.head_skipped = f"trained on other classes ({', '.join(source_classes)})"
        best = {key: value for key, value in best.items() if not key.startswith("head.")}
    accepted = {}
    for key, value in best.items():
        if key not in target:
            report.unexpected.append(key)
            continue
        wanted = target[key]
        if value.shape != wanted.shape and value.ndim == 4 and value.shape[1] == 3 and wanted.shape[1] == 1:
            value = value.sum(dim=1, keepdim=True)
        if value.shape != wanted.shape:
            report.shape_mismatch.append(key)
            continue
        accepted[key] = value
        report.loaded.append(key)
    report.missing = [key for key in target if key not in accepted]
    _check_same_architecture(source, target, best, accepted)
    network.load_state_dict(accepted, strict=False)
    log.info(report.summary())
    return report


SAME_ARCHITECTURE_SHARE = 0.9  # a stem or a classifier of another shape is fine; a missing or extra stage is not


def _check_same_architecture(
    source: str, target: dict[str, torch.Tensor], offered: dict[str, torch.Tensor], accepted: dict[str, torch.Tensor]
) -> None:
    wanted = [key for key in target if key.startswith("backbone.")]
    given = [key for key in offered if not key.startswith("head.")]
    used = [key for key in accepted if key.startswith("backbone.")]
    if len(used) >= SAME_ARCHITECTURE_SHARE * len(wanted) and len(used) >= SAME_ARCHITECTURE_SHARE * len(given):
        return
    example = next((key for key in given if key in target and offered[key].shape != target[key].shape), None)
    detail = (
        f"e.g. {example[len('backbone.') :]} is {list(offered[example].shape)} there, {list(target[example].shape)} here"
        if example
        else f"it has e.g. {_preview([key for key in given if key not in target], 2)}, which this model lacks"
    )
    raise ScalegridError(
        f"model.weights={source} is for another architecture: it provides {len(used)} of this model's "
        f"{len(wanted)} backbone tensors, and {len(used)} of its {len(given)} fit ({detail}): give weights saved "
        "from the same model"
    )


def initialise(
    network: nn.Module,
    model_name: str,
    weights: str | None,
    arch: str | None = None,
    download: bool = True,
    class_names: list[str] | None = None,
) -> LoadReport | None:
    """Apply ``model.weights``: None (keep the random init), ``imagenet``, or a checkpoint path.

    ``class_names`` are the new task's classes: a checkpoint's head is reused only for the same classes.
    """
    if weights is None:
        return None
    if weights == "imagenet":
        entry = imagenet_weights(model_name, arch)
        return load_into(network, load_imagenet_state_dict(entry, download), f"ImageNet ({Path(entry.url).name})")
    state_dict, source_classes = read_checkpoint(Path(weights))
    return load_into(network, state_dict, str(weights), source_classes, class_names)


PRETRAINED = "pretrained"  # model.weights=pretrained: the checkpoint the top-level `pretrained` key names


def apply_pretrained_keyword(cfg) -> None:
    """``model.weights=pretrained`` becomes the checkpoint of the top-level ``pretrained`` key, resolved in the run's
    own config, so a sweep over models can name each model's source by one value (``model.weights: null,pretrained``
    with ``pretrained: .../${model.name}/...``): a path in the sweep itself would be resolved once, for the first
    model. Changes ``cfg`` in place, before the cell's identity is read."""
    from omegaconf import open_dict

    if cfg.model.get("weights") != PRETRAINED:
        return
    if cfg.get("pretrained") in (None, ""):
        raise ScalegridError(
            "model.weights=pretrained names the checkpoint of pretrained=, which is not set: "
            "give pretrained=<checkpoint>, or model.weights=<checkpoint>"
        )
    with open_dict(cfg):
        cfg.model.weights = str(cfg.pretrained)
