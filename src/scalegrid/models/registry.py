"""One table of model constructors, filled by the ``@register_model`` decorator (the timm pattern).

A constructor builds the backbone only: ``constructor(input_shape, **options) -> (backbone, feature_dim)``.
``create_model`` adds the head, so every model gets the same heads, weights and freeze policies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from scalegrid.errors import ScalegridError
from scalegrid.models.network import Network, build_head

BackboneConstructor = Callable[..., tuple[nn.Module, int]]


@dataclass(frozen=True)
class ModelEntry:
    constructor: BackboneConstructor
    # The torchvision architecture whose ImageNet weights fit this backbone (None: there are none).
    imagenet_arch: str | None
    default_input: tuple[int, int, int]


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str, imagenet_arch: str | None = None, default_input: tuple[int, int, int] = (3, 32, 32)
) -> Callable[[BackboneConstructor], BackboneConstructor]:
    """Register a backbone constructor under ``name``; ``conf/model/<name>.yaml`` selects it."""

    def decorator(constructor: BackboneConstructor) -> BackboneConstructor:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = ModelEntry(constructor, imagenet_arch, default_input)
        return constructor

    return decorator


def available_models() -> list[str]:
    return sorted(_MODELS)


def model_entry(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise ScalegridError(f"model.name={name!r} is unknown; available: {', '.join(available_models())}")
    return _MODELS[name]


def create_model(
    name: str, num_classes: int, input_shape: tuple[int, int, int], head: dict | None = None, **options
) -> Network:
    """Build the registered model ``name`` for ``num_classes`` classes and inputs of ``input_shape`` (C, H, W).

    ``head`` holds ``kind`` (linear | mlp), ``dropout`` and ``hidden``; other options go to the constructor.
    """
    backbone, features = model_entry(name).constructor(tuple(input_shape), **options)
    return Network(backbone, build_head(features, num_classes, **(head or {})))


# Keys of a model config (conf/model/*.yaml) that are not constructor options.
NOT_CONSTRUCTOR_OPTIONS = ("name", "weights", "head")


def constructor_options(model_config: dict) -> dict:
    """The options of a model config that go to the backbone constructor (e.g. torchvision's ``arch``)."""
    return {key: value for key, value in model_config.items() if key not in NOT_CONSTRUCTOR_OPTIONS}


def create_model_from_config(model_config: dict, num_classes: int, input_shape: tuple[int, int, int]) -> Network:
    """``create_model`` for a resolved ``model`` config block; its weights are loaded elsewhere (``initialise``)."""
    return create_model(
        model_config["name"],
        num_classes=num_classes,
        input_shape=input_shape,
        head=model_config.get("head"),
        **constructor_options(model_config),
    )


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
