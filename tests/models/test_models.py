import pytest
import torch

from scalegrid.errors import ScalegridError
from scalegrid.models import available_models, create_model
from scalegrid.models.registry import count_parameters


@pytest.mark.parametrize(
    ("name", "expected"),
    [("mnist_net", 204_826), ("resnet18", 11_181_642), ("resnet50", 23_528_522), ("vgg19_bn_cifar", 20_365_002)],
)
def test_parameter_counts_at_ten_classes(name, expected):
    shape = (1, 28, 28) if name == "mnist_net" else (3, 32, 32)
    assert count_parameters(create_model(name, num_classes=10, input_shape=shape)) == (expected, expected)


@pytest.mark.parametrize("name", available_models())
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_model_classifies_both_input_kinds(name, shape):
    model = create_model(name, num_classes=7, input_shape=shape).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *shape)).shape == (2, 7)


@pytest.mark.parametrize("arch", ["mobilenet_v3_small", "vit_b_16"])
def test_any_torchvision_model_at_224(arch):
    model = create_model("torchvision", num_classes=5, input_shape=(3, 224, 224), arch=arch).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 5)


def test_torchvision_classifier_is_replaced_generically():
    model = create_model("torchvision", num_classes=3, input_shape=(1, 32, 32), arch="efficientnet_b0")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [model.head] and model.head.in_features == 1280
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.in_channels == 1


def test_unknown_torchvision_arch_lists_the_names():
    with pytest.raises(ScalegridError, match="efficientnet_b0"):
        create_model("torchvision", num_classes=3, input_shape=(3, 32, 32), arch="nosuchnet")


def test_resnet18_cifar_has_the_cifar_stem():
    model = create_model("resnet18_cifar", num_classes=10, input_shape=(3, 32, 32))
    assert model.backbone.conv1.kernel_size == (3, 3) and model.backbone.conv1.stride == (1, 1)
    assert isinstance(model.backbone.maxpool, torch.nn.Identity)


def test_heads():
    mlp = create_model("resnet18", 10, (3, 32, 32), head={"kind": "mlp", "hidden": 256, "dropout": 0.2}).head
    assert [type(m).__name__ for m in mlp] == ["Linear", "ReLU", "Dropout", "Linear"]
    assert (mlp[0].in_features, mlp[0].out_features, mlp[2].p, mlp[3].out_features) == (512, 256, 0.2, 10)
    dropout = create_model("resnet18", 10, (3, 32, 32), head={"kind": "linear", "dropout": 0.5}).head
    assert dropout[0].p == 0.5 and dropout[1].out_features == 10
    with pytest.raises(ScalegridError, match="model.head.kind"):
        create_model("resnet18", 10, (3, 32, 32), head={"kind": "transformer"})


@pytest.mark.parametrize("name", ["mnist_net", "simple_cnn"])
def test_small_nets_take_activation_and_batchnorm(name):
    plain = create_model(name, 10, (3, 32, 32), activation="sigmoid", batchnorm=False)
    normed = create_model(name, 10, (3, 32, 32), activation="tanh", batchnorm=True)
    kinds = {type(m) for m in plain.modules()}
    assert torch.nn.Sigmoid in kinds and torch.nn.ReLU not in kinds and torch.nn.BatchNorm2d not in kinds
    assert {torch.nn.Tanh, torch.nn.BatchNorm2d} <= {type(m) for m in normed.modules()}
    with pytest.raises(ScalegridError, match="model.activation"):
        create_model(name, 10, (3, 32, 32), activation="gelu")


def test_unknown_model_lists_the_available_ones():
    with pytest.raises(ScalegridError, match="available: .*mnist_net.*resnet18"):
        create_model("nosuchnet", num_classes=10, input_shape=(3, 32, 32))
