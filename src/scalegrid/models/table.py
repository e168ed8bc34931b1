"""The model table (``make models``): every model option of ``conf/model/``, its size and cost at its default input."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from scalegrid import CONF_DIR
from scalegrid.models.freezing import POLICIES, freeze, modules_to_freeze
from scalegrid.models.registry import (
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


def model_options() -> list[str]:
    """The options of the ``model`` config group (``conf/model/<option>.yaml``; ``_*.yaml`` are shared bases)."""
    return sorted(path.stem for path in (CONF_DIR / "model").glob("*.yaml") if not path.stem.startswith("_"))


def configured_model(option: str) -> tuple[str, dict]:
    """(registered name, constructor options) of ``model=<option>`` as Hydra composes it, defaults chain included."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        model = OmegaConf.to_container(compose(f"model/{option}"), resolve=True)["model"]
    GlobalHydra.instance().clear()
    return model["name"], constructor_options(model)


def multiply_accumulates(network: torch.nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass of one image (torch's FLOP counter halved)."""
    network.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        network(torch.zeros(1, *input_shape))
    return counter.get_total_flops() // 2


def describe_model(option: str, num_classes: int = 10, freeze_stages: int | None = None) -> ModelRow:
    """Parameter counts under every finetune policy, and the forward cost, of ``model=<option>`` at its default input."""
    name, options = configured_model(option)
    input_shape = model_entry(name).default_input
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
    label = option if option == name else f"{option} ({name})"
    if "arch" in options:  # torchvision: the conf's architecture
        label = f"{option} ({options['arch']})"
    return ModelRow(label, input_shape, total, trainable, multiply_accumulates(network, input_shape))


def model_table(num_classes: int = 10) -> str:
    """A Markdown table with a row per model option (every registered model has at least one)."""
    rows = [describe_model(option, num_classes) for option in model_options()]
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
            _count(row.multiply_accumulates),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = (
        f"\n{num_classes} classes. Trainable counts are at the start of training: `freeze_stages (N)` freezes the first N "
        "top-level backbone stages (all of them when the backbone has fewer), `gradual` starts as a linear probe. "
        "Multiply-accumulates are per image, forward pass, from torch.utils.flop_counter.\n"
    )
    return "\n".join(lines) + "\n" + notes


def _count(value: int) -> str:
    """1,083.9 M or 23.9 K: millions where they are, thousands for the small nets."""
    return f"{value / 1e6:,.1f} M" if value >= 1e6 else f"{value / 1e3:,.1f} K"
