"""The analysis wing: reading what runs wrote and answering questions with it.

``grid_table.py`` reads first: it loads a grid folder as runs and cells (through ``scalegrid.contract``), which the
report (``report.py``, ``plots.py``) builds on; ``grid_frame.py`` gives the same runs as a pandas table
(``load_grid``), which ``answers.py`` turns into the report's Answers through ``uncertainty.py`` (bootstrap
intervals) and ``scaling_fits.py`` (learning-curve fits, crossovers, effective data transferred); ``evaluation.py`` and ``visualization.py`` look again at one
finished run. Uses ``contract``, ``data`` and ``models`` (to rebuild a run's network); never imports
``scalegrid.run`` or ``scalegrid.grid``.
"""
