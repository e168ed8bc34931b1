"""The report on a large synthetic grid: seconds to build it and the length of its Answers section.

A grid of 10 model widths x 10 training-set sizes x 2 inits (scratch, pretrained) x 5 seeds = 1,000 finished runs,
written as real results.json files (no training), each width's curve error = 0.02 + (1 + w/4)·(n / 100)^-0.45
with pretrained runs at 4x their data, plus Gaussian noise; then `build_report` as src/report.py calls it.
Targets (issue 27): <= 60 s on 2 CPU cores, Answers <= 20 lines.

    python bench/report_scale.py                      # the 1,000-run grid
    python bench/report_scale.py --widths 3 --sizes 6 --seeds 2   # a small one
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from scalegrid.analysis.report import build_report
from scalegrid.contract.results import RunResult, RunStatus, write_result


def write_grid(root: Path, widths: int, sizes: int, seeds: int) -> Path:
    rng = np.random.default_rng(0)
    grid = root / "scale"
    largest = 48_000
    for width in range(widths):
        for size in np.geomspace(largest / 2 ** (sizes - 1) * 1.0, largest, sizes).round().astype(int):
            for init in ("scratch", "pretrained"):
                effective = size * (4 if init == "pretrained" else 1)
                error = 0.02 + (1 + width / 4) * (effective / 100) ** -0.45
                for seed in range(seeds):
                    overrides = {
                        "model": f"w{2**width}",
                        "data.fraction": f"{size / largest:.6g}",
                        "init": init,
                        "seed": str(seed),
                    }
                    folder = grid.joinpath(*(f"{k}={v}" for k, v in overrides.items()))
                    folder.mkdir(parents=True)
                    value = float(np.clip(error + rng.normal(0, 0.004), 0, 1))
                    write_result(
                        folder,
                        RunResult(
                            status=RunStatus.COMPLETED,
                            overrides=[f"{k}={v}" for k, v in overrides.items()],
                            test_acc=1 - value,
                            train_size=int(size),
                            params_total=1000 * 2**width,
                            weights="source.ckpt" if init == "pretrained" else None,
                            class_names=[str(k) for k in range(10)],
                        ),
                    )
    return grid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, default=10)
    parser.add_argument("--sizes", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as folder:
        grid = write_grid(Path(folder), args.widths, args.sizes, args.seeds)
        runs = args.widths * args.sizes * 2 * args.seeds
        started = time.perf_counter()
        report = build_report(grid)
        seconds = time.perf_counter() - started
        text = report.read_text()
        answers = [line for line in text.split("## Answers")[1].split("\n## ")[0].splitlines() if line.startswith("- ")]
        print(
            f"runs: {runs}; report: {seconds:.1f} s (target <= 60 s); Answers: {len(answers)} lines (target <= 20); "
            f"report.md {len(text.encode()) / 1024:.0f} KB"
        )
        for line in answers:
            print(line)


if __name__ == "__main__":
    main()
