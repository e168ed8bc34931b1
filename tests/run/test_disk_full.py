"""A full disk while a checkpoint is written: one line naming the file, a non-zero exit, the previous checkpoint whole.

The disk is filled with a file-size limit in the training process (RLIMIT_FSIZE: writes past it fail with EFBIG), set
after the run has written its first checkpoints, so the limit hits a later checkpoint and nothing else.
"""

from __future__ import annotations

import errno
import json
import resource
import signal

import pytest
import torch
from conftest import TINY_DATA, run_train, start_train, wait_for_checkpoint_epoch

from scalegrid.contract.results import RESULTS_FILE
from scalegrid.errors import ScalegridError
from scalegrid.run.checkpoint_io import RunCheckpointIO, tensor_bytes
from scalegrid.run.time_breakdown import PhaseClock

LIMIT = 256 * 1024  # bytes: below mnist_net's checkpoints (about 2.4 MB), above every log and record it writes


def _ignore_sigxfsz() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG instead of killing


@pytest.mark.slow
def test_a_checkpoint_that_does_not_fit_ends_the_run_in_one_line_and_a_rerun_resumes(mnist_root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    args = ["data=mnist", "model=mnist_net", f"runtime.data.root={mnist_root}", *TINY_DATA, "trainer.max_epochs=40"]
    args += ["trainer.accelerator=cpu", "runtime.callbacks.progress_bar.refresh_rate=0", f"hydra.run.dir={run_dir}"]
    args += ["runtime.callbacks.last_checkpoint.min_interval_s=0"]
    last = run_dir / "checkpoints" / "last.ckpt"
    process = start_train(args, preexec_fn=_ignore_sigxfsz)
    wait_for_checkpoint_epoch(process, last, 1, poll=0.02)
    resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
    stdout, stderr = process.communicate(timeout=180)

    assert process.returncode == 2, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("scalegrid:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert (
        lines[0].startswith("scalegrid: error: cannot write checkpoint ") and str(run_dir / "checkpoints") in lines[0]
    )
    assert "larger than this process may write" in lines[0] and "MB)" in lines[0]
    assert "the previous checkpoint is intact" in lines[0] or "then running the same command again" in lines[0]
    stopped_at = torch.load(last, map_location="cpu", weights_only=True)  # whole: it loads
    assert stopped_at["epoch"] >= 1 and not (run_dir / RESULTS_FILE).exists()

    resumed = run_train(args)  # room again: the same command resumes
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stdout
    assert json.loads((run_dir / RESULTS_FILE).read_text())["status"] == "completed"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_each_kind_of_full_disk_is_one_line(code, tmp_path, monkeypatch) -> None:
    """ENOSPC and EDQUOT cannot be made here without root; the plugin's translation is checked on each errno."""
    from pytorch_lightning.plugins.io import TorchCheckpointIO

    def full(self, checkpoint, path, storage_options=None):
        raise OSError(code, "full", str(path))

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", full)
    checkpoint = {"state_dict": {"w": torch.zeros(1000, 1000)}}
    with pytest.raises(ScalegridError, match=r"cannot write checkpoint .*last.ckpt \(.*it needs about 4 MB\)"):
        RunCheckpointIO(PhaseClock()).save_checkpoint(checkpoint, tmp_path / "last.ckpt")
    assert tensor_bytes(checkpoint) == 4_000_000


def test_other_write_errors_keep_their_own_message(tmp_path, monkeypatch) -> None:
    from pytorch_lightning.plugins.io import TorchCheckpointIO

    def denied(self, checkpoint, path, storage_options=None):
        raise PermissionError(errno.EACCES, "denied", str(path))

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", denied)
    with pytest.raises(PermissionError):
        RunCheckpointIO(PhaseClock()).save_checkpoint({}, tmp_path / "last.ckpt")
