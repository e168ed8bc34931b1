"""Speed settings change speed, not results: threads per run, channels-last, compilation."""

from __future__ import annotations

import pytest
import torch
from conftest import quiet_trainer

from scalegrid.data.datamodule import BuiltinDataModule
from scalegrid.errors import ScalegridError
from scalegrid.models import create_model
from scalegrid.run.classifier import ImageClassifier
from scalegrid.run.performance import parallel_jobs, torch_threads

ADAM = {"name": "adam", "lr": 2e-3, "betas": [0.9, 0.999], "weight_decay": 0.0, "backbone_lr_scale": 1.0}


def test_threads_are_the_cores_shared_among_parallel_jobs() -> None:
    assert torch_threads(None, cores=16, jobs=1) == 16
    assert torch_threads(None, cores=16, jobs=4) == 4
    assert torch_threads(None, cores=2, jobs=8) == 1  # never zero
    assert torch_threads(3, cores=16, jobs=4) == 3  # the config wins
    with pytest.raises(ScalegridError, match="threads=0 must be at least 1"):
        torch_threads(0, cores=16, jobs=1)
    assert parallel_jobs() == 1  # outside a Hydra sweep


def _classifier(channels_last: bool = False, compile: bool = False) -> ImageClassifier:
    torch.manual_seed(0)
    network = create_model("simple_cnn", num_classes=10, input_shape=(3, 32, 32))
    return ImageClassifier(network, 10, ADAM, {"name": "none"}, channels_last=channels_last, compile=compile)


def test_channels_last_computes_the_same_outputs() -> None:
    plain, fast = _classifier().eval(), _classifier(channels_last=True).eval()
    conv = next(m for m in fast.network.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(plain(images), fast(images), atol=1e-5)
    assert plain.state_dict().keys() == fast.state_dict().keys()


@pytest.mark.slow
def test_a_compiled_network_trains_and_keeps_plain_checkpoint_keys(cifar_root) -> None:
    module = _classifier(compile=True)
    datamodule = BuiltinDataModule(
        "cifar10", str(cifar_root), val_size=20, batch_size=16, verify_checksums=False, download=False
    )
    quiet_trainer(1).fit(module, datamodule=datamodule)
    assert module._compiled is not None
    assert all(not key.startswith("_compiled") and "_orig_mod" not in key for key in module.state_dict())
