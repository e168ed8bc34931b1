"""A grid you can watch: one line per cell as it ends, printed by the sweeping process, whatever the launcher.

``[7/36] resnet50 frac0.5 imagenet full seed1: 81.2 % in 41 s; 29 left, about 12 min``

Each job, wherever it runs (this process under Hydra's basic launcher, a joblib worker, a SLURM node), writes one
small event file when it ends into a folder of the grid that this sweep made (hidden, removed at the sweep's end); the
sweeping process prints the events as they arrive: at once for its own jobs, from a watching thread for the others.
The estimate of the time left is the sweep's wall time per cell that trained so far (so parallel launchers are
accounted for); cells skipped because an earlier invocation finished them are counted apart and get no line.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from scalegrid.contract.sweep_record import sweep_size, swept_keys
from scalegrid.errors import ScalegridError, user_message

PROGRESS_ENV = "SCALEGRID_GRID_PROGRESS"  # the event folder of the running sweep, inherited by launcher workers
EVENTS_FOLDER = ".grid_progress"  # under the grid folder: one subfolder per running sweep
POLL_SECONDS = 1.0  # how often the sweeping process looks for events of jobs that ran elsewhere
SKIPPED, BUSY, COMPLETED, DIVERGED, FAILED = "skipped", "busy", "completed", "diverged", "failed"


def cell_label(run_dir: Path, grid_dir: Path) -> str:
    """A cell's folder inside its grid as words: ``resnet50/frac0.5/imagenet/full/seed1`` -> ``resnet50 frac0.5 ...``."""
    try:
        return " ".join(Path(run_dir).resolve().relative_to(Path(grid_dir).resolve()).parts) or str(run_dir)
    except ValueError:  # a cell outside its grid folder (a custom hydra.sweep.subdir): its whole path
        return str(run_dir)


def job_event(config: DictConfig, job_return: Any, seconds: float) -> dict[str, Any]:
    """What the sweeping process prints of one ended job: its cell, status, test accuracy, time and error."""
    run_dir = Path(OmegaConf.select(config, "hydra.runtime.output_dir") or ".")
    grid_dir = Path(OmegaConf.select(config, "hydra.sweep.dir") or ".")
    label = cell_label(run_dir, grid_dir)
    if label.isdigit():  # a plain -m sweep names its folders by job number: say the swept values too
        swept = set(swept_keys(grid_dir))
        values = [
            item for item in OmegaConf.select(config, "hydra.overrides.task") or [] if item.split("=")[0] in swept
        ]
        label = " ".join([f"#{label}", *values])
    event: dict[str, Any] = {"cell": label, "seconds": round(seconds, 2)}
    if job_return.status != JobStatus.COMPLETED:  # the job raised (its return_value would raise it again)
        return {**event, "status": FAILED, "error": error_line(job_return._return_value)}
    outcome = job_return.return_value
    result = getattr(outcome, "result", None)
    return {
        **event,
        "status": getattr(outcome, "status", FAILED),
        "test_acc": getattr(result, "test_acc", None),
        "error": getattr(outcome, "error", None),
    }


def error_line(error: BaseException) -> str:
    """A job's exception as one line: a scalegrid error's message, else its type and first line."""
    text = (user_message(error).strip().splitlines() or [""])[0]
    return text if isinstance(error, ScalegridError) else f"{type(error).__name__}: {text}".rstrip(": ")


def duration(seconds: float) -> str:
    """``41 s``, ``12 min``, ``1 h 05 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class ProgressLines:
    """The sweeping process's count of ended cells and the line each one gets (pure: no files, no clock)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.ended = 0
        self.worked = 0  # cells that trained (or failed trying): the ones the time estimate is made of
        self.skipped = 0
        self.skipped_unsaid = 0  # skipped since the last line: said with the next one

    def line(self, event: dict[str, Any], elapsed: float) -> str | None:
        """The line for one ended cell, ``elapsed`` seconds into the sweep; None for a skipped cell (counted)."""
        self.ended += 1
        status = event.get("status")
        if status == SKIPPED:
            self.skipped += 1
            self.skipped_unsaid += 1
            return None
        if status != BUSY:
            self.worked += 1
        return f"{self._count()} {event['cell']}: {self._outcome(event)}{self._left(elapsed)}{self._skips()}"

    def closing_line(self) -> str | None:
        """After the last event: the skipped cells no line has mentioned yet."""
        if not self.skipped_unsaid:
            return None
        noun = "cell" if self.skipped_unsaid == 1 else "cells"
        line = f"{self._count()} {self.skipped_unsaid} {noun} skipped: finished by an earlier run"
        self.skipped_unsaid = 0
        return line

    def _count(self) -> str:
        return f"[{self.ended}/{self.total}]" if self.total else f"[{self.ended}]"

    @staticmethod
    def _outcome(event: dict[str, Any]) -> str:
        status, seconds = event.get("status"), duration(float(event.get("seconds") or 0.0))
        if status == COMPLETED:
            accuracy = event.get("test_acc")
            return f"{100 * accuracy:.1f} % in {seconds}" if accuracy is not None else f"completed in {seconds}"
        if status == BUSY:
            return "left to the process that is running it"
        reason = f" ({event['error']})" if event.get("error") else ""
        return f"{status} in {seconds}{reason}"

    def _left(self, elapsed: float) -> str:
        if not self.total:
            return ""
        left = max(0, self.total - self.ended)
        if left == 0:
            return "; none left"
        estimate = f", about {duration(left * elapsed / self.worked)}" if self.worked else ""
        return f"; {left} left{estimate}"

    def _skips(self) -> str:
        if not self.skipped_unsaid:
            return ""
        said, self.skipped_unsaid = self.skipped_unsaid, 0
        return f" ({said} skipped before it: finished by an earlier run)"


class GridProgress(Callback):
    """Hydra callback (conf/hydra/default.yaml): the per-cell lines of a sweep, printed by the sweeping process."""

    def __init__(self) -> None:
        self._sweep_process: int | None = None
        self._events: Path | None = None
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._job_started = time.perf_counter()
        self._out = sys.stdout

    def __getstate__(self) -> dict[str, Any]:
        """What a launcher's worker gets (joblib and submitit pickle the callbacks): no thread, lock or stream; in a
        worker this callback only writes its jobs' events."""
        state = {
            key: value for key, value in self.__dict__.items() if key not in ("_lock", "_stop", "_watcher", "_out")
        }
        return {**state, "_seen": set()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock, self._stop, self._watcher, self._out = threading.Lock(), threading.Event(), None, sys.stdout

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._sweep_process, self._seen = os.getpid(), set()
        self._out = sys.stdout  # the grid's own output: a cell's output goes to its log file while it runs
        self._started = time.perf_counter()
        self._lines = ProgressLines(sweep_size(config))
        grid_dir = Path(config.hydra.sweep.dir)
        try:
            self._events = grid_dir / EVENTS_FOLDER / uuid.uuid4().hex
            self._events.mkdir(parents=True)
        except OSError:  # an unwritable grid folder: the sweep itself says so; no progress lines
            self._events = None
            return
        os.environ[PROGRESS_ENV] = str(self._events)  # launcher workers start after this and inherit it
        atexit.register(self._remove_events, self._events)  # a sweep stopped by an error leaves no event folder
        cells = f"{self._lines.total} cells" if self._lines.total else "the cells"
        print(
            f"[scalegrid] {cells} of grid {grid_dir}: a line each as it ends; its own log is in its folder",
            file=self._out,
            flush=True,
        )
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="scalegrid-grid-progress", daemon=True)
        self._watcher.start()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._job_started = time.perf_counter()  # in the process that runs the job

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        folder = os.environ.get(PROGRESS_ENV)
        if not folder or not Path(folder).is_dir():
            return  # not under a sweep of this callback's (or its folder is gone): nothing to tell
        event = job_event(config, job_return, time.perf_counter() - self._job_started)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        partial = Path(folder) / f".{name}"
        partial.write_text(json.dumps(event))
        partial.replace(Path(folder) / name)  # whole or absent: the watcher never reads half an event
        if os.getpid() == self._sweep_process:
            self._drain()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._events is None:
            return
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5 * POLL_SECONDS)
        self._drain()
        with self._lock:
            closing = self._lines.closing_line()
            if closing:
                print(closing, file=self._out, flush=True)
        self._remove_events(self._events)
        self._events = None

    @staticmethod
    def _remove_events(events: Path) -> None:
        shutil.rmtree(events, ignore_errors=True)
        try:
            events.parent.rmdir()  # the grid's event folder, when no other sweep is running in this grid
        except OSError:
            pass
        if os.environ.get(PROGRESS_ENV) == str(events):
            os.environ.pop(PROGRESS_ENV, None)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self._drain()

    def _drain(self) -> None:
        """Print the events not printed yet, oldest first (the file names start with the time they were written)."""
        with self._lock:
            events = self._events
            if events is None:
                return
            try:
                names = sorted(path.name for path in events.glob("[!.]*.json"))
            except OSError:
                return
            for name in names:
                if name in self._seen:
                    continue
                self._seen.add(name)
                try:
                    event = json.loads((events / name).read_text())
                except (OSError, ValueError):
                    continue
                line = self._lines.line(event, time.perf_counter() - self._started)
                if line:
                    print(line, file=self._out, flush=True)
