"""Whether the ImageNet files a study's pretrained arms need are on this machine (torch.hub's cache).

``make study`` asks before it starts: when one is missing and the study has a source preset at that size
(conf/study_pretraining/<study>/<size>_source.yaml), the pretrained arms start from a source scalegrid trains first
(``<study>_source``: the study's networks on CIFAR-10 classes 0-4, the study then on classes 5-9) instead of failing.

``python -m scalegrid.models.imagenet_files experiment=bigsmall size=cpu``: one line; exit 0 when every file is
there, 1 when one is missing, 2 for a study that cannot be composed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from scalegrid import CONF_DIR
from scalegrid.errors import USAGE_ERROR, ScalegridError


def study_models(overrides: list[str]) -> list[str]:
    """The models a study's grid trains: its swept ``model`` values, else its one model."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = compose("train", overrides=overrides, return_hydra_config=True)
    swept = (config.hydra.sweeper.get("params") or {}).get("model")
    return [name.strip() for name in str(swept).split(",")] if swept else [str(config.model.name)]


def missing_imagenet_files(models: list[str]) -> list[str]:
    """The torchvision weight files of ``models`` that are not in ``$TORCH_HOME/hub/checkpoints`` (models without
    ImageNet weights need none)."""
    from scalegrid.models.weights import imagenet_weights

    cache = Path(torch.hub.get_dir()) / "checkpoints"
    missing = []
    for model in models:
        try:
            name = Path(imagenet_weights(model).url).name
        except ScalegridError:
            continue
        if not (cache / name).is_file():
            missing.append(name)
    return missing


def main(argv: list[str]) -> int:
    try:
        models = study_models(argv)
    except Exception as error:  # noqa: BLE001 - a bad study name or key: one line, exit 2
        print(f"scalegrid: error: {' '.join(argv)}: {str(error).splitlines()[0]}", file=sys.stderr)
        return USAGE_ERROR
    missing = missing_imagenet_files(models)
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    if missing:
        print(f"[scalegrid] ImageNet weights not in {cache}: {', '.join(missing)}", flush=True)
        return 1
    print(f"[scalegrid] ImageNet weights of {', '.join(models)}: in {cache}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
