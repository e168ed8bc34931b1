"""GPU parity: a strong plain PyTorch loop vs scalegrid, same model, batch, images and recipe, end to end.

(a) a plain loop written here, as one would write it for speed: the training images resident on the device as
    uint8, per-image random crop (4 px reflect padding) and flip on the device, normalisation, bf16 autocast (with
    --precision bf16-mixed), channels_last, SGD (conf/optim/sgd.yaml) with OneCycle stepped per batch, the test set
    at the end; no validation, no checkpoints, no logs;
(b) `src/train.py` with the same recipe: its data path, validation of data.val_eval_size images after every epoch,
    checkpoints, TensorBoard and CSV logs, the final test.
Both train on the same images (scalegrid's seeded split of the data given) from the same seeded initialisation. Each
side is a fresh process timed from its start to its test accuracy; the training epochs' images/s are the median over
the epochs after the first (which warms up). With --grid-cells N it also times an N-seed grid of (b) one cell after
another against N cells at once on one GPU (trainer=gpu_per_job runtime.jobs_per_gpu=N, joblib).

On a machine that cannot hold CIFAR-10, cut a subset first (37 MB, travels with the project):
    python bench/cifar_subset.py bench_data/cifar-small
    DATA_DIR=bench_data/cifar-small python bench/gpu_parity.py --grid-cells 4
On a CPU it runs too, at toy settings: python bench/gpu_parity.py --model simple_cnn --epochs 2 --batch-size 128
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from configured import optimiser_settings
from data_location import data_dir

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ONECYCLE = {"pct_start": 0.25, "div_factor": 25.0, "final_div_factor": 1.0e4}  # conf/sched/onecycle.yaml


def recipe_overrides(args: argparse.Namespace) -> list[str]:
    """The scalegrid side of the recipe; the plain loop reads the same values from ``args``."""
    return [
        "data=cifar10",
        f"model={args.model}",
        "optim=sgd",
        f"optim.lr={args.lr}",
        "sched=onecycle",
        f"data.batch_size={args.batch_size}",
        f"data.val_size={args.val_size}",
        "data.verify_checksums=false",
        "data.download=false",
        f"trainer.max_epochs={args.epochs}",
        f"trainer.precision={args.precision}",
        f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}",
        "trainer.devices=1",
        f"runtime.channels_last={str(args.device == 'cuda').lower()}",
        "runtime.callbacks.progress_bar.refresh_rate=0",
    ]


def plain_run(args: argparse.Namespace, out: Path) -> None:
    """(a), in this fresh process: writes {epoch_seconds, train_images, test_acc} to ``out``."""
    import torch
    from torch import nn

    from scalegrid.data.datamodule import BuiltinDataModule
    from scalegrid.models.registry import create_model

    torch.manual_seed(0)
    device = torch.device(args.device)
    data = BuiltinDataModule(
        "cifar10", str(args.data), val_size=args.val_size, download=False, verify_checksums=False, split_seed=0
    )
    data.setup("fit")
    train_images = data.train_set.images.to(device)
    train_labels = data.train_set.labels.to(device)
    test_images, test_labels = data.test_set.images.to(device), data.test_set.labels.to(device)
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1) * 255
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1) * 255
    network = create_model(args.model, num_classes=10, input_shape=(3, 32, 32)).to(device)
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    network = network.to(memory_format=memory_format)
    optim = optimiser_settings("sgd")
    optimizer = torch.optim.SGD(
        network.parameters(),
        lr=args.lr,
        momentum=optim["momentum"],
        nesterov=optim["nesterov"],
        weight_decay=optim["weight_decay"],
    )
    steps_per_epoch = len(train_labels) // args.batch_size + (len(train_labels) % args.batch_size > 1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, **ONECYCLE
    )
    criterion = nn.CrossEntropyLoss()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision.startswith("bf16"))
    rows = torch.arange(32, device=device)

    def augment(images: torch.Tensor) -> torch.Tensor:
        padded = nn.functional.pad(images.float(), (4, 4, 4, 4), mode="reflect")
        dy, dx = (torch.randint(0, 9, (len(images), 1), device=device) for _ in range(2))
        index_y, index_x = (dy + rows)[:, None, :, None], (dx + rows)[:, None, None, :]
        batch = torch.arange(len(images), device=device)[:, None, None, None]
        channel = torch.arange(images.shape[1], device=device)[None, :, None, None]
        cropped = padded[batch, channel, index_y, index_x]
        flip = torch.rand(len(images), device=device) < 0.5
        return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    epoch_seconds = []
    for _ in range(args.epochs):
        sync()
        started = time.perf_counter()
        network.train()
        order = torch.randperm(len(train_labels), device=device)
        for start in range(0, len(order), args.batch_size):
            index = order[start : start + args.batch_size]
            if len(index) < 2:
                continue
            images = ((augment(train_images[index]) - mean) / std).contiguous(memory_format=memory_format)
            with autocast:
                loss = criterion(network(images), train_labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        sync()
        epoch_seconds.append(time.perf_counter() - started)
    network.eval()
    correct = 0
    with torch.no_grad(), autocast:
        for start in range(0, len(test_labels), 1024):
            images = ((test_images[start : start + 1024].float() - mean) / std).contiguous(memory_format=memory_format)
            correct += int((network(images).argmax(1) == test_labels[start : start + 1024]).sum())
    result = {"epoch_seconds": epoch_seconds, "train_images": len(train_labels), "test_acc": correct / len(test_labels)}
    out.write_text(json.dumps(result))


def timed(command: list[str], env: dict[str, str], timeout: float | None = None) -> float:
    started = time.perf_counter()
    try:
        completed = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(command[:3])} ... ran past {timeout:.0f} s") from None
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} ... failed:\n{completed.stderr[-3000:]}")
    return time.perf_counter() - started


def steady_rate(images: int, epoch_seconds: list[float]) -> float:
    timed_epochs = epoch_seconds[1:] or epoch_seconds
    return images / statistics.median(timed_epochs)


def grid_wall(
    args: argparse.Namespace, scratch: Path, env: dict[str, str], at_once: int, timeout: float | None = None
) -> float:
    """An N-seed grid (``args.grid_cells``) of (b), ``at_once`` cells at a time: on a GPU ``at_once`` share it
    (trainer=gpu_per_job, runtime.jobs_per_gpu); on a CPU ``at_once`` processes of one thread each."""
    seeds = ",".join(str(seed) for seed in range(args.grid_cells))
    on_gpu = args.device == "cuda"
    placement = ["trainer=gpu_per_job", f"runtime.jobs_per_gpu={at_once}"] if on_gpu else ["runtime.threads=1"]
    command = [
        sys.executable,
        "src/train.py",
        "-m",
        "hydra=grid",
        f"experiment_name=parity_{at_once}",
        f"runtime.paths.log_dir={scratch / f'grid{at_once}'}",
        *recipe_overrides(args),
        f"seed={seeds}",
        "hydra/launcher=joblib",
        f"hydra.launcher.n_jobs={at_once}",
        *placement,
    ]
    return timed(command, env, timeout)


def measure(args: argparse.Namespace, scratch: Path, env: dict[str, str], timeout: float | None = None) -> dict:
    """(a) and (b) once each, fresh processes: images/s of the training epochs, wall times, accuracies, phases."""
    args.data = args.data or Path(env["DATA_DIR"])  # the plain loop reads the same files as src/train.py
    passed = [
        f"--{key.replace('_', '-')}={value}"
        for key, value in vars(args).items()
        if key not in ("plain", "grid_cells") and value is not None
    ]
    plain_seconds = timed([sys.executable, __file__, *passed, f"--plain={scratch / 'plain.json'}"], env, timeout)
    plain = json.loads((scratch / "plain.json").read_text())
    run_dir = scratch / "scalegrid"
    command = [sys.executable, "src/train.py", *recipe_overrides(args), f"hydra.run.dir={run_dir}"]
    scalegrid_seconds = timed(command, env, timeout)
    result = json.loads((run_dir / "results.json").read_text())
    plain_rate = steady_rate(plain["train_images"], plain["epoch_seconds"])
    scalegrid_rate = steady_rate(result["train_size"], result["train_epoch_seconds"])
    return {
        "train_images": plain["train_images"],
        "plain_images_per_s": plain_rate,
        "scalegrid_images_per_s": scalegrid_rate,
        "epoch_ratio": scalegrid_rate / plain_rate,
        "plain_run_s": plain_seconds,
        "scalegrid_run_s": scalegrid_seconds,
        "run_ratio": scalegrid_seconds / plain_seconds,
        "plain_test_acc": plain["test_acc"],
        "scalegrid_test_acc": result["test_acc"],
        "scalegrid_phases_s": result["time_breakdown"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18_cifar")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--val-size", type=int, default=1000, help="carved from the training images (data.val_size)")
    parser.add_argument("--precision", default=None, help="default: bf16-mixed on a GPU, 32-true on a CPU")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when torch sees one)")
    parser.add_argument("--grid-cells", type=int, default=0, help="also time an N-cell grid: 1 at a time vs N at once")
    parser.add_argument("--plain", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    args.precision = args.precision or ("bf16-mixed" if args.device == "cuda" else "32-true")
    if args.plain:
        plain_run(args, args.plain)
        return
    args.data = data_dir("cifar-10-batches-py")
    env = {**os.environ, "DATA_DIR": str(args.data)}
    with tempfile.TemporaryDirectory(prefix="scalegrid-gpu-parity-") as scratch:
        scratch = Path(scratch)
        try:
            figures = measure(args, scratch, env)
            grid = None
            if args.grid_cells > 1:
                grid = (grid_wall(args, scratch, env, 1), grid_wall(args, scratch, env, args.grid_cells))
        except RuntimeError as error:
            sys.exit(f"bench/gpu_parity.py: {error}")
    print(
        f"{args.device}, {args.model}, batch {args.batch_size}, {figures['train_images']:,} training images, "
        f"{args.epochs} epochs, {args.precision}, data {args.data}"
    )
    print(
        f"(a) plain loop (resident data)  epoch {figures['plain_images_per_s']:9.0f} images/s   "
        f"run {figures['plain_run_s']:6.1f} s   test acc {100 * figures['plain_test_acc']:.2f} %"
    )
    print(
        f"(b) scalegrid (src/train.py)    epoch {figures['scalegrid_images_per_s']:9.0f} images/s   "
        f"run {figures['scalegrid_run_s']:6.1f} s   test acc {100 * figures['scalegrid_test_acc']:.2f} %"
    )
    print(f"epoch b/a = {figures['epoch_ratio']:.3f}   run b/a = {figures['run_ratio']:.3f}")
    phases = ", ".join(f"{name} {seconds:.1f}" for name, seconds in figures["scalegrid_phases_s"].items())
    print(f"scalegrid's run by phase (s): {phases}")
    if grid is not None:
        one, many = grid
        print(
            f"grid of {args.grid_cells} cells: one after another {one:.1f} s; {args.grid_cells} at once "
            f"(runtime.jobs_per_gpu={args.grid_cells} on a GPU) {many:.1f} s: {one / many:.2f}x the cells per hour"
        )


if __name__ == "__main__":
    main()
