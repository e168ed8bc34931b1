"""The TensorBoard logger of a run: events in the run folder itself, and a page that opens with what a grid asks.

TensorBoard names a run by the folder its event files are in, relative to ``--logdir``: with the files in the cell's
own folder (conf/logger/tensorboard.yaml) a grid's runs read ``grids/demo/convnet_wide/frac0.0625/source/seed0``.
Its Time Series and Scalars pages sort charts by tag, grouped by the part before the first ``/``, so Lightning's
``epoch`` counter came first and validation accuracy (``val/acc``) after ``test``, ``train`` and the rest. This logger
leaves out ``epoch`` (the x axis is the step; epochs are in csv/metrics.csv) and writes validation accuracy a second
time as ``accuracy/validation``, the first group on the page: the chart that compares a grid's runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytorch_lightning.loggers import TensorBoardLogger

HEADLINE = {"val/acc": "accuracy/validation"}  # metric -> the tag of the page's first chart
LEFT_OUT = ("epoch",)  # Lightning's epoch counter: a chart of a straight line, first on the page


class RunTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger, with the headline chart first and without the ``epoch`` chart."""

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        shown = {key: value for key, value in metrics.items() if key not in LEFT_OUT}
        shown.update({HEADLINE[key]: value for key, value in metrics.items() if key in HEADLINE})
        if shown:
            super().log_metrics(shown, step)
