"""One process per run directory: an advisory lock held for the whole run.

Two grid invocations pointed at the same folder would otherwise train the same cell twice and interleave their
checkpoints and ``results.json``. The lock is ``flock`` on ``<run dir>/.scalegrid.lock``: the operating system
releases it when the holder exits in any way (SIGKILL and pre-emption included), so a stale lock cannot block a
resume. It works on local disks and on NFSv4; on file systems without locks every run sees the lock as free.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scalegrid.errors import ScalegridError

LOCK_FILE = ".scalegrid.lock"


class RunDirectoryBusy(ScalegridError):
    """Another process holds this run directory's lock."""


@contextmanager
def run_directory_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the duration of the block; raise RunDirectoryBusy when another process holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    handle = open(path, "a+")  # noqa: SIM115 - held open for the whole block
    acquired = False
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "another process"
            raise RunDirectoryBusy(
                f"{run_dir} is being run by {holder}: wait for it to finish (or stop it), or give this run "
                "another directory"
            ) from None
        acquired = True
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield
    finally:
        if acquired:  # the holder's note means something only while it holds the lock: a released lock is empty,
            handle.seek(0)  # so a run that was refused leaves the folder's files as it found them
            handle.truncate()
        handle.close()  # closing releases the lock


def is_locked(run_dir: Path) -> bool:
    """Whether a process holds ``run_dir``'s lock now, i.e. the run is in progress rather than interrupted."""
    path = Path(run_dir) / LOCK_FILE
    if not path.is_file():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
