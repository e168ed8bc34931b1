"""The model table (``make models``): every registered model's size and cost at its default input."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from scalegrid import CONF_DIR
from scalegrid.models.freezing import POLICIES, freeze, modules_to_freeze
from scalegrid.models.registry import (
    available_models,
    constructor_options,
    count_parameters,
    create_model,
    model_entry,
)


@dataclass(frozen=True)
class ModelRow:
    name: str
    input_shape: tuple[int, int, int]
    total: int
    trainable: dict[str, int]  # finetune policy -> trainable parameters at the start of training
    multiply_accumulates: int  # per image, forward pass


def configured_options(name: str) -> dict:
    """The constructor options ``conf/model/<name>.yaml`` gives the model (e.g. torchvision's ``arch``)."""
    path = CONF_DIR / "model" / f"{name}.yaml"
    if not path.is_file():
        return {}
    options = OmegaConf.to_container(OmegaConf.load(path))
    options.pop("defaults", None)  # the shared base (weights, head) holds no constructor option
    return constructor_options(options)


def multiply_accumulates(network: torch.nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass of one image (torch's FLOP counter halved)."""
    network.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        network(torch.zeros(1, *input_shape))
    return counter.get_total_flops() // 2


def describe_model(name: str, num_classes: int = 10, freeze_stages: int | None = None) -> ModelRow:
    """Parameter counts under every finetune policy, and the forward cost, at the model's default input."""
    input_shape = model_entry(name).default_input
    options = configured_options(name)
    if freeze_stages is None:
        freeze_stages = OmegaConf.load(CONF_DIR / "finetune" / "freeze_stages.yaml").freeze_stages
    trainable = {}
    for policy in POLICIES:
        network = create_model(name, num_classes=num_classes, input_shape=input_shape, **options)
        stages = min(freeze_stages, len(network.stages()))
        freeze(modules_to_freeze(network, policy, stages))
        trainable[policy] = count_parameters(network)[1]
    network = create_model(name, num_classes=num_classes, input_shape=input_shape, **options)
    total = count_parameters(network)[0]
    label = f"{name} ({options['arch']})" if "arch" in options else name  # torchvision: the conf's architecture
    return ModelRow(label, input_shape, total, trainable, multiply_accumulates(network, input_shape))


def model_table(num_classes: int = 10) -> str:
    """A Markdown table with a row per registered model."""
    rows = [describe_model(name, num_classes) for name in available_models()]
    stages = OmegaConf.load(CONF_DIR / "finetune" / "freeze_stages.yaml").freeze_stages
    header = [
        "model",
        "default input",
        "parameters",
        *(f"trainable: {policy}" + (f" ({stages})" if policy == "freeze_stages" else "") for policy in POLICIES),
        "multiply-accumulates",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        cells = [
            row.name,
            "x".join(map(str, row.input_shape)),
            f"{row.total:,}",
            *(f"{row.trainable[policy]:,}" for policy in POLICIES),
            f"{row.multiply_accumulates / 1e6:,.1f} M",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = (
        f"\n{num_classes} classes. Trainable counts are at the start of training: `freeze_stages (N)` freezes the first N "
        "top-level backbone stages (all of them when the backbone has fewer), `gradual` starts as a linear probe. "
        "Multiply-accumulates are per image, forward pass, from torch.utils.flop_counter.\n"
    )
    return "\n".join(lines) + "\n" + notes
