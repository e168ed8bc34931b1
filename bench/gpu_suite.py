"""The GPU suite: one prepared command that measures scalegrid on a device and writes a JSON and a Markdown table.

Sections, each timed on its own (a section that fails or runs out of time is recorded as such and the rest go on):
  parity    a training epoch and a whole run of src/train.py against bench/gpu_parity.py's strong plain loop
            (targets: epoch >= 0.95x the plain loop's images/s; run <= 1.15x its wall time at equal accuracy);
  overhead  a 10-cell grid one cell after another: each cell's seconds outside the train/validation/test steps, from
            its results.json time_breakdown (target: <= 1 s per cell);
  packing   the same small cells one at a time vs --pack-jobs at once on the one device (runtime.jobs_per_gpu on a
            GPU; one-thread processes on a CPU): runs per hour (target: 4 at once >= 3x one at a time);
  compile   one run with runtime.compile=false and one with true: epoch images/s after the first epoch, and the first
            epoch's seconds (what compiling costs).

Prepare here (the subset and the pure-Python packages the device lacks, both in ignored folders that travel):
    DATA_DIR=../shared/data .venv/bin/python bench/gpu_suite.py --prepare
Then one device call (about 6 minutes on an H200; carry bench_data and .device_site):
    export PYTHONPATH=.device_site:src PYTHONUNBUFFERED=1; DATA_DIR=bench_data/cifar-small \\
        python3 bench/gpu_suite.py --size device --out $OUT
On a CPU at toy size (what the default test runs): python bench/gpu_suite.py --size toy --out /tmp/suite
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gpu_parity
from data_location import data_dir

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SUBSET = PROJECT_ROOT / "bench_data" / "cifar-small"
DEVICE_SITE = PROJECT_ROOT / ".device_site"
CARRIED_PACKAGES = ("hydra", "omegaconf", "antlr4", "hydra_plugins")  # pure Python; the device's image lacks them
TARGETS = {  # figure: (comparison, bound) — the targets on the GPU
    "parity.epoch_ratio": (">=", 0.95),
    "parity.run_ratio": ("<=", 1.15),
    "overhead.outside_steps_median_s": ("<=", 1.0),
    "packing.runs_per_hour_ratio": (">=", 3.0),
}
SIZES = {
    # the parity recipe (gpu_parity's), the small cells of the grid sections, the compile runs
    "device": {
        "model": "resnet18_cifar",
        "epochs": 6,
        "batch_size": 512,
        "lr": 0.1,
        "val_size": 1000,
        "cell_model": "simple_cnn",
        "cell_epochs": 2,
        "cells": 10,
        "pack_cells": 8,
        "pack_jobs": 4,
        "compile_epochs": 4,
        "section_timeout_s": 150,
    },
    "toy": {
        "model": "simple_cnn",
        "epochs": 2,
        "batch_size": 32,
        "lr": 0.02,
        "val_size": 20,
        "cell_model": "mlp",
        "cell_epochs": 1,
        "cells": 2,
        "pack_cells": 2,
        "pack_jobs": 2,
        "compile_epochs": 2,
        "section_timeout_s": 120,
    },
}


def parity_args(size: dict, device: str, grid_cells: int = 0, model: str | None = None, epochs: int | None = None):
    precision = "bf16-mixed" if device == "cuda" else "32-true"
    return argparse.Namespace(
        model=model or size["model"],
        batch_size=size["batch_size"],
        epochs=epochs or size["epochs"],
        lr=size["lr"],
        val_size=size["val_size"],
        precision=precision,
        device=device,
        grid_cells=grid_cells,
        plain=None,
        data=None,
    )


def section_parity(size: dict, device: str, scratch: Path, env: dict) -> dict:
    return gpu_parity.measure(parity_args(size, device), scratch, env, size["section_timeout_s"])


def section_overhead(size: dict, device: str, scratch: Path, env: dict) -> dict:
    from scalegrid.contract.results import outside_steps

    args = parity_args(size, device, grid_cells=size["cells"], model=size["cell_model"], epochs=size["cell_epochs"])
    seeds = ",".join(str(seed) for seed in range(size["cells"]))
    log_dir = scratch / "overhead"
    command = [
        sys.executable,
        "src/train.py",
        "-m",
        "hydra=grid",
        "experiment_name=overhead",
        f"runtime.paths.log_dir={log_dir}",
        *gpu_parity.recipe_overrides(args),
        f"seed={seeds}",
    ]
    wall = gpu_parity.timed(command, env, size["section_timeout_s"])
    breakdowns = [json.loads(path.read_text())["time_breakdown"] for path in log_dir.rglob("results.json")]
    outside = [outside_steps(breakdown) for breakdown in breakdowns]
    phases = sorted({name for breakdown in breakdowns for name in breakdown if name != "total"})
    return {
        "cells": len(breakdowns),
        "grid_wall_s": wall,
        "wall_per_cell_s": wall / max(1, len(breakdowns)),
        "outside_steps_median_s": statistics.median(outside),
        "outside_steps_max_s": max(outside),
        "outside_by_phase_median_s": {
            name: statistics.median(float(breakdown.get(name, 0.0)) for breakdown in breakdowns) for name in phases
        },
    }


def section_packing(size: dict, device: str, scratch: Path, env: dict) -> dict:
    jobs = size["pack_jobs"]
    args = parity_args(
        size, device, grid_cells=size["pack_cells"], model=size["cell_model"], epochs=size["cell_epochs"]
    )
    one = gpu_parity.grid_wall(args, scratch, env, 1, size["section_timeout_s"])
    many = gpu_parity.grid_wall(args, scratch, env, jobs, size["section_timeout_s"])
    return {
        "cells": size["pack_cells"],
        "jobs_at_once": jobs,
        "one_at_a_time_s": one,
        "at_once_s": many,
        "runs_per_hour_one": 3600 * size["pack_cells"] / one,
        "runs_per_hour_packed": 3600 * size["pack_cells"] / many,
        "runs_per_hour_ratio": one / many,
    }


def section_compile(size: dict, device: str, scratch: Path, env: dict) -> dict:
    args = parity_args(size, device, epochs=size["compile_epochs"])
    figures = {}
    for compiled in (False, True):
        run_dir = scratch / f"compile_{compiled}"
        command = [
            sys.executable,
            "src/train.py",
            *gpu_parity.recipe_overrides(args),
            f"runtime.compile={str(compiled).lower()}",
            f"hydra.run.dir={run_dir}",
        ]
        wall = gpu_parity.timed(command, env, size["section_timeout_s"])
        result = json.loads((run_dir / "results.json").read_text())
        epochs = result["train_epoch_seconds"]
        figures["on" if compiled else "off"] = {
            "run_s": wall,
            "first_epoch_s": epochs[0],
            "images_per_s": gpu_parity.steady_rate(result["train_size"], epochs),
            "test_acc": result["test_acc"],
        }
    figures["steady_speedup"] = figures["on"]["images_per_s"] / figures["off"]["images_per_s"]
    figures["disabled"] = env.get("TORCH_COMPILE_DISABLE") == "1"
    return figures


SECTIONS = {"parity": section_parity, "overhead": section_overhead, "packing": section_packing}
SECTIONS["compile"] = section_compile


def machine(device: str) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "device": device}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        free, total = torch.cuda.mem_get_info(0)
        info["gpu_memory_gib"] = round(total / 2**30, 1)
    else:
        info["cpu_cores"] = os.cpu_count()
    return info


def lookup(results: dict, dotted: str):
    section, _, key = dotted.partition(".")
    return (results.get(section) or {}).get(key)


def markdown(summary: dict) -> str:
    info = summary["machine"]
    where = info.get("gpu") or f"CPU, {info.get('cpu_cores')} cores"
    lines = [
        f"GPU suite, size {summary['size']}, on {where} (torch {info['torch']}, Python {info['python']}), "
        f"{summary['wall_s']:.0f} s in all",
        "",
        "| figure | value | target | met |",
        "| --- | --- | --- | --- |",
    ]
    for dotted, (sign, bound) in TARGETS.items():
        value = lookup(summary["results"], dotted)
        met = "—" if value is None else ("yes" if (value >= bound if sign == ">=" else value <= bound) else "no")
        shown = "not measured" if value is None else f"{value:.3f}"
        lines.append(f"| {dotted} | {shown} | {sign} {bound} | {met} |")
    results = summary["results"]
    parity = results.get("parity") or {}
    if "plain_images_per_s" in parity:
        lines.append(
            f"| parity: images/s plain / scalegrid | {parity['plain_images_per_s']:.0f} / "
            f"{parity['scalegrid_images_per_s']:.0f} | | |"
        )
        lines.append(
            f"| parity: run s plain / scalegrid (test acc %) | {parity['plain_run_s']:.1f} "
            f"({100 * parity['plain_test_acc']:.2f}) / {parity['scalegrid_run_s']:.1f} "
            f"({100 * parity['scalegrid_test_acc']:.2f}) | | |"
        )
    compiled = results.get("compile") or {}
    if "steady_speedup" in compiled:
        note = " (compile disabled: toy size)" if compiled.get("disabled") else ""
        lines.append(
            f"| compile: images/s off / on, first epoch s off / on{note} | {compiled['off']['images_per_s']:.0f} / "
            f"{compiled['on']['images_per_s']:.0f}, {compiled['off']['first_epoch_s']:.1f} / "
            f"{compiled['on']['first_epoch_s']:.1f} | | |"
        )
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | failed: {result['error'].splitlines()[0][:160]} | | |")
    return "\n".join(lines) + "\n"


def prepare() -> None:
    """Cut the travelling CIFAR-10 subset and copy the pure-Python packages the device lacks, into ignored folders."""
    if not (SUBSET / "cifar-10-batches-py").is_dir():
        source = data_dir("cifar-10-batches-py")
        env = {**os.environ, "DATA_DIR": str(source)}
        subprocess.run(
            [sys.executable, str(Path(__file__).with_name("cifar_subset.py")), str(SUBSET)], env=env, check=True
        )
    import importlib.util

    DEVICE_SITE.mkdir(exist_ok=True)
    for package in CARRIED_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            sys.exit(f"bench/gpu_suite.py: {package} is not installed here: run make install first")
        source = Path(next(iter(spec.submodule_search_locations)))
        shutil.copytree(source, DEVICE_SITE / package, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    size = sum(path.stat().st_size for folder in (SUBSET, DEVICE_SITE) for path in folder.rglob("*") if path.is_file())
    print(
        f"prepared {SUBSET.relative_to(PROJECT_ROOT)} and {DEVICE_SITE.relative_to(PROJECT_ROOT)}: {size / 2**20:.1f} MiB to carry"
    )
    print('device call: carry ["bench_data", ".device_site"], command:')
    print(
        "export PYTHONPATH=.device_site:src PYTHONUNBUFFERED=1; "
        "DATA_DIR=bench_data/cifar-small python3 bench/gpu_suite.py --size device --out $OUT"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="device")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "outputs" / "bench" / "gpu_suite")
    parser.add_argument("--device", choices=("cuda", "cpu"), help="default: cuda when torch sees one")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--budget-s", type=float, default=450, help="sections that would start after this are skipped")
    parser.add_argument("--prepare", action="store_true", help="cut the subset and copy the packages to carry; exit")
    args = parser.parse_args()
    if args.prepare:
        prepare()
        return
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    size = SIZES[args.size]
    chosen = [name for name in args.sections.split(",") if name]
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        sys.exit(f"bench/gpu_suite.py: --sections {', '.join(unknown)} unknown; choose from {', '.join(SECTIONS)}")
    data = data_dir("cifar-10-batches-py")
    env = {**os.environ, "DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    if args.size == "toy":
        env["TORCH_COMPILE_DISABLE"] = "1"  # the compile section's code runs; compiling on 2 CPU cores would not pay
    started = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="scalegrid-gpu-suite-") as scratch:
        for name in chosen:
            if time.perf_counter() - started > args.budget_s:
                results[name] = {"error": f"skipped: the suite's {args.budget_s:.0f} s budget was spent"}
                continue
            section_started = time.perf_counter()
            folder = Path(scratch) / name
            folder.mkdir()
            try:
                results[name] = SECTIONS[name](size, device, folder, env)
            except Exception as error:  # noqa: BLE001 - one section's failure must not cost the others
                results[name] = {"error": f"{type(error).__name__}: {error}"}
            results[name]["section_s"] = time.perf_counter() - section_started
            print(f"[gpu_suite] {name}: {json.dumps(results[name], default=str)[:400]}", flush=True)
    summary = {
        "size": args.size,
        "machine": machine(device),
        "data": str(data),
        "wall_s": time.perf_counter() - started,
        "targets": {key: f"{sign} {bound}" for key, (sign, bound) in TARGETS.items()},
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_suite.json").write_text(json.dumps(summary, indent=2, default=str))
    table = markdown(summary)
    (args.out / "gpu_suite.md").write_text(table)
    print(table)
    print(f"[gpu_suite] written: {args.out / 'gpu_suite.json'}, {args.out / 'gpu_suite.md'}")


if __name__ == "__main__":
    main()
