"""The networks the reference studies need: study C's max-pool CIFAR ResNet-18, study E's MLPs and small conv nets."""

import pytest
import torch

from scalegrid.errors import ScalegridError
from scalegrid.models import create_model
from scalegrid.models.registry import count_parameters
from scalegrid.models.table import describe_model


def _bn(channels: int) -> int:
    return 2 * channels


def _block(c_in: int, c_out: int) -> int:
    shortcut = c_in * c_out + _bn(c_out) if c_in != c_out else 0
    return c_in * c_out * 9 + _bn(c_out) + c_out * c_out * 9 + _bn(c_out) + shortcut


def test_the_maxpool_cifar_resnet_has_the_recipes_shape_and_parameter_count():
    network = create_model("resnet18_cifar_maxpool", num_classes=10, input_shape=(3, 32, 32))
    stem = 3 * 64 * 9 + 64 + _bn(64)  # conv3x3 with bias, BN
    stages = [(64, 64), (64, 128), (128, 256), (256, 512)]
    expected = stem + sum(_block(a, b) + _block(b, b) for a, b in stages) + 512 * 10 + 10
    assert count_parameters(network) == (expected, expected) == (11_174_026, 11_174_026)
    sizes = {}
    for name in ("stem", "layer1", "layer2", "layer3", "layer4"):
        getattr(network.backbone, name).register_forward_hook(lambda m, i, o, name=name: sizes.update({name: o.shape}))
    network(torch.rand(2, 3, 32, 32))
    assert [sizes[name][-1] for name in ("stem", "layer1", "layer2", "layer3", "layer4")] == [32, 32, 16, 8, 4]
    assert [sizes[name][1] for name in ("layer1", "layer2", "layer3", "layer4")] == [64, 128, 256, 512]
    assert not any(m.stride != (1, 1) for m in network.modules() if isinstance(m, torch.nn.Conv2d))  # no strided conv
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in network.modules()) == 3


def test_the_maxpool_cifar_resnet_normalises_its_input_itself():
    network = create_model("resnet18_cifar_maxpool", num_classes=10, input_shape=(3, 32, 32)).eval()
    mean = torch.tensor([0.492, 0.482, 0.447]).view(1, 3, 1, 1)
    normalised = network.backbone.normalize(mean.expand(1, 3, 32, 32))
    assert torch.allclose(normalised, torch.zeros_like(normalised), atol=1e-6)


@pytest.mark.parametrize(
    ("depth", "width", "batchnorm", "expected"),
    [(1, 30, True, 784 * 30 + 30 + 60 + 30 * 10 + 10), (2, 64, False, 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10)],
)
def test_mlp_parameter_counts(depth, width, batchnorm, expected):
    network = create_model("mlp", 10, (1, 28, 28), depth=depth, width=width, batchnorm=batchnorm)
    assert count_parameters(network)[0] == expected
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in network.modules()) == (depth if batchnorm else 0)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "none"])
def test_mlp_activations(activation):
    network = create_model("mlp", 10, (1, 28, 28), activation=activation)
    kinds = {type(m).__name__ for m in network.backbone}
    assert {"relu": "ReLU", "sigmoid": "Sigmoid", "none": "Identity"}[activation] in kinds


def test_an_unknown_activation_or_downsampling_names_the_key():
    with pytest.raises(ScalegridError, match="model.activation='gelu'"):
        create_model("mlp", 10, (1, 28, 28), activation="gelu")
    with pytest.raises(ScalegridError, match="model.downsample='avg'"):
        create_model("convnet", 10, (1, 28, 28), downsample="avg")


@pytest.mark.parametrize(
    ("option", "reported", "tolerance"),
    [("mnist_fc_24k", 23_920, 0.0), ("mnist_conv_12k", 11_842, 0.02), ("mnist_convpool_3k", 3_202, 0.02)],
)
def test_study_e4_nets_match_the_reported_sizes(option, reported, tolerance):
    row = describe_model(option)
    assert abs(row.total - reported) <= tolerance * reported, row.total
