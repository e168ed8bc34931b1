"""The run wing: everything about training one cell.

``training.py`` reads first: ``train(cfg)`` in five phases (compose → build → fit → test → record). Beside it the
LightningModule (``classifier.py``), fine-tune policies, optimisers and schedules, the step budget, exact resume,
GPU claims, throughput and speed settings, and the one adapter to Lightning internals. Uses ``data``, ``models``,
``contract``; never imports ``scalegrid.grid`` or ``scalegrid.analysis``.
"""
