"""src/visualize.py on a finished tiny run: feature maps, filters and Grad-CAM, and one line for a wrong layer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import pytest
import torch
from conftest import run_script

from scalegrid.analysis.visualization import activation_of, feature_map_figure, find_layer, grad_cam, layer_name
from scalegrid.errors import ScalegridError
from scalegrid.models import create_model


def _visualize(*args: str) -> subprocess.CompletedProcess:
    return run_script("visualize.py", list(args))


def test_feature_maps_filters_and_grad_cam_of_a_run(finished_run: Path, tmp_path: Path) -> None:
    from PIL import Image

    picture = tmp_path / "mine.png"
    Image.new("RGB", (40, 30), (200, 40, 40)).save(picture)
    layers = "layers=['0',2]"  # by name, and the 2nd convolution (named "3")
    completed = _visualize(f"run={finished_run}", f"images=[0,{picture}]", layers)
    assert completed.returncode == 0, completed.stderr[-2000:]
    out = finished_run / "visualize"
    for name in ("filters", "gradcam_test0", "gradcam_mine", "features_test0_0", "features_mine_3"):
        pixels = mpimg.imread(out / f"{name}.png")
        assert pixels.shape[0] > 100 and pixels.std() > 0.01, name


def test_feature_map_figures_have_a_panel_per_channel() -> None:
    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32)).eval()
    activation = activation_of(network, find_layer(network, "layer1"), torch.randn(1, 3, 32, 32))
    assert activation.shape == (1, 64, 8, 8)
    figure = feature_map_figure(activation, channels=16, title="layer1")
    assert sum(1 for axis in figure.axes if axis.images) == 16
    figure = feature_map_figure(activation[:, :5], channels=16, title="five")
    assert sum(1 for axis in figure.axes if axis.images) == 5
    with pytest.raises(ScalegridError, match="not a feature map"):
        feature_map_figure(torch.randn(1, 10), channels=16, title="head")


def test_grad_cam_is_a_map_of_the_input_size() -> None:
    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32)).eval()
    cam, predicted = grad_cam(network, find_layer(network, "layer4.1.conv2"), torch.randn(1, 3, 32, 32))
    assert cam.shape == (32, 32) and 0 <= cam.min() and cam.max() <= 1 and 0 <= predicted < 10


def test_a_wrong_layer_name_lists_the_valid_ones(finished_run: Path) -> None:
    completed = _visualize(f"run={finished_run}", "layers=[layer9]")
    assert completed.returncode == 2
    (line,) = completed.stderr.strip().splitlines()
    assert line.startswith("scalegrid: error: layers: no layer 'layer9' in this network; valid names:")
    assert "valid names: backbone, 0, 1, 2," in line


def test_grad_cam_defaults_to_the_last_block_with_a_real_map() -> None:
    from scalegrid.analysis.visualization import grad_cam_layer

    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32)).eval()
    assert grad_cam_layer(network, torch.randn(1, 3, 32, 32)) == "layer2"  # 4x4; layer3 is 2x2, layer4 1x1
    assert grad_cam_layer(network, torch.randn(1, 3, 128, 128)) == "layer4"


def test_an_integer_layer_is_the_kth_convolution_counted_from_one() -> None:
    network = create_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
    assert [layer_name(network, k) for k in (1, 2, 20)] == ["conv1", "layer1.0.conv1", "layer4.1.conv2"]
    assert layer_name(network, "layer2") == "layer2"  # names pass through
    vgg = create_model("vgg19_bn_cifar", num_classes=10, input_shape=(3, 32, 32))
    assert layer_name(vgg, 16) == "features.49"  # VGG-19's last of 16 convolutions
    with pytest.raises(ScalegridError, match=r"layers: 25 asks for convolution number 25, but this network has 20"):
        layer_name(network, 25)  # study B5's "25th layer" does not exist in a ResNet-18
    with pytest.raises(ScalegridError, match="has 20"):
        layer_name(network, 0)


def test_a_pasted_cell_folder_with_an_equals_sign_is_quoted_for_hydra() -> None:
    from scalegrid.cli import quote_path_values

    argv = ["run=outputs/grids/g/seed0/arm=freeze5", "images=[0,1]", "run='a=b'", "data_root=/data/x", "layers=[1,2]"]
    assert quote_path_values(argv) == [
        "run='outputs/grids/g/seed0/arm=freeze5'",
        "images=[0,1]",  # lists stay lists
        "run='a=b'",  # already quoted
        "data_root=/data/x",  # nothing to quote
        "layers=[1,2]",
    ]


@pytest.mark.slow
def test_visualize_reads_an_arm_cell_folder_pasted_as_printed(finished_run: Path, tmp_path: Path) -> None:
    import shutil

    cell = tmp_path / "seed0" / "arm=freeze5"
    shutil.copytree(finished_run, cell)
    completed = _visualize(f"run={cell}", "images=[0]", "layers=[1]")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert (cell / "visualize" / "features_test0_0.png").is_file()  # the 1st convolution of simple_cnn is "0"


def test_bad_visualize_inputs_are_one_line_each_and_write_nothing(finished_run: Path, tmp_path: Path) -> None:
    from scalegrid.analysis.visualization import visualize

    text = tmp_path / "notes.png"
    text.write_text("not an image")
    cases = [
        ({"images": [str(text)]}, rf"images: {text} cannot be decoded \(not an image PIL can read\); give a PNG"),
        ({"images": [0], "channels": 0}, r"channels=0 must be a whole number of at least 1"),
        ({"images": [0], "channels": "many"}, r"channels='many' must be a whole number"),
        ({"images": [0], "gradcam_layer": "bogus"}, r"^gradcam_layer: no layer 'bogus' in this network; valid names"),
    ]
    out = finished_run / "visualize"
    before = sorted(out.glob("*.png")) if out.exists() else []
    for options, message in cases:
        with pytest.raises(ScalegridError, match=message):
            visualize(finished_run, **options)
        assert (sorted(out.glob("*.png")) if out.exists() else []) == before  # refused before anything is written


def test_a_second_call_leaves_only_its_own_figures(finished_run: Path) -> None:
    from scalegrid.analysis.visualization import visualize

    out = visualize(finished_run, [0, 1])
    assert {path.name for path in out.glob("gradcam_*.png")} == {"gradcam_test0.png", "gradcam_test1.png"}
    out = visualize(finished_run, [2])
    assert {path.name for path in out.glob("gradcam_*.png")} == {"gradcam_test2.png"}  # no stale test0, test1
    assert len(list(out.glob("*.png"))) == 1 + 1 + 2  # filters, one Grad-CAM, feature maps of two layers
