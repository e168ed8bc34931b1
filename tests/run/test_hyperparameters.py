"""TensorBoard's HPARAMS tab shows the settings that define a cell, swept keys first, not the plumbing."""

from conftest import FAST_TRAINER, TINY_DATA, compose_config
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import plugin_data_pb2

from scalegrid.run.hyperparameters import cell_hyperparameters
from scalegrid.run.training import train


def test_swept_keys_come_first_then_the_defining_settings_and_nothing_of_runtime():
    config = {
        "model": {"name": "resnet18", "weights": None, "head": {"kind": "linear"}},
        "data": {"name": "cifar10", "fraction": 0.5},
        "optim": {"name": "sgd", "lr": 0.05},
        "finetune": {"policy": "full"},
        "trainer": {"max_epochs": 3},
        "seed": 1,
        "arm": None,
        "runtime": {"paths": {"output_dir": "/run"}, "callbacks": {"x": {"_target_": "ModelCheckpoint"}}},
    }
    overrides = ["hydra=grid", "model=resnet18", "data.fraction=0.5", "runtime.threads=1", "seed=1"]
    shown = cell_hyperparameters(config, overrides, train_size=2250)
    assert list(shown)[:3] == ["model", "data.fraction", "seed"]
    assert shown["model"] == "resnet18" and shown["model.weights"] == "null" and shown["train_size"] == 2250
    assert "arm" not in shown and not any(key.startswith(("runtime", "hydra")) for key in shown)
    in_a_grid = cell_hyperparameters(config, [*overrides, "trainer.max_epochs=3"], 2250, swept=["data.fraction"])
    assert list(in_a_grid)[0] == "data.fraction" and list(in_a_grid)[1] == "model.name"  # only swept keys lead
    assert set(shown) == {"model", "data.fraction", "seed", "model.name", "model.weights", "finetune.policy"} | {
        "data.name",
        "train_size",
        "optim.name",
        "optim.lr",
        "trainer.max_epochs",
    }


def test_a_run_logs_those_settings_to_tensorboards_hparams_tab(cifar_root, tmp_path):
    run_dir = tmp_path / "run"
    overrides = ["model=simple_cnn", f"runtime.data.root={cifar_root}", *TINY_DATA, *FAST_TRAINER, "optim.lr=0.01"]
    train(compose_config(overrides, output_dir=run_dir))
    keys = []
    for path in run_dir.glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == "_hparams_/session_start_info":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    keys = list(data.session_start_info.hparams)
    assert keys and "optim.lr" in keys and "model.name" in keys and "seed" in keys
    assert not any("callbacks" in key or "_target_" in key or "dirpath" in key or "runtime" in key for key in keys)
    assert len(keys) < 25
