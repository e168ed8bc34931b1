"""The settings scalegrid itself would use, composed by Hydra from conf/, so plain loops use the same numbers."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from scalegrid import CONF_DIR


def optimiser_settings(name: str) -> dict:
    """``optim=<name>`` as a run composes it (its conf/optim file over the group's shared base)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return dict(OmegaConf.to_container(compose("train", overrides=[f"optim={name}"]).optim, resolve=True))
