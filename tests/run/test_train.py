"""The whole pipeline: compose -> train -> test -> results.json, in process and through src/train.py."""

import csv
import json
import re
from pathlib import Path

import pytest
import torch
from conftest import FAST_TRAINER, TINY_DATA, compose_config, run_train, write_cifar10
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from scalegrid.contract.results import RESULTS_FILE
from scalegrid.run.training import train

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
        f"runtime.data.root={mnist_root}",
        *TINY_DATA,
        *FAST_TRAINER,
    ]
    results = train(compose_config(overrides, output_dir=run_dir))
    on_disk = json.loads((run_dir / RESULTS_FILE).read_text())
    assert on_disk["test_acc"] == pytest.approx(results.test_acc)
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
            f"runtime.data.root={cifar_root}",
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

    events = EventAccumulator(str(run_dir)).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc"} <= scalars
    assert len(events.Scalars("val/acc")) == 2
    # TensorBoard's pages sort charts by tag: the first is validation accuracy (the same values), never `epoch`
    assert "epoch" not in scalars and min(scalars) == "accuracy/validation"
    headline = [(point.step, point.value) for point in events.Scalars("accuracy/validation")]
    assert headline == [(point.step, point.value) for point in events.Scalars("val/acc")]
    assert any(tag.startswith("lr-") for tag in scalars)
    assert events.Scalars("hp/test_acc")[0].value == pytest.approx(results["test_acc"])  # HPARAMS tab metric
    assert "test/confusion_matrix" in events.Tags()["images"]
    hparams_tags = {
        value.tag
        for path in run_dir.glob("events.out.tfevents.*")
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
            f"runtime.data.root={mnist_root}",
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
    # one line per cell on the sweep's output, named by its swept value; each run's summary is in its own log
    assert re.search(r"^\[1/2\] #0 data.fraction=0.5: [\d.]+ % in \d+ s; 1 left, about \d+ s$", proc.stdout, re.M)
    assert re.search(r"^\[2/2\] #1 data.fraction=1.0: [\d.]+ % in \d+ s; none left$", proc.stdout, re.M)
    assert "test_loss=" not in proc.stdout and "Trainable params" not in proc.stdout
    assert all((path.parent / "train.log").read_text().count("test_loss=") == 1 for path in runs)
    assert "2 cells: 2 trained, 0 skipped" in proc.stdout


def _truncate_mnist_images(root: Path, _: Path) -> list[str]:
    """The tiny MNIST with its training images cut short, as an interrupted download leaves them."""
    images = root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:200])
    return []


def _corrupt_cifar_batch(_: Path, tmp_path: Path) -> list[str]:
    cifar = write_cifar10(tmp_path / "cifar")
    batch = cifar / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:-10] + bytes(10))
    return ["data=cifar10", "model=simple_cnn", f"runtime.data.root={cifar}", "data.verify_checksums=true"]


def _weights_of(model: str, shape: tuple[int, ...]):
    def save(_: Path, tmp_path: Path) -> list[str]:
        from scalegrid.models import create_model

        torch.save(create_model(model, 10, shape).state_dict(), tmp_path / f"{model}.pt")
        return [f"model.weights={tmp_path / f'{model}.pt'}"]

    return save


def _text_as_weights(_: Path, tmp_path: Path) -> list[str]:
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    return [f"model.weights={tmp_path / 'notes.ckpt'}"]


def _output_under_a_file(_: Path, tmp_path: Path) -> list[str]:
    (tmp_path / "a_file").write_text("")
    return [f"hydra.run.dir={tmp_path / 'a_file' / 'run'}"]


# Bad input through src/train.py: (overrides, environment, what to set up, what the one line must say).
BAD_INPUT = {
    "unknown group option": (
        ["model=nosuchnet"],
        {},
        None,
        "available options: convnet, convnet_narrow, convnet_wide, mlp, mnist_conv_12k",
    ),
    "unknown data option": (["data=nosuchdata"], {}, None, "available options: cifar10, image_csv, image_folder"),
    "unknown key": (["data.nosuchkey=1"], {}, None, "data.nosuchkey"),
    "fraction 0": (["data.fraction=0"], {}, None, "data.fraction=0 is outside (0, 1]"),
    "fraction above 1": (["data.fraction=1.5"], {}, None, "data.fraction=1.5 is outside (0, 1]"),
    "fraction leaving a class empty": (["data.fraction=0.01"], {}, None, "no training example"),
    "val_size beyond the pool": (["data.val_size=500"], {}, None, "data.val_size=500 must be at least 1 and smaller"),
    "unknown class id": (["data.classes=[0,42]"], {}, None, "data.classes: unknown class 42"),
    "batch_size 0": (["data.batch_size=0"], {}, None, "data.batch_size=0"),
    "missing data.root (its old name)": (
        ["data.root=/nonexistent"],
        {},
        None,
        "runtime.data.root=/nonexistent is not a directory",
    ),
    "missing DATA_DIR": ([], {"DATA_DIR": "/nonexistent"}, None, "runtime.data.root=/nonexistent is not a directory"),
    "truncated MNIST": ([], {}, _truncate_mnist_images, "train-images-idx3-ubyte.gz"),
    "corrupted CIFAR-10 batch": (
        [],
        {},
        _corrupt_cifar_batch,
        "fails its md5 check (corrupt or not the official file)",
    ),
    "too many frozen stages": (
        ["model=resnet18", "finetune=freeze_stages", "finetune.freeze_stages=12"],
        {},
        None,
        "the maximum is 10",
    ),
    "missing weights file": (["model.weights=/nonexistent/run.ckpt"], {}, None, "no such file"),
    "weights of another architecture": ([], {}, _weights_of("simple_cnn", (1, 28, 28)), "is for another architecture"),
    "a file that is not a checkpoint": ([], {}, _text_as_weights, "is not a checkpoint or state dict"),
    "no ImageNet weights": (["model.weights=imagenet"], {}, None, "mnist_net has no ImageNet weights"),
    "unknown torchvision arch": (["model=torchvision", "model.arch=nosuchnet"], {}, None, "is not a torchvision"),
    "output folder not writable": ([], {}, _output_under_a_file, "choose a writable output folder"),
}


@pytest.mark.parametrize(("args", "env", "setup", "expected"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line_exit_code_2_and_nothing_written(args, env, setup, expected, mnist_root, tmp_path):
    run_dir = tmp_path / "run"
    base = ["data=mnist", "model=mnist_net", *TINY_DATA, *FAST_TRAINER, f"hydra.run.dir={run_dir}"]
    if "DATA_DIR" not in env:
        base.append(f"runtime.data.root={mnist_root}")
    extra = setup(mnist_root, tmp_path) if setup else []
    proc = run_train([*base, *extra, *args], env=env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert not run_dir.exists()  # not even an empty run folder


def test_transfer_from_a_checkpoint_of_an_earlier_run(cifar_root, tmp_path):
    """Run A trains on classes 0-4; run B starts from A's checkpoint on classes 5-9 with a linear probe."""
    common = [f"runtime.data.root={cifar_root}", *TINY_DATA, "data.val_size=10", *FAST_TRAINER, "trainer.max_epochs=1"]
    first = train(compose_config(["data.classes=[0,1,2,3,4]", *common], output_dir=tmp_path / "a"))
    checkpoint = tmp_path / "a" / first.best_checkpoint
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
    assert second.weights == str(checkpoint) and second.finetune == "linear_probe"
    assert second.params_trainable == 512 * 5 + 5
    assert second.class_names[0] == "dog"
    assert set(second.weights_loaded["missing"]) == {"head.weight", "head.bias"}  # A's head knows other classes
    assert "other classes" in second.weights_loaded["head_skipped"]
