"""Fine-tune policies under real Lightning training: what changes, what stays, and when."""

import copy

import pytest
import pytorch_lightning as pl
import torch
from conftest import quiet_trainer

from scalegrid.data.datamodule import BuiltinDataModule
from scalegrid.errors import ScalegridError
from scalegrid.models import create_model
from scalegrid.models.registry import count_parameters
from scalegrid.run.classifier import ImageClassifier
from scalegrid.run.finetune import FinetunePolicy, modules_to_freeze

SGD = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 5e-4, "backbone_lr_scale": 1.0}
NO_SCHEDULE = {"name": "none"}


class Snapshots(pl.Callback):
    """Copies of the network's state at the end of each training epoch."""

    def __init__(self):
        self.states = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.states.append(copy.deepcopy(pl_module.network.state_dict()))


def fit(cifar_root, network, policy: FinetunePolicy, epochs: int = 1, optim=SGD):
    datamodule = BuiltinDataModule(
        "cifar10", str(cifar_root), val_size=20, batch_size=16, verify_checksums=False, download=False
    )
    policy.apply(network)
    module = ImageClassifier(network, num_classes=10, optim=optim, sched=NO_SCHEDULE)
    snapshots = Snapshots()
    trainer = quiet_trainer(epochs, callbacks=[policy, snapshots])
    trainer.fit(module, datamodule=datamodule)
    return trainer, snapshots.states


def changed(before, after, prefix):
    return {k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])}


def test_linear_probe_trains_only_the_head_and_keeps_batchnorm_statistics(cifar_root):
    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    before = copy.deepcopy(network.state_dict())
    _, states = fit(cifar_root, network, FinetunePolicy("linear_probe"))
    after = states[-1]
    assert changed(before, after, "backbone.") == set()  # weights and running statistics alike
    assert changed(before, after, "head.") == {"head.weight", "head.bias"}
    assert count_parameters(network) == (11_181_642, 5_130)


@pytest.mark.parametrize(
    ("frozen_bn", "statistics_move", "weights_move"),
    [("frozen", False, False), ("updating", True, False), ("trainable", True, True)],
)
def test_the_three_batchnorm_behaviours_of_frozen_layers(cifar_root, frozen_bn, statistics_move, weights_move):
    """Study B3 froze layers by requires_grad=False in train mode: statistics move, weights do not ("updating")."""
    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    before = copy.deepcopy(network.state_dict())
    _, states = fit(cifar_root, network, FinetunePolicy("freeze_stages", freeze_stages=5, frozen_bn=frozen_bn))
    moved = changed(before, states[-1], "backbone.")
    frozen_statistics = {"backbone.bn1.running_mean", "backbone.layer1.0.bn1.running_var"}
    assert frozen_statistics <= moved if statistics_move else not frozen_statistics & moved
    assert ("backbone.bn1.weight" in moved) is weights_move
    assert not any(key.startswith(("backbone.conv1.", "backbone.layer1.0.conv1.")) for key in moved)
    assert "backbone.layer2.0.bn1.running_mean" in moved  # a trained stage moves in every mode


def test_an_unknown_batchnorm_behaviour_is_refused():
    with pytest.raises(ScalegridError, match="finetune.frozen_bn='thawed' is unknown; choose one of frozen, updating"):
        FinetunePolicy("freeze_stages", freeze_stages=5, frozen_bn="thawed")


def test_freeze_stages_freezes_exactly_the_first_n(cifar_root):
    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    before = copy.deepcopy(network.state_dict())
    _, states = fit(cifar_root, network, FinetunePolicy("freeze_stages", freeze_stages=5))  # conv1 .. layer1
    moved = {key.split(".")[1] for key in changed(before, states[-1], "backbone.")}
    assert moved == {"layer2", "layer3", "layer4"}
    stages = dict(network.stages())
    assert not any(p.requires_grad for name in ("conv1", "bn1", "layer1") for p in stages[name].parameters())
    assert all(p.requires_grad for name in ("layer2", "layer3", "layer4") for p in stages[name].parameters())


def test_freeze_stages_above_the_number_of_stages_names_the_maximum():
    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    with pytest.raises(ScalegridError, match="the maximum is 10"):
        modules_to_freeze(network, "freeze_stages", 11)


def test_gradual_unfreezes_the_backbone_at_the_given_epoch(cifar_root):
    network = create_model("mnist_net", num_classes=10, input_shape=(3, 32, 32))
    before = copy.deepcopy(network.state_dict())
    optim = {**SGD, "backbone_lr_scale": 0.1}
    trainer, states = fit(
        cifar_root, network, FinetunePolicy("gradual", unfreeze_epoch=2, backbone_lr_scale=0.1), 3, optim
    )
    assert changed(before, states[0], "backbone.") == set() == changed(before, states[1], "backbone.")
    assert changed(states[1], states[2], "backbone.")  # epoch 2 trains the backbone
    groups = trainer.optimizers[0].param_groups
    assert len(groups) == 2 and groups[1]["lr"] == pytest.approx(0.005)


def test_backbone_gets_its_own_learning_rate(cifar_root):
    network = create_model("mnist_net", num_classes=10, input_shape=(3, 32, 32))
    trainer, _ = fit(cifar_root, network, FinetunePolicy("full"), 1, {**SGD, "backbone_lr_scale": 0.1})
    assert [group["lr"] for group in trainer.optimizers[0].param_groups] == pytest.approx([0.05, 0.005])
