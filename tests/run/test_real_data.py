"""Training on the real datasets under ../shared/data (skipped where they are absent)."""

import pytest
from conftest import FAST_TRAINER, REAL_DATA, compose_config

from scalegrid.run.training import train


@pytest.mark.skipif(not (REAL_DATA / "MNIST" / "raw").is_dir(), reason="real MNIST not present")
def test_mnist_net_reaches_97_percent_after_one_epoch(tmp_path):
    overrides = [
        "data=mnist",
        "model=mnist_net",
        "optim=adam",
        f"runtime.data.root={REAL_DATA}",
        *FAST_TRAINER,
        "trainer.max_epochs=1",
        "logger=none",
    ]
    results = train(compose_config(overrides, output_dir=tmp_path))
    assert results.train_size == 55_000 and results.test_size == 10_000
    assert results.test_acc >= 0.97
