"""Training images per second: a plain PyTorch loop vs scalegrid's step in the Lightning Trainer vs a full scalegrid epoch.

(a) a plain loop written here: in-memory float batches, forward, cross-entropy, backward, optimiser step (SGD or
    Adam with the settings of conf/optim/), cosine schedule;
(b) scalegrid's ImageClassifier through a Lightning Trainer with scalegrid's progress bar and loggers, same model,
    batches, optimiser and threads (data already in memory, normalised);
(c) a full scalegrid run (`src/train.py`) on CIFAR-10: its data path, batched augmentation, step, logging; the
    training part of the second epoch (the first warms up), validation and checkpointing excluded.

Each figure is the median of --repeats; (a) and (b) time the steps after --warmup.

    python bench/throughput.py                       # resnet18, batch 128, 32x32
    python bench/throughput.py --model mnist_net --batch-size 64
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import data_location
import pytorch_lightning as pl
import torch
from configured import optimiser_settings
from torch import nn

from scalegrid import PROJECT_ROOT
from scalegrid.models import create_model
from scalegrid.run.classifier import ImageClassifier
from scalegrid.run.optim import build_optimizer
from scalegrid.run.performance import available_cores

COSINE = {"name": "cosine", "final_lr_ratio": 0.0}
SHAPES = {"mnist_net": (1, 28, 28), "simple_cnn": (3, 32, 32)}


def fake_batches(
    steps: int, batch_size: int, shape: tuple[int, ...], seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn((batch_size, *shape), generator=generator),
            torch.randint(0, 10, (batch_size,), generator=generator),
        )
        for _ in range(steps)
    ]


def images_per_second(stamps: list[float], warmup: int, batch_size: int) -> float:
    """Steady-state rate from the times at which each step ended."""
    timed = stamps[warmup - 1 :]
    return (len(timed) - 1) * batch_size / (timed[-1] - timed[0])


def plain_loop(model: str, batches, warmup: int, optim: dict) -> float:
    """(a): the reference, a loop anyone would write."""
    torch.manual_seed(0)
    network = create_model(model, num_classes=10, input_shape=batches[0][0].shape[1:])
    optimizer = build_optimizer(network.parameters(), optim)  # plain torch.optim, with conf/optim's settings
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(batches))
    criterion = nn.CrossEntropyLoss()
    network.train()
    stamps = []
    for images, labels in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(network(images), labels)
        loss.backward()
        optimizer.step()
        scheduler.step()
        stamps.append(time.perf_counter())
    return images_per_second(stamps, warmup, len(batches[0][1]))


class InMemoryBatches:
    """The prepared batches as one iterable (a plain list would read as a list of dataloaders to Lightning)."""

    def __init__(self, batches) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


class StepClock(pl.Callback):
    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.stamps.append(time.perf_counter())


def lightning_step(model: str, batches, warmup: int, log_dir: Path, optim: dict) -> float:
    """(b): the same work as scalegrid's module inside the Trainer, with scalegrid's default bar and loggers."""
    from pytorch_lightning.callbacks import TQDMProgressBar
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    from scalegrid.run.throughput import TrainThroughput

    torch.manual_seed(0)
    network = create_model(model, num_classes=10, input_shape=batches[0][0].shape[1:])
    module = ImageClassifier(network, num_classes=10, optim=optim, sched=COSINE)
    clock = StepClock()
    trainer = pl.Trainer(
        max_steps=len(batches),
        accelerator="cpu",
        devices=1,
        logger=[TensorBoardLogger(log_dir, name="tb"), CSVLogger(log_dir, name="csv")],
        callbacks=[TQDMProgressBar(refresh_rate=10), TrainThroughput(), clock],
        enable_checkpointing=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    with contextlib.redirect_stdout(sys.stderr):  # the bar draws on stdout; keep it apart from the figures
        trainer.fit(module, train_dataloaders=InMemoryBatches(batches))
    return images_per_second(clock.stamps, warmup, len(batches[0][1]))


def full_epoch(
    model: str, batch_size: int, steps: int, threads: int, data_dir: Path, run_dir: Path, optim: str
) -> float:
    """(c): scalegrid end to end; the training part of epoch 2 from results.json."""
    data = ["data=mnist"] if model == "mnist_net" else []
    command = [
        sys.executable,
        str(PROJECT_ROOT / "src" / "train.py"),
        *data,
        f"model={model}",
        f"optim={optim}",
        f"data.batch_size={batch_size}",
        "trainer.max_epochs=2",
        f"trainer.limit_train_batches={steps}",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "sched.name=cosine",
        f"runtime.threads={threads}",
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    subprocess.run(command, check=True, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = json.loads((run_dir / "results.json").read_text())
    return steps * batch_size / results["train_epoch_seconds"][-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per repeat, after the warmup")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=available_cores())
    parser.add_argument("--optim", default="sgd", help="an optimiser config of conf/optim/ (sgd, adam)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    shape = SHAPES.get(args.model, (3, 32, 32))
    batches = fake_batches(args.warmup + args.steps, args.batch_size, shape)
    with tempfile.TemporaryDirectory(prefix="scalegrid-bench-") as scratch:
        scratch = Path(scratch)
        data_dir = data_location.data_dir("MNIST" if args.model == "mnist_net" else "cifar-10-batches-py")
        plain, step, epoch = [], [], []
        for repeat in range(args.repeats):  # interleaved, so a slow spell of the machine hits all three alike
            optim = optimiser_settings(args.optim)
            plain.append(plain_loop(args.model, batches, args.warmup, optim))
            step.append(lightning_step(args.model, batches, args.warmup, scratch / f"logs{repeat}", optim))
            run_dir = scratch / f"run{repeat}"
            epoch.append(
                full_epoch(args.model, args.batch_size, args.steps, args.threads, data_dir, run_dir, args.optim)
            )
    a, b, c = (statistics.median(values) for values in (plain, step, epoch))
    rounded = {name: [round(v, 1) for v in values] for name, values in (("a", plain), ("b", step), ("c", epoch))}
    print(
        f"{args.model}, {args.optim}, batch {args.batch_size}, input {'x'.join(map(str, shape))}, {args.threads} threads, "
        f"median of {args.repeats} repeats {rounded}"
    )
    # Each repeat runs a, b and c back to back: the median of the per-repeat ratios cancels slow spells of the machine.
    paired_b = statistics.median(x / y for x, y in zip(step, plain, strict=True))
    paired_c = statistics.median(x / y for x, y in zip(epoch, plain, strict=True))
    print(f"(a) plain PyTorch loop, in-memory tensors      {a:9.1f} images/s")
    print(
        f"(b) scalegrid step in the Lightning Trainer    {b:9.1f} images/s   b/a = {b / a:.3f}  (paired {paired_b:.3f})"
    )
    print(
        f"(c) full scalegrid epoch (data, augmentation)  {c:9.1f} images/s   c/a = {c / a:.3f}  (paired {paired_c:.3f})"
    )


if __name__ == "__main__":
    main()
