"""The one place scalegrid leans on a Lightning internal that has no public API.

tests/test_lightning_adapter.py builds real Trainers and fails loudly when a Lightning release changes what this
module relies on.
"""

from __future__ import annotations

import pytorch_lightning as pl


def relaunches_command(trainer: pl.Trainer) -> bool:
    """Whether the Trainer starts its other DDP ranks by re-running this process's command line.

    Lightning's ``ddp`` strategy does so (``_SubprocessScriptLauncher``) unless a cluster environment (srun,
    torchrun) starts the ranks itself; ``ddp_spawn`` forks workers instead. Lightning exposes no public flag for it.
    """
    from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    strategy = trainer.strategy
    environment = getattr(strategy, "cluster_environment", None)
    return (
        isinstance(getattr(strategy, "launcher", None), _SubprocessScriptLauncher)
        and environment is not None
        and not environment.creates_processes_externally
        and trainer.world_size > 1
    )
