import pytest
import torch

from scalegrid.errors import ScalegridError
from scalegrid.models import available_models, create_model
from scalegrid.models.registry import count_parameters


@pytest.mark.parametrize(
    ("name", "expected"), [("mnist_net", 204_826), ("resnet18", 11_181_642), ("resnet50", 23_528_522)]
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


def test_unknown_model_lists_the_available_ones():
    with pytest.raises(ScalegridError, match="available: .*mnist_net.*resnet18"):
        create_model("nosuchnet", num_classes=10, input_shape=(3, 32, 32))
