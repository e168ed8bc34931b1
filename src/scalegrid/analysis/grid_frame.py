"""``load_grid(path)``: a grid folder as a pandas DataFrame, one row per run, for the report and for notebooks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scalegrid.analysis.grid_table import METRICS, SEED_KEY, Run, find_runs, swept_keys, table_rows
from scalegrid.analysis.training_progress import last_epochs_gain, still_improving

SIZE_COLUMN = "train_size"  # the training-set size in images, the x of every learning curve
ERROR_COLUMN = "test_error"  # 1 - test accuracy: what the learning-curve fits model


def is_pretrained(run: Run) -> bool:
    """Whether the run started from weights (ImageNet or a checkpoint) rather than from a random initialisation."""
    weights = run.metric("weights")
    return weights not in (None, "", "null", "None")


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per run: results.csv's columns (every override key, status, metrics, ``error``, ``run_dir``) plus
    ``test_error``, ``weights``, ``pretrained``, ``classes`` (how many the run told apart; None when unknown) and
    ``still_improving`` / ``last_epochs_gain`` (validation accuracy, or training accuracy where a run had no
    validation split, still rising when training stopped: see training_progress). Runs that never finished have NaN metrics."""
    frame = pd.DataFrame(table_rows(runs))
    frame["weights"] = [run.metric("weights") for run in runs]
    frame["classes"] = [len(run.metric("class_names") or run.metric("per_class_acc") or []) or None for run in runs]
    histories = [run.metric("val_acc_history") or run.metric("train_acc_history") or [] for run in runs]
    frame["progress_metric"] = ["validation" if run.metric("val_acc_history") else "training" for run in runs]
    frame["still_improving"] = [still_improving(history) for history in histories]
    frame["last_epochs_gain"] = [last_epochs_gain(history) for history in histories]
    frame["pretrained"] = [is_pretrained(run) for run in runs]
    numeric = [metric for metric in METRICS if metric != "selected_by"]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    frame[ERROR_COLUMN] = 1.0 - frame["test_acc"]
    frame.attrs["swept_keys"] = [key for key in swept_keys(runs) if key != SEED_KEY]  # the cell's keys, seed aside
    return frame


def load_grid(path: str | Path) -> pd.DataFrame:
    """Every run under the grid folder ``path`` as a DataFrame (see :func:`runs_frame` for the columns);
    ``frame.attrs["swept_keys"]`` lists the keys that tell cells apart."""
    return runs_frame(find_runs(Path(path)))
