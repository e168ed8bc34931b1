"""A writer killed in the middle of a file leaves the old file (or none), never half of the new one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scalegrid.contract.atomic_files import write_atomic

# Writes half of a new results.json, then dies the way a pre-empted job does: SIGKILL, no cleanup.
KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from scalegrid.contract.results import write_json_atomic
from scalegrid.contract import atomic_files

def write_half_then_die(stream):
    stream.write(b'{"status": "completed", "test_acc": 0.9')
    stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)

atomic_files.write_atomic(Path(sys.argv[1]), write_half_then_die)
"""


@pytest.mark.parametrize("existing", [None, {"status": "failed", "error": "an earlier attempt"}])
def test_a_writer_killed_mid_file_leaves_no_half_file(existing, tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    if existing is not None:
        target.write_text(json.dumps(existing))
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], capture_output=True)
    assert killed.returncode == -9
    if existing is None:
        assert not target.exists()
    else:
        assert json.loads(target.read_text()) == existing


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")

    def fail_midway(stream) -> None:
        stream.write(b"new, half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, fail_midway)
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["report.md"]
