"""Below every wing: what a run leaves on disk and how a cell is identified.

The results contract (``results.py``: ``RunResult``, ``read_result``, ``write_result``), the versions of the stored
config (``config_versions.py``: where keys moved, ``migrate``), cell identity (``identity.py``: defining vs
``runtime`` settings), run folders and their lock, atomic writes. Imports nothing of scalegrid but ``errors``.
"""
