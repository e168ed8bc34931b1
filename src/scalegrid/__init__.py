"""scalegrid: model size x data size x pretraining grids for image classification."""

from pathlib import Path

__version__ = "0.1.0"

# The checkout that holds conf/ (the package is installed editable from it).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"


def _register_resolvers() -> None:
    from omegaconf import OmegaConf

    # ${scalegrid_root:} in conf/paths: the project checkout, wherever the command is run from.
    OmegaConf.register_new_resolver("scalegrid_root", lambda: str(PROJECT_ROOT), replace=True)
    # ${weights_tag:${model.weights}} in grid directories: scratch | imagenet | pretrained | from_<grid>.<cell>.
    OmegaConf.register_new_resolver("weights_tag", lambda weights: _weights_tag(weights), replace=True)
    # ${other_swept_keys:model,seed,...} in grid directories: /key=value for each other key the sweep varies.
    OmegaConf.register_new_resolver("other_swept_keys", lambda *named: _other_swept(named), replace=True)
    # ${gpu_launcher_jobs:${runtime.jobs_per_gpu}} in hydra/launcher=gpu_pack: GPUs x cells per GPU.
    OmegaConf.register_new_resolver("gpu_launcher_jobs", lambda setting: _launcher_jobs(setting), replace=True)
    # ${if_null:${pretrained},imagenet} in the studies: the value, or the fallback when it is null.
    OmegaConf.register_new_resolver(
        "if_null", lambda value, fallback: fallback if value is None else value, replace=True
    )


def _launcher_jobs(setting):
    from scalegrid.contract.device_defaults import launcher_jobs

    return launcher_jobs(setting)


def _weights_tag(weights):
    from scalegrid.contract.identity import weights_tag

    return weights_tag(weights)


_register_resolvers()


def _other_swept(named):
    from scalegrid.grid.folders import other_swept_segments_of_this_job

    return other_swept_segments_of_this_job(*named)
