"""Optimizers and learning-rate schedules from the ``optim`` and ``sched`` config groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch.optim import lr_scheduler

from scalegrid.errors import ScalegridError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "cosine", "onecycle", "step")


def check_names(optim: Mapping[str, Any], sched: Mapping[str, Any]) -> None:
    """Refuse an unknown optimiser or schedule before any work (building them comes only after the data is loaded)."""
    if optim.get("name") not in OPTIMIZERS:
        raise ScalegridError(f"optim.name={optim.get('name')!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
    if sched.get("name") not in SCHEDULES:
        raise ScalegridError(f"sched.name={sched.get('name')!r} is unknown; choose one of {', '.join(SCHEDULES)}")


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    name = cfg["name"]
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg["lr"],
            momentum=cfg["momentum"],
            nesterov=cfg["nesterov"],
            weight_decay=cfg["weight_decay"],
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=cfg["lr"], betas=tuple(cfg["betas"]), weight_decay=cfg["weight_decay"])
    if name == "adamw":
        return torch.optim.AdamW(params, lr=cfg["lr"], betas=tuple(cfg["betas"]), weight_decay=cfg["weight_decay"])
    raise ScalegridError(f"optim.name={name!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], total_steps: int, steps_per_epoch: int | None = None
) -> dict[str, Any] | None:
    """A Lightning ``lr_scheduler`` dict, or None for a constant learning rate.

    ``total_steps`` is the number of optimizer steps of the whole fit (per-batch schedules use it);
    ``steps_per_epoch`` turns a horizon in epochs (``sched.t_max``) into steps.
    """
    name = cfg["name"]
    if name == "none":
        return None
    if name == "cosine":
        base_lrs = [group["lr"] for group in optimizer.param_groups]
        horizon = total_steps
        if cfg.get("t_max") is not None:
            if float(cfg["t_max"]) <= 0:
                raise ScalegridError(f"sched.t_max={cfg['t_max']} must be a positive number of epochs (or null)")
            if not steps_per_epoch:
                raise ScalegridError("sched.t_max needs a training loader of known length (epochs of known steps)")
            horizon = round(float(cfg["t_max"]) * steps_per_epoch)
        scheduler = lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, horizon), eta_min=min(base_lrs) * cfg["final_lr_ratio"]
        )
        return {"scheduler": scheduler, "interval": "step"}
    if name == "onecycle":
        scheduler = lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],
            total_steps=max(2, total_steps),
            pct_start=cfg["pct_start"],
            div_factor=cfg["div_factor"],
            final_div_factor=cfg["final_div_factor"],
        )
        return {"scheduler": scheduler, "interval": "step"}
    if name == "step":
        scheduler = lr_scheduler.StepLR(optimizer, step_size=cfg["step_epochs"], gamma=cfg["gamma"])
        return {"scheduler": scheduler, "interval": "epoch"}
    raise ScalegridError(f"sched.name={name!r} is unknown; choose one of {', '.join(SCHEDULES)}")
