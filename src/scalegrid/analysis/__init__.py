"""The analysis wing: reading what runs wrote and answering questions with it.

``grid_table.py`` reads first: it loads a grid folder as runs and cells (through ``scalegrid.contract``), which the
report (``report.py``, ``plots.py``) builds on; ``evaluation.py`` and ``visualization.py`` look again at one
finished run. Uses ``contract``, ``data`` and ``models`` (to rebuild a run's network); never imports
``scalegrid.run`` or ``scalegrid.grid``.
"""
