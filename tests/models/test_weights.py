"""Initial weights: ImageNet files from a local torch.hub cache, and checkpoints of earlier runs."""

import os
from pathlib import Path

import pytest
import torch
import torchvision

from scalegrid.errors import ScalegridError
from scalegrid.models import create_model
from scalegrid.models.weights import initialise, load_into, read_checkpoint

RESNET18_FILE = Path(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url).name  # resnet18-f37072fd.pth


@pytest.fixture
def imagenet_cache(tmp_path, monkeypatch):
    """A TORCH_HOME whose hub cache holds a ResNet-18 state dict under torchvision's file name."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, cache / RESNET18_FILE)
    return state


def test_imagenet_weights_load_from_the_cache_offline(imagenet_cache):
    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    report = initialise(network, "resnet18", "imagenet", download=False)
    assert torch.equal(network.backbone.layer4[1].conv2.weight, imagenet_cache["layer4.1.conv2.weight"])
    assert torch.equal(network.backbone.bn1.running_mean, imagenet_cache["bn1.running_mean"])
    assert set(report.unexpected) == {"backbone.fc.weight", "backbone.fc.bias"}  # ImageNet's 1000-class head
    assert set(report.missing) == {"head.weight", "head.bias"}


def test_imagenet_weights_load_into_the_cifar_stem_variant_except_the_stem(imagenet_cache):
    network = create_model("resnet18_cifar", num_classes=10, input_shape=(3, 32, 32))
    report = initialise(network, "resnet18_cifar", "imagenet", download=False)
    assert report.shape_mismatch == ["backbone.conv1.weight"]
    assert torch.equal(network.backbone.layer1[0].conv1.weight, imagenet_cache["layer1.0.conv1.weight"])


def test_imagenet_stem_is_summed_for_one_channel_input(imagenet_cache):
    network = create_model("resnet18", num_classes=10, input_shape=(1, 28, 28))
    initialise(network, "resnet18", "imagenet", download=False)
    assert torch.allclose(network.backbone.conv1.weight, imagenet_cache["conv1.weight"].sum(1, keepdim=True))


def test_missing_imagenet_file_names_the_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    with pytest.raises(ScalegridError, match=rf"{RESNET18_FILE} are not in {tmp_path}/hub/checkpoints"):
        initialise(network, "resnet18", "imagenet", download=False)


def test_imagenet_for_a_model_without_imagenet_weights_is_refused():
    network = create_model("mnist_net", num_classes=10, input_shape=(1, 28, 28))
    with pytest.raises(ScalegridError, match="mnist_net has no ImageNet weights"):
        initialise(network, "mnist_net", "imagenet", download=False)


def test_plain_state_dicts_load_whatever_their_key_layout(tmp_path):
    source = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    torch.save(source.state_dict(), tmp_path / "network.pt")
    torch.save(source.backbone.state_dict(), tmp_path / "backbone.pth")
    for name in ("network.pt", "backbone.pth"):
        target = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
        initialise(target, "resnet18", str(tmp_path / name))
        assert torch.equal(target.backbone.layer2[0].conv1.weight, source.backbone.layer2[0].conv1.weight)


def test_head_is_skipped_when_the_class_count_differs(tmp_path):
    source = create_model("resnet18", num_classes=5, input_shape=(3, 32, 32))
    torch.save(source.state_dict(), tmp_path / "five.pt")
    target = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    head_before = target.head.weight.clone()
    report = initialise(target, "resnet18", str(tmp_path / "five.pt"))
    assert set(report.shape_mismatch) == {"head.weight", "head.bias"}
    assert torch.equal(target.head.weight, head_before)


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("mnist_net", "resnet18", "0 of this model's 120 backbone tensors"),
        ("resnet34", "resnet18", "120 of its 216 fit"),  # a deeper net of the family shares the first blocks
        ("resnet50", "resnet18", "is [64, 64, 1, 1] there, [64, 64, 3, 3] here"),
        ("resnet18", "resnet34", "120 of this model's 216 backbone tensors"),
    ],
)
def test_weights_from_another_architecture_are_refused(source, target, expected, tmp_path):
    shape = (1, 28, 28) if source == "mnist_net" else (3, 32, 32)
    torch.save(create_model(source, 10, shape).state_dict(), tmp_path / f"{source}.pt")
    network = create_model(target, 10, (3, 32, 32))
    before = {key: value.clone() for key, value in network.state_dict().items()}
    with pytest.raises(ScalegridError, match="is for another architecture") as error:
        initialise(network, target, str(tmp_path / f"{source}.pt"))
    assert expected in str(error.value)
    assert all(torch.equal(before[key], value) for key, value in network.state_dict().items())  # nothing loaded


def test_a_stem_or_classifier_of_another_shape_is_not_another_architecture(tmp_path):
    """ImageNet-layout ResNet-18 into the CIFAR-stem ResNet-18: only the 7x7 stem and the 1000-class head differ."""
    import torchvision

    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "imagenet_layout.pth")
    report = initialise(
        create_model("resnet18_cifar", 10, (3, 32, 32)), "resnet18_cifar", str(tmp_path / "imagenet_layout.pth")
    )
    assert report.shape_mismatch == ["backbone.conv1.weight"] and len(report.loaded) == 119


class NotATensor:
    """Unpickling an arbitrary class could run code: weights_only loading must refuse it."""


def test_missing_and_non_checkpoint_files_are_refused(tmp_path):
    with pytest.raises(ScalegridError, match="no such file"):
        read_checkpoint(tmp_path / "absent.ckpt")
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    with pytest.raises(ScalegridError, match="is not a checkpoint"):
        read_checkpoint(tmp_path / "notes.ckpt")
    torch.save({"weight": torch.zeros(1), "extra": NotATensor()}, tmp_path / "objects.pt")
    with pytest.raises(ScalegridError, match="holds Python objects besides tensors"):  # never unpickled
        read_checkpoint(tmp_path / "objects.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ScalegridError, match="holds no state dict"):
        read_checkpoint(tmp_path / "list.pt")


class RunsCode:
    def __reduce__(self):  # unpickling this would run a command
        return (os.system, ("touch ran",))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"ab", "is not a checkpoint"),  # a few bytes: torch raised IndexError
        (b"epoch: 3\nlr: 0.1\n" * 20, "is not a checkpoint"),  # a text file: torch raised KeyError
        (b"", "is not a checkpoint"),
        ("folder", "is a folder: give a file in it"),
        ("code", "holds Python objects besides tensors"),  # torch 2.14 says 'unsupported GLOBAL'
    ],
    ids=["few bytes", "text", "empty", "folder", "code-running pickle"],
)
def test_a_file_that_is_no_checkpoint_is_one_line_naming_it(tmp_path, monkeypatch, content, expected):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "weights.ckpt"
    if content == "folder":
        path.mkdir()
    elif content == "code":
        torch.save({"weight": torch.zeros(1), "payload": RunsCode()}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(ScalegridError, match=expected) as refused:
        read_checkpoint(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "ran").exists()  # nothing was run


def test_a_state_dict_with_no_name_of_this_model_says_what_it_holds(tmp_path):
    network = create_model("simple_cnn", num_classes=10, input_shape=(3, 32, 32))
    with pytest.raises(ScalegridError, match=r"none of its 2 tensors has a name this model uses \(it has e\.g\. a, b"):
        load_into(network, {"a": torch.zeros(1), "b": torch.zeros(2)}, "w.pt")


def test_a_head_trained_on_other_classes_is_not_reused():
    source = create_model("resnet18", num_classes=2, input_shape=(3, 32, 32))
    target = create_model("resnet18", num_classes=2, input_shape=(3, 32, 32))
    head_before = target.head.weight.clone()
    report = load_into(target, source.state_dict(), "source", ["cat", "dog"], ["ship", "truck"])
    assert torch.equal(target.head.weight, head_before) and "other classes" in report.head_skipped
    assert torch.equal(target.backbone.conv1.weight, source.backbone.conv1.weight)
    load_into(target, source.state_dict(), "source", ["cat", "dog"], ["cat", "dog"])
    assert torch.equal(target.head.weight, source.head.weight)
