"""The whole pipeline: compose -> train -> test -> results.json, in process and through src/train.py."""

import csv
import json
from pathlib import Path

import pytest
import torch
from conftest import FAST_TRAINER, TINY_DATA, compose_config, run_train
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from scalegrid.results import RESULTS_FILE
from scalegrid.training import train

REQUIRED_KEYS = {
    "status",
    "test_acc",
    "test_loss",
    "best_val_acc",
    "best_epoch",
    "per_class_acc",
    "confusion_matrix",
    "class_names",
    "params_total",
    "params_trainable",
    "fit_seconds",
    "test_seconds",
    "train_images_per_second",
    "overrides",
    "config",
    "versions",
}


def test_train_in_process_writes_consistent_results(mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    overrides = [
        "data=mnist",
        "model=mnist_net",
        "optim=adam",
        f"data.root={mnist_root}",
        *TINY_DATA,
        *FAST_TRAINER,
    ]
    results = train(compose_config(overrides, output_dir=run_dir))
    on_disk = json.loads((run_dir / RESULTS_FILE).read_text())
    assert on_disk["test_acc"] == pytest.approx(results["test_acc"])
    assert REQUIRED_KEYS <= set(on_disk)
    assert on_disk["status"] == "completed"
    assert on_disk["train_size"] == 180 and on_disk["test_size"] == 50
    matrix = on_disk["confusion_matrix"]
    assert len(matrix) == 10 and sum(map(sum, matrix)) == 50
    correct = sum(matrix[i][i] for i in range(10))
    assert on_disk["test_acc"] == pytest.approx(correct / 50)
    assert on_disk["params_total"] == 204_826 == on_disk["params_trainable"]
    assert on_disk["best_val_acc"] == max(on_disk["val_acc_history"]) and len(on_disk["val_acc_history"]) == 2
    assert on_disk["train_images_per_second"] > 0
    assert set(on_disk["versions"]) == {"python", "torch", "torchvision", "lightning", "hydra"}


def test_train_script_end_to_end_on_cifar10(cifar_root, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_train(
        [
            "model=resnet18",
            "data.fraction=0.5",
            f"data.root={cifar_root}",
            f"hydra.run.dir={run_dir}",
            *TINY_DATA,
            *FAST_TRAINER,
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((run_dir / RESULTS_FILE).read_text())
    assert REQUIRED_KEYS <= set(results) and results["status"] == "completed"
    assert results["train_size"] == 40 and results["class_names"][0] == "airplane"
    assert "data.fraction=0.5" in results["overrides"]
    assert f"test_acc={results['test_acc']:.4f}" in proc.stdout  # the one-line summary

    assert (run_dir / ".hydra" / "config.yaml").is_file()
    checkpoints = {path.name for path in (run_dir / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints and any(name.startswith("best-epoch") for name in checkpoints)
    assert Path(results["best_checkpoint"]).name in checkpoints

    events = EventAccumulator(str(run_dir / "tensorboard")).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc"} <= scalars
    assert len(events.Scalars("val/acc")) == 2
    assert any(tag.startswith("lr-") for tag in scalars)
    assert events.Scalars("hp/test_acc")[0].value == pytest.approx(results["test_acc"])  # HPARAMS tab metric
    assert "test/confusion_matrix" in events.Tags()["images"]
    hparams_tags = {
        value.tag
        for path in (run_dir / "tensorboard").glob("events.out.tfevents.*")
        for event in EventFileLoader(str(path)).Load()
        for value in event.summary.value
        if value.metadata.plugin_data.plugin_name == "hparams"
    }
    assert "_hparams_/session_start_info" in hparams_tags

    with open(run_dir / "csv" / "metrics.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert {"epoch", "val/acc", "train/loss"} <= set(rows[0])


def test_multirun_sweep_makes_one_run_per_value(mnist_root, tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = run_train(
        [
            "-m",
            "data=mnist",
            "model=mnist_net",
            "data.fraction=0.5,1.0",
            f"data.root={mnist_root}",
            f"hydra.sweep.dir={sweep_dir}",
            *TINY_DATA,
            *FAST_TRAINER,
            "trainer.max_epochs=1",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(sweep_dir.glob(f"*/{RESULTS_FILE}"))
    assert len(runs) == 2
    sizes = sorted(json.loads(path.read_text())["train_size"] for path in runs)
    assert sizes == [90, 180]
    assert proc.stdout.count("test_loss=") == 2  # one summary line per run
    assert "2 cells: 2 trained, 0 skipped" in proc.stdout


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["model=nosuchnet"], {}, "available options: mnist_net, resnet101, resnet18, resnet18_cifar, resnet34"),
        (["data=nosuchdata"], {}, "available options: cifar10, image_csv, image_folder, mnist"),
        (["data.fraction=0"], {}, "data.fraction=0"),
        (["data.fraction=1.5"], {}, "data.fraction=1.5"),
        (["data.fraction=0.01"], {}, "no training example"),
        (["data.nosuchkey=1"], {}, "data.nosuchkey"),
        (["data.batch_size=0"], {}, "data.batch_size=0"),
        (["data.root=/nonexistent"], {}, "data.root=/nonexistent is not a directory"),
        ([], {"DATA_DIR": "/nonexistent"}, "data.root=/nonexistent is not a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, env, expected, mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    base = ["data=mnist", "model=mnist_net", *TINY_DATA, *FAST_TRAINER, f"hydra.run.dir={run_dir}"]
    if "DATA_DIR" not in env and not any(arg.startswith("data.root") for arg in args):
        base.append(f"data.root={mnist_root}")
    proc = run_train([*base, *args], env=env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert not (run_dir / RESULTS_FILE).exists()


def test_transfer_from_a_checkpoint_of_an_earlier_run(cifar_root, tmp_path):
    """Run A trains on classes 0-4; run B starts from A's checkpoint on classes 5-9 with a linear probe."""
    common = [f"data.root={cifar_root}", *TINY_DATA, "data.val_size=10", *FAST_TRAINER, "trainer.max_epochs=1"]
    first = train(compose_config(["data.classes=[0,1,2,3,4]", *common], output_dir=tmp_path / "a"))
    checkpoint = first["best_checkpoint"]
    from scalegrid.models import create_model
    from scalegrid.models.weights import initialise, read_checkpoint

    saved, source_classes = read_checkpoint(checkpoint)
    assert source_classes == ["airplane", "automobile", "bird", "cat", "deer"]
    network = create_model("resnet18", num_classes=5, input_shape=(3, 32, 32))
    initialise(network, "resnet18", checkpoint)
    for key, value in network.backbone.state_dict().items():
        assert torch.equal(value, saved[f"network.backbone.{key}"]), key

    second = train(
        compose_config(
            ["data.classes=[5,6,7,8,9]", f"model.weights={checkpoint}", "finetune=linear_probe", *common],
            output_dir=tmp_path / "b",
        )
    )
    assert second["weights"] == checkpoint and second["finetune"] == "linear_probe"
    assert second["params_trainable"] == 512 * 5 + 5
    assert second["class_names"][0] == "dog"
    assert set(second["weights_loaded"]["missing"]) == {"head.weight", "head.bias"}  # A's head knows other classes
    assert "other classes" in second["weights_loaded"]["head_skipped"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["model=resnet18", "finetune=freeze_stages", "finetune.freeze_stages=12"], "the maximum is 10"),
        (["data.classes=[0,42]"], "data.classes: unknown class 42"),
        (["model.weights=/nonexistent/run.ckpt"], "model.weights=/nonexistent/run.ckpt: no such file"),
        (["model.weights=imagenet"], "mnist_net has no ImageNet weights"),
        (["model=torchvision", "model.arch=nosuchnet"], "model.arch='nosuchnet' is not a torchvision"),
    ],
)
def test_bad_model_input_is_one_line_and_exit_code_2(args, expected, mnist_root, tmp_path):
    base = ["data=mnist", "model=mnist_net", f"data.root={mnist_root}", *TINY_DATA, *FAST_TRAINER]
    proc = run_train([*base, f"hydra.run.dir={tmp_path / 'run'}", *args])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert expected in lines[0]


def test_an_unfinished_run_resumes_from_its_last_checkpoint(mnist_root, tmp_path):
    """A run stopped after its last checkpoint (no results.json yet) continues from it when started again."""
    run_dir = tmp_path / "run"
    overrides = ["data=mnist", "model=mnist_net", f"data.root={mnist_root}", *TINY_DATA, *FAST_TRAINER]
    train(compose_config([*overrides, "trainer.max_epochs=1"], output_dir=run_dir))
    (run_dir / RESULTS_FILE).unlink()  # as if the process died after saving last.ckpt
    first_epoch = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"]
    resumed = train(compose_config([*overrides, "trainer.max_epochs=2"], output_dir=run_dir))
    assert first_epoch == 0 and resumed["epochs"] == 2
    assert len(resumed["val_acc_history"]) == 2  # the first epoch's validation came back with the checkpoint
    assert resumed["train_images_per_second"] > 0
