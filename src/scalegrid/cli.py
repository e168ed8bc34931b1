"""Hydra entry points: each prints a ScalegridError or a config error as one line and exits with code 2."""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import hydra
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from scalegrid import CONF_DIR
from scalegrid.contract.atomic_files import write_atomic
from scalegrid.errors import STOPPED_EXIT_CODE, USAGE_ERROR, RunStopped, ScalegridError, user_message

RUN_FAILED = 1  # a single run that diverged (recorded in its results.json)


def one_line(error: BaseException) -> str:
    """A config or input error as a single line that says what to change."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    if isinstance(error, MissingConfigException) and error.options:
        headline = next((line for line in lines if "Could not" in line), lines[0])
        options = sorted(option for option in error.options if not option.startswith("_"))  # _*.yaml: shared bases
        return f"{headline}; available options: {', '.join(options)}"
    cause = error.__cause__
    text = " ".join(lines)
    if isinstance(cause, OmegaConfBaseException):
        text += f" ({str(cause).splitlines()[0]})"
    return text


@contextmanager
def user_errors_exit() -> Iterator[None]:
    """Turn user errors into one line on stderr and exit code 2; anything else keeps its traceback.

    Used inside the task function too: Hydra writes its own line about a failed job before re-raising.
    """
    try:
        yield
    except ScalegridError as error:
        print(f"scalegrid: error: {user_message(error)}", file=sys.stderr, flush=True)
        sys.exit(USAGE_ERROR)
    except (HydraException, OmegaConfBaseException) as error:
        print(f"scalegrid: config error: {one_line(error)}", file=sys.stderr, flush=True)
        sys.exit(USAGE_ERROR)


def run_reporting_errors(main: Callable[[], object]) -> None:
    """Run a Hydra main so that user errors end as one line on stderr and exit code 2."""
    # Hydra re-raises instead of printing its own multi-line report.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    # Lightning 2.6 calls a torch API that torch 2.10+ deprecates, once per run: noise no user can act on.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # On a machine with SLURM (a login node) Lightning suggests `srun python ...` for every run: scalegrid's way onto
    # SLURM is hydra/launcher=slurm, which does use srun, and a run started by hand is meant to run where it is.
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system but is not used")
    with user_errors_exit():
        try:
            main()
        except OSError as error:
            if error.filename is None:
                raise
            # Hydra creating the run or sweep folder, or a file the run writes: the place is the problem, not the code.
            raise ScalegridError(
                f"cannot write {error.filename} ({error.strerror}): choose a writable output folder "
                "(hydra.run.dir=..., hydra.sweep.dir=... or runtime.paths.log_dir=...)"
            ) from None


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def _train(cfg: DictConfig):
    from omegaconf import OmegaConf

    from scalegrid.contract.pretrained_use import check_pretrained_is_read
    from scalegrid.contract.results import RunStatus
    from scalegrid.contract.run_folders import STOPPED
    from scalegrid.contract.selection import resolve_selection
    from scalegrid.grid.cell_log import output_to_cell_log
    from scalegrid.grid.cells import CellOutcome, remove_bookkeeping_only, run_cell
    from scalegrid.hydra_job import in_multirun
    from scalegrid.models.weights import apply_pretrained_keyword
    from scalegrid.run.training import train

    with user_errors_exit():
        try:
            if not in_multirun():  # a sweep's settings are checked once, as a whole, when it starts (GridSummary)
                check_pretrained_is_read(OmegaConf.to_container(cfg, resolve=False))
            apply_pretrained_keyword(cfg)
            resolve_selection(cfg)  # an unknown monitor refused, a contradicting mode warned about, before any work
        except ScalegridError:
            remove_bookkeeping_only(Path(cfg.runtime.paths.output_dir))  # a refused setting leaves no run folder
            raise
        try:  # in a grid the cell's output goes to its log file; what stops the grid is said on the grid's output
            with output_to_cell_log(Path(cfg.runtime.paths.output_dir)):
                outcome = run_cell(cfg, train)
        except RunStopped as stopped:
            print(f"scalegrid: {stopped}", file=sys.stderr, flush=True)
            if not in_multirun():
                sys.exit(STOPPED_EXIT_CODE)
            return CellOutcome(STOPPED, error=str(stopped))  # the grid's summary says so, then the process stops
    if outcome.status == RunStatus.DIVERGED.value and not in_multirun():
        sys.exit(RUN_FAILED)  # its one line is already printed; a grid goes on with its other cells
    return outcome


def rename_moved_keys(argv: list[str]) -> list[str]:
    """The command line with keys that moved (``data.root`` -> ``runtime.data.root``) renamed, one note per key."""
    from scalegrid.contract.config_versions import rename_overrides

    renamed, notes = rename_overrides(argv)
    for note in notes:
        print(f"[scalegrid] note: {note}", flush=True)
    return renamed


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
def _eval(cfg: DictConfig) -> None:
    from scalegrid.analysis.evaluation import evaluate

    with user_errors_exit():
        out_dir = evaluate(Path(cfg.run), cfg.split, cfg.top_k, cfg.examples, cfg.data_root)
        metrics = json.loads((out_dir / "metrics.json").read_text())
        pairs = "; ".join(pair["text"] for pair in metrics["confused_pairs"]) or "none"
        print(
            f"[scalegrid] {metrics['split']} accuracy {100 * metrics['accuracy']:.2f} % on {metrics['images']} images; "
            f"most confused: {pairs} -> {out_dir}",
            flush=True,
        )


def quote_path_values(argv: list[str], keys: tuple[str, ...] = ("run", "data_root")) -> list[str]:
    """``run=<folder>`` with the folder quoted for Hydra when it holds ``=`` or other grammar characters (an arm's
    cell, ``.../seed0/arm=freeze5``), so that the path a grid printed can be pasted as it is."""
    quoted = []
    for argument in argv:
        key, equals, value = argument.partition("=")
        needs_quotes = any(character in value for character in "=,[]{}()'\" :*?$") and value[:1] not in "'\""
        quoted.append(f"{key}='{value}'" if equals and key in keys and needs_quotes and "'" not in value else argument)
    return quoted


def eval_main() -> None:
    """``python src/eval.py run=...``: metrics, confusion matrix and mistakes of a finished run."""
    sys.argv[1:] = quote_path_values(sys.argv[1:])
    run_reporting_errors(_eval)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="visualize")
def _visualize(cfg: DictConfig) -> None:
    from omegaconf import OmegaConf

    from scalegrid.analysis.visualization import visualize

    with user_errors_exit():
        images = OmegaConf.to_container(cfg.images) if cfg.images is not None else []
        layers = OmegaConf.to_container(cfg.layers) if cfg.layers is not None else None
        out_dir = visualize(Path(cfg.run), images, layers, cfg.channels, cfg.gradcam_layer, cfg.data_root)
        print(f"[scalegrid] {len(list(out_dir.glob('*.png')))} figures in {out_dir}", flush=True)


def visualize_main() -> None:
    """``python src/visualize.py run=...``: feature maps, first-layer filters and Grad-CAM overlays."""
    sys.argv[1:] = quote_path_values(sys.argv[1:])
    run_reporting_errors(_visualize)


def train_main() -> None:
    """``scalegrid-train`` / ``python src/train.py``: one run, or a sweep with ``-m``."""
    sys.argv[1:] = rename_moved_keys(sys.argv[1:])  # before Hydra reads them (DDP ranks re-run this command line)
    run_reporting_errors(_train)


def report_main(argv: list[str] | None = None) -> None:
    """``scalegrid-report`` / ``python src/report.py GRID_DIR [runtime.report.KEY=VALUE ...]``: write GRID_DIR/report/."""
    import argparse

    parser = argparse.ArgumentParser(
        description="Aggregate every results.json under a grid folder into a report. The statistics' settings given "
        "here (--ci-level ... or runtime.report.KEY=VALUE) win over those stored with the grid's runs."
    )
    parser.add_argument("grid", type=Path, help="the grid folder, e.g. outputs/grids/demo")
    parser.add_argument("settings", nargs="*", help="runtime.report.KEY=VALUE, e.g. runtime.report.ci_level=0.9")
    for role, example in (("x", "data.fraction"), ("lines", "model"), ("panels", "model.weights")):
        parser.add_argument(f"--{role}", help=f"the swept key for the accuracy figure's {role} (e.g. {example})")
    parser.add_argument("--ci-level", type=float, help="the confidence level of every interval (default 0.95)")
    parser.add_argument("--curve-form", help="the learning-curve law: auto, M1, M2, M3 or M4")
    parser.add_argument("--resamples", type=int, help="bootstrap resamples of the seeds (default 10000)")
    parser.add_argument("--fit-resamples", type=int, help="bootstrap refits per learning curve (default 1000)")
    parser.add_argument("--bootstrap-seed", type=int, help="seeds every resampling (default 0)")
    arguments = parser.parse_args(argv)
    with user_errors_exit():
        from scalegrid.analysis.report import REPORT_KNOBS, build_report

        figure = {"x": arguments.x, "lines": arguments.lines, "panels": arguments.panels}
        knobs = {key: getattr(arguments, key) for key in REPORT_KNOBS}
        for setting in arguments.settings:
            key, equals, value = setting.partition("=")
            name = key.removeprefix("runtime.report.")
            if not equals or not key.startswith("runtime.report.") or name not in {*REPORT_KNOBS, *figure}:
                raise ScalegridError(
                    f"{setting!r} is not a report setting: give runtime.report.KEY=VALUE with KEY one of "
                    f"{', '.join([*REPORT_KNOBS, *figure])}"
                )
            if name in figure:
                figure[name] = value
                continue
            try:
                knobs[name] = REPORT_KNOBS[name](value)
            except ValueError:
                kind = {int: "a whole number", float: "a number"}.get(REPORT_KNOBS[name], "text")
                raise ScalegridError(f"{setting}: {value!r} is not {kind}") from None
        report = build_report(arguments.grid, figure, overrides=knobs)
        print(f"[scalegrid] report written: {report}")


def model_table_main(argv: list[str] | None = None) -> None:
    """``make models`` / ``python src/model_table.py``: print the model table and write it to a Markdown file."""
    import argparse

    parser = argparse.ArgumentParser(description="A Markdown table of every registered model.")
    parser.add_argument("--classes", type=int, default=10, help="classes of the head (default 10)")
    parser.add_argument("--output", type=Path, default=Path("outputs/models.md"), help="also written here")
    arguments = parser.parse_args(argv)
    with user_errors_exit():
        from scalegrid.models.table import model_table

        if arguments.classes < 2:
            raise ScalegridError(f"--classes={arguments.classes} must be at least 2")
        table = model_table(arguments.classes)
        write_atomic(arguments.output, lambda stream: stream.write(table.encode()))
        print(table)
        print(f"[scalegrid] model table written: {arguments.output}")
