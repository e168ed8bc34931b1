"""One table of model constructors, filled by the ``@register_model`` decorator (the timm pattern)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from scalegrid.errors import ScalegridError

# A constructor takes num_classes and input_shape (C, H, W) plus its own keyword options.
ModelConstructor = Callable[..., nn.Module]
_MODELS: dict[str, ModelConstructor] = {}


def register_model(name: str) -> Callable[[ModelConstructor], ModelConstructor]:
    """Register a constructor under ``name``; ``conf/model/<name>.yaml`` selects it."""

    def decorator(constructor: ModelConstructor) -> ModelConstructor:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = constructor
        return constructor

    return decorator


def available_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, num_classes: int, input_shape: tuple[int, int, int], **options) -> nn.Module:
    """Build the registered model ``name`` for ``num_classes`` classes and inputs of ``input_shape``."""
    if name not in _MODELS:
        raise ScalegridError(f"model.name={name!r} is unknown; available: {', '.join(available_models())}")
    return _MODELS[name](num_classes=num_classes, input_shape=tuple(input_shape), **options)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
