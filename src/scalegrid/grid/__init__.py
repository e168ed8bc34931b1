"""The grid wing: running a sweep of cells.

Owns cell folders' lifecycle in a sweep (skip a finished cell, retry a failed one, record a failure and go on, leave
a busy cell to its process) and the end-of-sweep summary. Reads and writes results only through
``scalegrid.contract``; never imports ``scalegrid.run`` (the training function is handed in by the entry point) or
``scalegrid.analysis``.
"""
