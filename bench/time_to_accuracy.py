"""Wall seconds to a test accuracy: scalegrid (`src/train.py`) vs plain PyTorch loops with the same recipe.

Recipes (scalegrid's defaults, read from conf/ so both sides use the same numbers):
  mnist: mnist_net, Adam (conf/optim/adam.yaml) with per-step cosine decay, batch 64, 4 epochs, no augmentation;
         target 98.8 % test accuracy.
  cifar: resnet18 on 1/16 of CIFAR-10 (2,810 images), SGD (conf/optim/sgd.yaml) with per-step cosine decay,
         batch 128, 10 epochs, reflect-padded random crop + flip; target 40 % test accuracy.
Both sides train on the same images (scalegrid's seeded split and fraction) and start from the same seeded init.
The plain loops come in two kinds: "tutorial" (a Dataset that turns each image into a tensor through torchvision
transforms, and a DataLoader with 2 workers, as the PyTorch tutorials write it) and, for MNIST, "in-memory" (the
whole split as one normalised float tensor, batches indexed out of it). scalegrid validates on 5,000 images after
every epoch and writes checkpoints and logs; the plain loops do none of that. Every run is a fresh process, timed
from its start to its test accuracy, so imports and data loading count for all. Needs DATA_DIR (or ../shared/data).

    python bench/time_to_accuracy.py                 # both recipes (about 15 minutes on 2 CPU cores)
    python bench/time_to_accuracy.py --only mnist
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from configured import optimiser_settings
from data_location import data_dir

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    "mnist": {
        "data": "mnist",
        "model": "mnist_net",
        "optim": "adam",
        "batch_size": 64,
        "epochs": 4,
        "fraction": 1.0,
        "augment": False,
        "target": 0.988,
    },
    "cifar": {
        "data": "cifar10",
        "model": "resnet18",
        "optim": "sgd",
        "batch_size": 128,
        "epochs": 10,
        "fraction": 0.0625,
        "augment": True,
        "target": 0.40,
    },
}


def plain_run(name: str, kind: str, out: Path) -> None:
    """One plain-loop training run (in this fresh process); writes {test_acc} to ``out``."""
    import torch
    from PIL import Image
    from torch import nn
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from scalegrid.data import cifar, mnist
    from scalegrid.data.subsets import nested_fraction, split_train_val
    from scalegrid.models import create_model
    from scalegrid.run.optim import build_optimizer

    recipe = RECIPES[name]
    root = data_dir("MNIST" if name == "mnist" else "cifar-10-batches-py")
    loader = mnist.load_mnist if name == "mnist" else cifar.load_cifar10
    mean, std = (mnist.MEAN, mnist.STD) if name == "mnist" else (cifar.MEAN, cifar.STD)
    train_arrays = loader(root, True, False, True)
    test_arrays = loader(root, False, False, True)
    labels = train_arrays.labels.numpy()
    pool, _ = split_train_val(labels, 5000, 0)  # scalegrid's default val_size and split_seed
    chosen = torch.as_tensor(nested_fraction(labels, pool, recipe["fraction"], 0))
    train_images, train_labels = train_arrays.images[chosen], train_arrays.labels[chosen]

    torch.manual_seed(0)
    network = create_model(recipe["model"], num_classes=10, input_shape=tuple(train_images.shape[1:]))
    optimizer = build_optimizer(network.parameters(), optimiser_settings(recipe["optim"]))  # plain torch.optim
    steps_per_epoch = -(-len(train_labels) // recipe["batch_size"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps_per_epoch * recipe["epochs"])
    criterion = nn.CrossEntropyLoss()

    if kind == "tutorial":
        steps = [transforms.RandomCrop(32, padding=4, padding_mode="reflect"), transforms.RandomHorizontalFlip()]
        train_transform = transforms.Compose(
            [*(steps if recipe["augment"] else []), transforms.ToTensor(), transforms.Normalize(mean, std)]
        )

        class Images(Dataset):  # what torchvision's MNIST and CIFAR10 do per item: array -> PIL -> transform
            def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
                self.images, self.labels = images.permute(0, 2, 3, 1).numpy(), labels.tolist()

            def __len__(self) -> int:
                return len(self.labels)

            def __getitem__(self, i: int):
                image = self.images[i]
                pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
                return train_transform(pil), self.labels[i]

        batches = DataLoader(
            Images(train_images, train_labels), batch_size=recipe["batch_size"], shuffle=True, num_workers=2
        )
    else:
        mean_t = torch.tensor(mean)[None, :, None, None]
        std_t = torch.tensor(std)[None, :, None, None]
        floats = (train_images.float() / 255 - mean_t) / std_t

        class InMemory:
            def __iter__(self):
                order = torch.randperm(len(train_labels))
                for start in range(0, len(order), recipe["batch_size"]):
                    index = order[start : start + recipe["batch_size"]]
                    yield floats[index], train_labels[index]

        batches = InMemory()

    epoch_seconds = []
    for _ in range(recipe["epochs"]):
        started = time.perf_counter()
        network.train()
        for images, targets in batches:
            optimizer.zero_grad(set_to_none=True)
            criterion(network(images), targets).backward()
            optimizer.step()
            scheduler.step()
        epoch_seconds.append(time.perf_counter() - started)

    network.eval()
    test = (test_arrays.images.float() / 255 - torch.tensor(mean)[None, :, None, None]) / torch.tensor(std)[
        None, :, None, None
    ]
    correct = 0
    with torch.no_grad():
        for start in range(0, len(test), 512):
            correct += (
                (network(test[start : start + 512]).argmax(1) == test_arrays.labels[start : start + 512]).sum().item()
            )
    out.write_text(
        json.dumps({"test_acc": correct / len(test), "train_size": len(train_labels), "epoch_seconds": epoch_seconds})
    )


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def compare(name: str, scratch: Path, variants: list[str]) -> list[tuple[str, float, float]]:
    recipe = RECIPES[name]
    env = {**os.environ, "DATA_DIR": str(data_dir("MNIST" if name == "mnist" else "cifar-10-batches-py"))}
    rows = []
    for number, variant in enumerate(["", *variants]):
        run_dir = scratch / f"{name}-scalegrid-{number}"
        seconds = timed([*scalegrid_command(recipe, run_dir), *variant.split()], env)
        label = "scalegrid (src/train.py)" + (f" {variant}" if variant else "")
        rows.append((label, seconds, json.loads((run_dir / "results.json").read_text())["test_acc"]))
    for kind in ("tutorial", "in-memory") if name == "mnist" else ("tutorial",):
        out = scratch / f"{name}-{kind}.json"
        seconds = timed([sys.executable, __file__, "--plain", name, kind, str(out)], env)
        rows.append((f"plain loop, {kind} data", seconds, json.loads(out.read_text())["test_acc"]))
    return rows


def scalegrid_command(recipe: dict, run_dir: Path) -> list[str]:
    return [
        sys.executable,
        "src/train.py",
        f"data={recipe['data']}",
        f"model={recipe['model']}",
        f"optim={recipe['optim']}",
        f"data.batch_size={recipe['batch_size']}",
        f"data.fraction={recipe['fraction']}",
        f"trainer.max_epochs={recipe['epochs']}",
        "runtime.callbacks.progress_bar.refresh_rate=0",
        f"hydra.run.dir={run_dir}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(RECIPES), help="one recipe (default: both)")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="OVERRIDES",
        help="a further scalegrid row with these overrides, e.g. --also 'data.val_eval_size=1000' (repeatable)",
    )
    parser.add_argument("--plain", nargs=3, metavar=("RECIPE", "KIND", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain_run(*args.plain[:2], Path(args.plain[2]))
        return
    with tempfile.TemporaryDirectory(prefix="scalegrid-bench-") as scratch:
        for name in [args.only] if args.only else list(RECIPES):
            recipe = RECIPES[name]
            rows = compare(name, Path(scratch), args.also)
            print(
                f"{name}: {recipe['model']}, {recipe['epochs']} epochs, batch {recipe['batch_size']}, "
                f"fraction {recipe['fraction']:g}; target {100 * recipe['target']:.1f} % test accuracy"
            )
            reference = rows[0][1]
            for label, seconds, accuracy in rows:
                reached = "reached" if accuracy >= recipe["target"] else "NOT reached"
                print(
                    f"  {label:32s} {seconds:7.1f} s  test acc {100 * accuracy:6.2f} %  ({reached}; "
                    f"scalegrid time / this = {reference / seconds:.2f})"
                )


if __name__ == "__main__":
    main()
