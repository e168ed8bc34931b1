"""The model table carries the exact parameter counts and a cost for every model option."""

from __future__ import annotations

import subprocess
import sys

from scalegrid import PROJECT_ROOT
from scalegrid.models.table import describe_model, model_options, multiply_accumulates


def test_rows_carry_the_exact_counts() -> None:
    expected = {"mnist_net": 204_826, "resnet18": 11_181_642, "resnet50": 23_528_522, "vgg19_bn_cifar": 20_365_002}
    rows = {name: describe_model(name) for name in expected}
    for name, total in expected.items():
        assert rows[name].total == rows[name].trainable["full"] == total
    resnet18 = rows["resnet18"]
    assert resnet18.trainable["linear_probe"] == resnet18.trainable["gradual"] == 5_130
    assert 5_130 < resnet18.trainable["freeze_stages"] < resnet18.total


def test_multiply_accumulates_of_a_linear_layer_are_its_weights() -> None:
    import torch

    layer = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))
    assert multiply_accumulates(layer, (3, 2, 2)) == 12 * 5


def test_make_models_prints_a_row_per_model(tmp_path) -> None:
    output = tmp_path / "models.md"
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "src" / "model_table.py"), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    table = output.read_text()
    for option in model_options():  # a row per conf/model option, so every registered model has one
        assert f"| {option} |" in table or f"| {option} (" in table
    assert "| mnist_fc_24k (mlp) | 1x28x28 | 23,920 |" in table
    assert "| resnet18 | 3x32x32 | 11,181,642 | 11,181,642 | 5,130 |" in table
