"""Which swept key goes where in a grid's figures (pure choices, no drawing)."""

import pytest

from scalegrid.analysis.figure_layout import choose_layout
from scalegrid.analysis.grid_table import sort_key
from scalegrid.errors import ScalegridError


def test_the_data_size_goes_on_a_log_x_axis_with_a_line_per_model_and_a_panel_per_init():
    layout = choose_layout(
        {"model": ["resnet18", "resnet50"], "data.fraction": ["0.0625", "0.5", "1.0"], "init": ["scratch", "source"]}
    )
    assert (layout.x, layout.lines, layout.panels) == ("data.fraction", "model", "init")
    assert layout.numeric_x and layout.log_x


def test_a_numeric_key_that_is_not_a_size_gets_a_linear_axis_unless_it_spans_a_factor_of_eight():
    narrow = choose_layout({"model.head.dropout": ["0.1", "0.2", "0.3", "0.4"], "model": ["a", "b"]})
    assert narrow.x == "model.head.dropout" and narrow.numeric_x and not narrow.log_x and narrow.lines == "model"
    wide = choose_layout({"optim.lr": ["0.001", "0.01", "0.1"]})
    assert wide.log_x and wide.lines is None and wide.panels is None


def test_a_categorical_grid_is_drawn_as_grouped_bars():
    layout = choose_layout({"arm": ["scratch", "freeze5"], "model.activation": ["relu", "sigmoid"]})
    assert not layout.numeric_x and layout.x == "arm" and layout.lines == "model.activation"


def test_an_experiment_or_the_command_line_names_the_layout():
    values = {"model": ["a", "b"], "data.fraction": ["0.5", "1.0"], "seed_group": ["x", "y"]}
    layout = choose_layout(values, {"x": "model", "lines": "data.fraction", "panels": None})
    assert (layout.x, layout.lines) == ("model", "data.fraction") and not layout.numeric_x
    with pytest.raises(ScalegridError, match="report figure: x=optim.lr is not a swept key of this grid"):
        choose_layout(values, {"x": "optim.lr"})


def test_numbers_sort_as_numbers():
    assert sorted(["10", "5", "0.5", "abc", "1e-3"], key=sort_key) == ["1e-3", "0.5", "5", "10", "abc"]


def test_bars_name_an_arm_without_the_study_every_arm_shares():
    from scalegrid.analysis.plots import _shared_prefix

    assert _shared_prefix(["mnist_basics/fc2", "mnist_basics/fc2_bn", "mnist_basics/mnist_net"]) == "mnist_basics/"
    assert _shared_prefix(["resnet18", "resnet50"]) == ""  # a shared start that is not a folder stays
    assert _shared_prefix(["finetune_depth/scratch"]) == ""  # one bar keeps its whole name
    assert _shared_prefix(["a/x", "b/x"]) == ""
