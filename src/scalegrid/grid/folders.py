"""Cell folders: the part of a cell's folder name that ``hydra=grid``'s pattern does not spell out.

``conf/hydra/grid.yaml`` names a cell by model, fraction, weights, policy and seed. A sweep over any other key
(``optim.lr=0.01,0.02``) appends one ``key=value`` segment per such key, sorted, so that two cells never share a
folder, while grids that sweep only the named keys keep the folders they always had.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from scalegrid.contract.sweep_record import parse_overrides, swept_keys


def other_swept_segments(named: list[str], grid_dir: Path, job_overrides: list[str]) -> str:
    """``/key=value`` for each key the sweep varies that ``named`` (the pattern's keys) leaves out; "" for none."""
    values = parse_overrides(job_overrides)  # runtime keys never name a folder
    extra = sorted(key for key in swept_keys(grid_dir) if key not in named and key in values)
    return "".join(f"/{_segment(key, values[key])}" for key in extra)


def _segment(key: str, value: str) -> str:
    """``key=value`` safe as one folder name; a config group option (``arm=finetune_depth/freeze5``) by its name."""
    if "." not in key or "/" in key:  # a group selection: its option's own name says it
        value = value.rsplit("/", 1)[-1]
    return f"{quote(key.replace('/', '.'), safe='.-_')}={quote(value, safe='=,.-_+@')}"


def other_swept_segments_of_this_job(*named: str) -> str:
    """The resolver ``${other_swept_keys:model,data.fraction,...}`` in a grid's ``hydra.sweep.subdir``."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return ""
    hydra = HydraConfig.get()
    return other_swept_segments(list(named), Path(hydra.sweep.dir), list(hydra.overrides.task))
