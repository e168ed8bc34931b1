"""The analysis wing: reading what runs wrote and answering questions with it.

``grid_table.py`` reads first: it loads a grid folder as runs and cells (through ``scalegrid.contract``), which the
report (``report.py``, ``plots.py``) builds on; ``grid_frame.py`` gives the same runs as a pandas table
(``load_grid``), which ``answers.py`` turns into the report's Answers through ``uncertainty.py`` (bootstrap
intervals, paired tests, Holm), ``scaling_fits.py`` (learning-curve fits, their intervals and backtests, crossovers,
effective data transferred) over ``curve_forms.py`` (the laws M1-M4 and their least-squares fit) and
``training_progress.py`` (runs still improving when they stopped); ``answer_tables.py`` writes the Answers section
as markdown. ``evaluation.py`` and ``visualization.py`` look again at one finished run. Uses ``contract``, ``data`` and ``models`` (to rebuild a run's network); never imports
``scalegrid.run`` or ``scalegrid.grid``.
"""
