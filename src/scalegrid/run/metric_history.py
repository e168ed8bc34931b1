"""``csv/metrics.csv`` that keeps a resumed run's history: every epoch once, as in an uninterrupted run.

Lightning's CSV logger deletes ``metrics.csv`` when it starts, so a resumed run kept only the epochs after the
interruption (and a cell rebuilt from its last checkpoint only its test row). :class:`ResumableCSVLogger` keeps the
rows logged before the checkpoint the run resumes from (those with ``step`` below its global step) and drops the rest,
which the resumed run logs again; a run that does not resume starts the file afresh, as Lightning's does.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment


class ResumableCSVLogger(CSVLogger):
    """CSVLogger whose file survives a resume (``resume_step``: the global step of the checkpoint resumed from)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resume_step: int | None = None  # set by the run before training starts, when it resumes

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(self.log_dir, self.resume_step)
        return self._experiment


class _ContinuingWriter(ExperimentWriter):
    def __init__(self, log_dir: str, resume_step: int | None) -> None:
        self._resume_step = resume_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        if self._resume_step is None or not os.path.isfile(self.metrics_file_path):
            super()._check_log_dir_exists()  # a fresh run: Lightning's behaviour (the old file goes)
            return
        with open(self.metrics_file_path, newline="") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            kept = [row for row in reader if _step(row) is not None and _step(row) < self._resume_step]
        temporary = f"{self.metrics_file_path}.tmp"
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(temporary, self.metrics_file_path)
        self.metrics_keys = sorted(fields)  # the header the next rows extend


def _step(row: dict[str, str]) -> int | None:
    try:
        return int(float(row.get("step") or ""))
    except ValueError:
        return None
