"""``load_grid(path)``: a grid folder as a pandas DataFrame, one row per run, for the report and for notebooks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scalegrid.analysis.grid_table import METRICS, SEED_KEY, Run, find_runs, swept_keys

SIZE_COLUMN = "train_size"  # the training-set size in images, the x of every learning curve
ERROR_COLUMN = "test_error"  # 1 - test accuracy: what the learning-curve fits model


def is_pretrained(run: Run) -> bool:
    """Whether the run started from weights (ImageNet or a checkpoint) rather than from a random initialisation."""
    weights = run.metric("weights")
    return weights not in (None, "", "null", "None")


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per run: the swept keys (as typed, strings), ``seed``, status, metrics, ``test_error``, ``pretrained``,
    ``weights``, ``error`` and ``run_dir``. Runs that never finished have NaN metrics."""
    keys = swept_keys(runs)
    rows = []
    for run in runs:
        row = {key: run.overrides.get(key, "") for key in keys}
        row[SEED_KEY] = run.overrides.get(SEED_KEY, row.get(SEED_KEY, ""))
        row["status"] = run.status
        row.update({metric: run.metric(metric) for metric in METRICS})
        row["weights"] = run.metric("weights")
        row["pretrained"] = is_pretrained(run)
        row["error"] = run.metric("error") or ""
        row["run_dir"] = str(run.directory)
        rows.append(row)
    frame = pd.DataFrame(rows)
    numeric = [metric for metric in METRICS if metric != "selected_by"]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    frame[ERROR_COLUMN] = 1.0 - frame["test_acc"]
    frame.attrs["swept_keys"] = [key for key in keys if key != SEED_KEY]  # the cell's keys, seed aside
    return frame


def load_grid(path: str | Path) -> pd.DataFrame:
    """Every run under the grid folder ``path`` as a DataFrame (see :func:`runs_frame` for the columns);
    ``frame.attrs["swept_keys"]`` lists the keys that tell cells apart."""
    return runs_frame(find_runs(Path(path)))
