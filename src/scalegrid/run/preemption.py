"""A scheduler's signals. SIGTERM outside Lightning's loops stops the run at once (:func:`sigterm_stops_the_run`;
inside them Lightning stops at a batch boundary). A job system's warning before it ends a job: stop at the next batch
boundary with ``last.ckpt`` written, then let the job system requeue the job, which resumes from that point.

On SLURM through hydra-submitit-launcher the warning is submitit's signal (``SUBMITIT_PREEMPT_SIGNAL``, USR2 by
default; ``#SBATCH --signal=USR2@120``: 120 s before the time limit, or at preemption). submitit's own handler
requeues the job and exits at once, in the middle of whatever step is running; a requeued run would then resume from
the last time-rule ``last.ckpt`` (up to a minute and an epoch earlier) or, in a short job, from its first step. So
during the fit the warning is turned into Lightning's SIGTERM stop (its loops stop at a batch boundary, where
:class:`~scalegrid.run.last_checkpoint.LastCheckpoint` writes ``last.ckpt``), and submitit's handler is called after
it (:meth:`SchedulerWarning.hand_over`). Outside the fit (data loading, the test) submitit's handler runs at once
(through :func:`hand_over_to`, which ignores the SIGTERM SLURM then sends): the requeued job resumes from the
``last.ckpt`` the end of the fit wrote.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import pytorch_lightning as pl

from scalegrid.errors import RunStopped

SUBMITIT_JOB = "SUBMITIT_EXECUTOR"  # set in every job submitit starts (slurm, local)
SUBMITIT_SIGNAL = "SUBMITIT_PREEMPT_SIGNAL"  # the signal name without SIG; submitit's default is USR2


@contextmanager
def sigterm_stops_the_run(where: Any) -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`RunStopped` at once, saying ``where()`` the run's point is kept.

    Without it a SIGTERM while the data load, the model is built or the best checkpoint is restored for the test
    ended the process by the signal's default action, without a word. Inside Lightning's loops Lightning's own
    handler is the installed one (it calls this one too): then nothing is raised, and Lightning stops at the end of
    the batch in progress.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        if signal.getsignal(signal.SIGTERM) is stop:  # not inside Lightning's loops
            raise RunStopped(f"stopped by SIGTERM outside training: {where()}; run the same command again to resume")

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    warning = scheduler_warning_signal()  # outside the fit too, the job system's hand-over ignores SIGTERM
    job_system_handler = signal.getsignal(warning) if warning is not None else None
    if warning is not None:
        signal.signal(warning, lambda signum, frame: hand_over_to(job_system_handler, signum, frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if warning is not None:
            signal.signal(warning, job_system_handler)


def hand_over_to(handler: Any, signum: int, frame: FrameType | None) -> None:
    """Call the job system's handler for its warning (submitit: requeue the job, then exit), ignoring SIGTERM from
    then on: SLURM ends the step of a requeued job with SIGTERM, which is not a stop of this run (as a stop it would
    end the cell as stopped while the requeued job goes on with it)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if callable(handler):
        handler(signum, frame)


def scheduler_warning_signal() -> signal.Signals | None:
    """The signal a job system sends before it ends this job and has a handler for (None outside such a job)."""
    if SUBMITIT_JOB not in os.environ:
        return None
    signum = getattr(signal, "SIG" + os.environ.get(SUBMITIT_SIGNAL, "USR2"), None)
    if signum is None or not callable(signal.getsignal(signum)):
        return None  # no handler installed: nothing would requeue the job
    return signum


class SchedulerWarning(pl.Callback):
    """During the fit, the job system's warning signal stops training as SIGTERM does; :meth:`hand_over` then calls
    the job system's own handler (which requeues the job and exits)."""

    def __init__(self) -> None:
        self.received = False
        self._signum: signal.Signals | None = None
        self._job_system_handler: Any = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._signum = scheduler_warning_signal()
        if self._signum is None:
            return
        self._job_system_handler = signal.getsignal(self._signum)
        signal.signal(self._signum, self._stop_at_batch_boundary)

    def _stop_at_batch_boundary(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        # Lightning's SIGTERM handler (installed for the fit) flags the loops, which stop at the next batch boundary.
        sigterm = signal.getsignal(signal.SIGTERM)
        if callable(sigterm):
            sigterm(signal.SIGTERM, frame)
        else:  # no Lightning handler (not in a fit after all): nothing to stop gracefully
            self.hand_over()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._signum is not None and self._job_system_handler is not None:
            signal.signal(self._signum, self._job_system_handler)

    def hand_over(self) -> None:
        """Call the job system's handler (submitit: requeue the job, then exit); it normally does not return."""
        handler, signum = self._job_system_handler, self._signum
        self._restore()
        if callable(handler) and signum is not None:
            hand_over_to(handler, signum, None)
