"""``train(cfg)``: one run from a composed config, in five phases that each read alone.

compose (the settings the run reads) → build (data, network, LightningModule, Trainer) → fit → test → record
(``results.json`` through the results contract, TensorBoard's hyperparameters, the summary line).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor
from pytorch_lightning.utilities.exceptions import SIGTERMException

from scalegrid.confusion import per_class_accuracy
from scalegrid.contract.device_defaults import channels_last, jobs_per_gpu
from scalegrid.contract.identity import weights_tag
from scalegrid.contract.results import (
    RESULTS_FILE,
    RunResult,
    RunStatus,
    library_versions,
    resolved_config,
    write_result,
)
from scalegrid.contract.run_folders import read_hydra_record
from scalegrid.contract.selection import selection_mode
from scalegrid.contract.settings_check import check_settings
from scalegrid.contract.sweep_record import swept_keys
from scalegrid.contract.weights_digest import weights_digest
from scalegrid.data.create import create_datamodule, data_options
from scalegrid.errors import RunStopped, ScalegridError, TrainingDiverged
from scalegrid.hydra_job import current_overrides, in_multirun
from scalegrid.models.registry import count_parameters, create_model_from_config
from scalegrid.models.weights import initialise
from scalegrid.run.budget import BUDGETS, training_budget
from scalegrid.run.checkpoint_io import RunCheckpointIO
from scalegrid.run.classifier import ImageClassifier
from scalegrid.run.finetune import FinetunePolicy
from scalegrid.run.gpu_slots import claim_free_gpu
from scalegrid.run.hyperparameters import cell_hyperparameters
from scalegrid.run.lightning_adapter import relaunches_command
from scalegrid.run.metric_history import ResumableCSVLogger
from scalegrid.run.optim import check_names
from scalegrid.run.performance import set_torch_threads
from scalegrid.run.preemption import SchedulerWarning, sigterm_stops_the_run
from scalegrid.run.resume import LAST_CHECKPOINT, ResumableRun, ResumePoint, find_resume_point
from scalegrid.run.test_curve import TestEveryEpoch
from scalegrid.run.throughput import TrainThroughput
from scalegrid.run.time_breakdown import PhaseClock, StepPhases

PROGRESS_BAR_CALLBACK = "progress_bar"  # runtime.callbacks entry of the bar: a single run's, never a grid cell's
BEST_CHECKPOINT_CALLBACK = "model_checkpoint"  # runtime.callbacks entry whose monitor/mode come from ``selection``


def train(cfg: DictConfig) -> RunResult:
    """Seed, build data and model, fit, test the selected checkpoint, and write ``results.json``; returns the result."""
    check_settings(cfg)  # every type and range, before anything is read or written
    check_choices(cfg)
    selection_mode(cfg.selection.monitor, cfg.selection.mode)  # a metric no run logs: refused before an epoch
    if not cfg.runtime.claim_gpu:
        return _train(cfg, cfg.trainer.devices)
    import torch

    # trainer=gpu_per_job: a slot held while this run trains, runtime.jobs_per_gpu of them per GPU
    slots = jobs_per_gpu(cfg.runtime.jobs_per_gpu)  # auto: from GPU 0's free memory
    with claim_free_gpu(torch.cuda.device_count(), jobs_per_gpu=slots) as gpu:
        print(f"[scalegrid] training on GPU {gpu} (claimed for this run)", flush=True)
        return _train(cfg, [gpu])


PRECISIONS = ("auto", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "32", "16", "bf16", "64")


def check_choices(cfg: DictConfig) -> None:
    """Settings that name a choice, refused before any work: the Trainer, optimiser and schedule read them late."""
    precision = str(cfg.trainer.get("precision"))
    if precision not in PRECISIONS:
        raise ScalegridError(f"trainer.precision={precision!r} is unknown; choose one of {', '.join(PRECISIONS[:7])}")
    if cfg.budget not in BUDGETS:
        raise ScalegridError(f"budget={cfg.budget!r} is unknown; choose one of {', '.join(BUDGETS)}")
    check_names(cfg.optim, cfg.sched)


def _train(cfg: DictConfig, devices: Any) -> RunResult:
    clock = PhaseClock()  # from entering the run to writing its results: results.json's time_breakdown
    built: list[BuiltRun] = []
    with sigterm_stops_the_run(lambda: _kept_in_last_checkpoint(built[0].trainer) if built else "nothing trained yet"):
        with clock.phase("startup"):
            settings = compose(cfg)
        run = build(cfg, settings, devices, clock)
        built.append(run)
        try:
            fitted = fit(run)
        except TrainingDiverged as diverged:
            return record_divergence(run, str(diverged))
        return record(cfg, run, fitted, final_test(run))


# --- compose -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    """What the run reads from its config, resolved once: plain data, seeded and threaded."""

    run_dir: Path
    config: dict[str, Any]  # the whole resolved config, Hydra's block left out: stored in results and checkpoints
    threads: int


def compose(cfg: DictConfig) -> RunSettings:
    pl.seed_everything(cfg.seed, workers=True)
    threads = set_torch_threads(cfg.runtime.threads)
    return RunSettings(Path(cfg.runtime.paths.output_dir), resolved_config(cfg), threads)


# --- build -------------------------------------------------------------------------------------------------------


@dataclass
class BuiltRun:
    """Everything the fit and test phases need, and what the record phase reports about how it was built."""

    settings: RunSettings
    datamodule: pl.LightningDataModule
    module: ImageClassifier
    trainer: pl.Trainer
    loggers: list[Any]
    throughput: TrainThroughput
    test_curve: TestEveryEpoch | None  # test_every_epoch: the per-epoch test accuracy
    resume: ResumePoint | None
    description: dict[str, Any]  # the result fields known before training (weights, sizes, parameter counts)
    clock: PhaseClock
    scheduler_warning: SchedulerWarning  # a job system's warning before the end of the job (SLURM via submitit)


def build(cfg: DictConfig, settings: RunSettings, devices: Any, clock: PhaseClock) -> BuiltRun:
    config = settings.config
    weights = config["model"].get("weights")
    with clock.phase("data"):
        datamodule = create_datamodule(
            data_options(config), shuffle_seed=cfg.seed, imagenet_statistics=weights == "imagenet"
        )
        datamodule.prepare_data()
        datamodule.setup("fit")
    with clock.phase("model"):
        model = _build_model(cfg, config, datamodule)
    with clock.phase("trainer"):
        return _build_trainer(cfg, settings, devices, clock, datamodule, model)


@dataclass(frozen=True)
class BuiltModel:
    """The LightningModule, the fine-tune policy (a callback too) and what the run reports about them."""

    module: ImageClassifier
    finetune: FinetunePolicy
    description: dict[str, Any]  # weights, what they loaded, the policy, parameter counts


def _build_model(cfg: DictConfig, config: dict[str, Any], datamodule: pl.LightningDataModule) -> BuiltModel:
    model_config = config["model"]
    weights = model_config.get("weights")
    network = create_model_from_config(model_config, datamodule.num_classes, datamodule.input_shape)
    weights_report = initialise(
        network,
        model_config["name"],
        weights,
        arch=model_config.get("arch"),
        download=cfg.runtime.download_weights,
        class_names=list(datamodule.class_names),
    )
    finetune = FinetunePolicy(**config["finetune"], backbone_lr_scale=config["optim"].get("backbone_lr_scale", 1.0))
    finetune.apply(network)
    params_total, params_trainable = count_parameters(network)
    module = ImageClassifier(
        network,
        num_classes=datamodule.num_classes,
        optim=config["optim"],
        sched=config["sched"],
        label_smoothing=config["loss"]["label_smoothing"],
        class_names=list(datamodule.class_names),
        channels_last=channels_last(cfg.runtime.channels_last, cfg.trainer.accelerator),
        compile=cfg.runtime.compile,
        finite_check_every_n_steps=cfg.runtime.finite_check_every_n_steps,
    )
    description = {
        "weights": weights,
        "weights_sha256": weights_digest(weights),  # the file loaded: a changed source is another cell
        "weights_loaded": None if weights_report is None else asdict(weights_report),
        "finetune": config["finetune"]["policy"],
        "params_total": params_total,
        "params_trainable": params_trainable,
    }
    return BuiltModel(module, finetune, description)


def _build_trainer(
    cfg: DictConfig,
    settings: RunSettings,
    devices: Any,
    clock: PhaseClock,
    datamodule: pl.LightningDataModule,
    model: BuiltModel,
) -> BuiltRun:
    config = settings.config
    throughput = TrainThroughput()
    loggers = [instantiate(block) for block in _target_blocks(cfg.runtime.get("logger"))]
    validates = _validates(cfg, len(datamodule.val_set))
    scheduler_warning = SchedulerWarning()
    callbacks = [
        *_callbacks(cfg, validates),
        throughput,
        model.finetune,
        ResumableRun(config),
        StepPhases(clock),
        scheduler_warning,
    ]
    test_curve = TestEveryEpoch() if cfg.test_every_epoch else None
    if test_curve is not None:
        callbacks.append(test_curve)
    if not loggers:  # the learning-rate monitor refuses to run without a logger: with logger=none it has nothing to do
        callbacks = [callback for callback in callbacks if not isinstance(callback, LearningRateMonitor)]
    budget = training_budget(cfg.budget, cfg.trainer.max_epochs, datamodule.train_pool_size, datamodule.batch_size)
    trainer_options = {
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        "devices": devices,
        "precision": config["trainer"]["precision"],  # auto resolved for this machine (bf16-mixed on a GPU)
        "default_root_dir": str(settings.run_dir),  # Lightning's own files go into the run directory
        "use_distributed_sampler": False,  # scalegrid's loaders shard batches across DDP ranks themselves
        **budget,
    }
    trainer: pl.Trainer = instantiate(
        trainer_options, callbacks=callbacks, logger=loggers or False, plugins=[RunCheckpointIO(clock)]
    )
    _refuse_rank_processes_in_a_sweep(trainer)

    checkpoint = trainer.checkpoint_callback
    resume = find_resume_point(checkpoint.dirpath if checkpoint is not None else None, config)
    if resume is not None and trainer.is_global_zero:
        print(f"[scalegrid] resuming from {resume.describe()}", flush=True)
    for logger in loggers:  # csv/metrics.csv keeps the epochs before the checkpoint
        if isinstance(logger, ResumableCSVLogger):
            logger.resume_step = None if resume is None else resume.global_step
    description = {
        **model.description,
        "train_size": len(datamodule.train_set),
        "val_size": len(datamodule.val_set),
        "test_size": len(datamodule.test_set),
        "test_source": datamodule.test_source,
        "resumed_from": None if resume is None else {"epoch": resume.epoch, "global_step": resume.global_step},
    }
    return BuiltRun(
        settings,
        datamodule,
        model.module,
        trainer,
        loggers,
        throughput,
        test_curve,
        resume,
        description,
        clock,
        scheduler_warning,
    )


def _target_blocks(group: DictConfig | None) -> list[DictConfig]:
    """The named ``_target_`` blocks of a config group that holds them (callbacks, loggers); empty ones skipped."""
    return [block for block in (group or {}).values() if block is not None and "_target_" in block]


def _validates(cfg: DictConfig, val_images: int) -> bool:
    """Whether the fit will run a validation epoch: else the last epoch is checkpointed and tested."""
    trainer = cfg.trainer
    never = val_images == 0 or trainer.get("limit_val_batches") == 0
    epochs = trainer.max_epochs if cfg.budget == "epochs" else None  # a step budget: epochs unknown in advance
    return not never and (epochs is None or epochs < 0 or trainer.check_val_every_n_epoch <= epochs)


def _callbacks(cfg: DictConfig, validates: bool) -> list[pl.Callback]:
    """Bookkeeping callbacks (runtime.callbacks; the best checkpoint chosen by ``selection``, when there is a
    validation epoch to choose by), then any that change training (``callbacks``, outside runtime)."""
    callbacks = []
    for name, block in (cfg.runtime.get("callbacks") or {}).items():
        if block is None or "_target_" not in block or (name == BEST_CHECKPOINT_CALLBACK and not validates):
            continue
        options = {}
        if name == BEST_CHECKPOINT_CALLBACK:
            options = {
                "monitor": cfg.selection.monitor,
                "mode": selection_mode(cfg.selection.monitor, cfg.selection.mode),
            }
        elif not validates and str(block["_target_"]).endswith(("ModelCheckpoint", "LastCheckpoint")):
            options = {"save_on_train_epoch_end": True}  # Lightning would wait for a validation that never comes
        elif name == PROGRESS_BAR_CALLBACK and in_multirun():
            options = {"refresh_rate": 0}  # a grid cell's output goes to its log file, where a bar is only noise
        callbacks.append(instantiate(block, **options))
    return callbacks + [instantiate(block) for block in _target_blocks(cfg.get("callbacks"))]


def _refuse_rank_processes_in_a_sweep(trainer: pl.Trainer) -> None:
    """DDP that starts its rank processes by re-running the command cannot do so inside a ``-m`` sweep."""
    if in_multirun() and relaunches_command(trainer):
        raise ScalegridError(
            f"trainer.devices={trainer.num_devices} with trainer.strategy=ddp inside a -m sweep: Lightning starts the "
            "other ranks by re-running the command, which would re-run the whole sweep. Run multi-device cells as "
            "single runs, on SLURM (hydra/launcher=slurm hydra.launcher.tasks_per_node=<devices>), or use "
            "trainer.strategy=ddp_spawn"
        )


# --- fit ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fitted:
    seconds: float
    val_acc_history: list[float]
    train_acc_history: list[float]
    test_acc_history: list[float] | None  # test_every_epoch's curve
    images_per_epoch: int | None  # summed over DDP ranks
    timings: dict[str, Any]


def fit(run: BuiltRun) -> Fitted:
    started = time.perf_counter()
    checkpoint = None if run.resume is None else str(run.resume.checkpoint)
    try:
        with run.clock.phase("lightning"):  # the Trainer's loops and hooks; the steps and checkpoints open their own
            run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=checkpoint)
    except SIGTERMException:  # Lightning stopped at a batch boundary; LastCheckpoint wrote that point
        trainer = run.trainer
        kept = _kept_in_last_checkpoint(trainer)
        if run.scheduler_warning.received:  # the job is about to end: the job system requeues it (and exits)
            print(
                f"[scalegrid] the job system warned that this job ends soon: stopped at epoch {trainer.current_epoch}, "
                f"step {trainer.global_step} ({kept}); the requeued job resumes from there",
                flush=True,
            )
            run.scheduler_warning.hand_over()
        raise RunStopped(
            f"stopped by SIGTERM at epoch {trainer.current_epoch}, step {trainer.global_step}: {kept}; run the "
            "same command again to resume"
        ) from None
    seconds = time.perf_counter() - started
    images = run.trainer.callback_metrics.get("train/images")
    # Testing restores the best checkpoint, and with it an older history and older timings: keep this run's now.
    timings = dict(images_per_second=run.throughput.images_per_second, **run.throughput.state_dict())
    history = list(run.module.val_acc_history)
    test_curve = None if run.test_curve is None else list(run.test_curve.history)
    train_history = list(run.module.train_acc_history)
    return Fitted(seconds, history, train_history, test_curve, None if images is None else int(images), timings)


# --- test --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tested:
    metrics: dict[str, float]
    seconds: float
    checkpoint: str | None  # the checkpoint tested (None: the weights in memory, i.e. the last epoch)
    selected_by: str  # best_val_epoch | last_epoch
    monitor: str | None = None  # the metric that chose it, and its value then (from the choosing callback)
    monitor_value: float | None = None


def final_test(run: BuiltRun) -> Tested:
    """Test the checkpoint ``selection`` chose; with no validation epoch, the last epoch (its ``last.ckpt``)."""
    checkpoint = run.trainer.checkpoint_callback  # the best-checkpoint callback, else last.ckpt's
    chosen = (checkpoint.best_model_path if checkpoint is not None else "") or None
    selected_by = "best_val_epoch" if checkpoint is not None and checkpoint.monitor and chosen else "last_epoch"
    started = time.perf_counter()
    try:
        with run.clock.phase("lightning"):
            (metrics,) = run.trainer.test(run.module, datamodule=run.datamodule, ckpt_path=chosen, verbose=False)
    except SIGTERMException:  # Lightning's SystemExit without a code: exit status 0, as if the run had finished
        epochs = run.trainer.current_epoch  # after the fit: how many epochs were trained
        raise RunStopped(
            f"stopped by SIGTERM while testing, training done ({epochs} epoch{'s' if epochs != 1 else ''}): "
            f"{_kept_in_last_checkpoint(run.trainer)}; run the same command again to test it"
        ) from None
    score = getattr(checkpoint, "best_model_score", None) if selected_by == "best_val_epoch" else None
    monitor = checkpoint.monitor if selected_by == "best_val_epoch" else None
    value = None if score is None else float(score)
    return Tested(metrics, time.perf_counter() - started, chosen, selected_by, monitor, value)


def selected_epoch(checkpoint: str | Path) -> tuple[int | None, float | None]:
    """The epoch a best checkpoint was written at and the validation accuracy it had then, from the file itself."""
    import torch

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable here means "not known", never a wrong number
        return None, None
    history = state.get("val_acc_history") or []
    epoch = state.get("epoch")
    return (int(epoch) if epoch is not None else None), (float(history[-1]) if history else None)


def _inside(checkpoint: str | None, run_dir: Path) -> str | None:
    """The tested file relative to its run folder, so that a moved run still names its own file."""
    if checkpoint is None:
        return None
    try:
        return str(Path(checkpoint).resolve().relative_to(run_dir.resolve()))
    except ValueError:
        return str(checkpoint)


def _kept_in_last_checkpoint(trainer: pl.Trainer) -> str:
    """Where the point a stopped run reached is kept, for its one line."""
    last = Path(trainer.checkpoint_callback.dirpath) / LAST_CHECKPOINT if trainer.checkpoint_callback else None
    return f"{last} holds it" if last is not None and last.is_file() else "no checkpoint holds it"


# --- record ------------------------------------------------------------------------------------------------------


def record(cfg: DictConfig, run: BuiltRun, fitted: Fitted, tested: Tested) -> RunResult:
    history = fitted.val_acc_history
    # The tested file's own epoch and validation accuracy: what selection (monitor, mode) chose, not an argmax here.
    best_epoch, best_val_acc = (None, None)
    if tested.selected_by == "best_val_epoch" and tested.checkpoint is not None:
        best_epoch, best_val_acc = selected_epoch(tested.checkpoint)
    confusion = run.module.test_confusion_matrix
    result = RunResult(
        status=RunStatus.COMPLETED,
        test_acc=tested.metrics["test/acc"],
        test_loss=tested.metrics["test/loss"],
        best_val_acc=best_val_acc,
        best_epoch=best_epoch,
        selection_monitor=tested.monitor,
        selection_value=tested.monitor_value,
        val_acc_history=history,
        train_acc=fitted.train_acc_history[-1] if fitted.train_acc_history else None,
        train_acc_history=fitted.train_acc_history,
        selected_by=tested.selected_by,
        test_acc_history=fitted.test_acc_history,
        per_class_acc=per_class_accuracy(confusion),
        confusion_matrix=confusion,
        class_names=list(run.datamodule.class_names),
        **run.description,
        epochs=run.trainer.current_epoch,
        fit_seconds=fitted.seconds,
        test_seconds=tested.seconds,
        train_images_per_second=fitted.timings["images_per_second"],
        torch_threads=run.settings.threads,
        epoch_seconds=fitted.timings["epoch_seconds"],
        train_epoch_seconds=fitted.timings["train_epoch_seconds"],
        best_checkpoint=_inside(tested.checkpoint, run.settings.run_dir),
        world_size=run.trainer.world_size,
        train_images_per_epoch=fitted.images_per_epoch,
        overrides=current_overrides(),
        config=run.settings.config,
        versions=library_versions(),
    )
    if run.trainer.is_global_zero:  # under DDP every rank gets here; one writes
        with run.clock.phase("logging"):  # TensorBoard's hyperparameters and confusion figure
            _log_final_metrics(run.loggers, run.settings.config, result)
        result.time_breakdown = run.clock.breakdown()
        result.hydra_record = read_hydra_record(run.settings.run_dir)
        write_result(run.settings.run_dir, result)
        print(summary_line(cfg, result, run.settings.run_dir), flush=True)
    return result


def record_divergence(run: BuiltRun, message: str) -> RunResult:
    """``results.json`` with ``status: diverged`` and what happened; one line on stderr."""
    result = RunResult(
        status=RunStatus.DIVERGED,
        error=message,
        val_acc_history=list(run.module.val_acc_history),
        train_acc_history=list(run.module.train_acc_history),
        epochs=run.trainer.current_epoch,
        global_step=run.trainer.global_step,
        **run.description,
        overrides=current_overrides(),
        config=run.settings.config,
        versions=library_versions(),
    )
    if run.trainer.is_global_zero:
        result.time_breakdown = run.clock.breakdown()
        result.hydra_record = read_hydra_record(run.settings.run_dir)
        path = write_result(run.settings.run_dir, result)
        print(f"scalegrid: diverged: {message} (recorded in {path})", file=sys.stderr, flush=True)
    return result


def _log_final_metrics(loggers: list[Any], config: dict[str, Any], result: RunResult) -> None:
    """TensorBoard: the run's hyperparameters with its final metrics (HPARAMS tab), and the confusion matrix image."""
    from pytorch_lightning.loggers import TensorBoardLogger

    from scalegrid.confusion import confusion_figure

    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            metrics = {
                f"hp/{key}": getattr(result, key)
                for key in ("test_acc", "test_loss", "best_val_acc")
                if getattr(result, key) is not None
            }
            hyperparameters = cell_hyperparameters(config, result.overrides, result.train_size, _swept_keys())
            logger.log_hyperparams(hyperparameters, metrics=metrics)
            title = "test confusion (row-normalised, %)"
            figure = confusion_figure(result.confusion_matrix, result.class_names, title)
            logger.experiment.add_figure("test/confusion_matrix", figure, global_step=result.epochs)
            logger.experiment.flush()


def _swept_keys() -> list[str] | None:
    """The keys this job's sweep varies (from the grid's sweep record); None outside a sweep."""
    if not in_multirun():
        return None
    from hydra.core.hydra_config import HydraConfig

    return swept_keys(Path(HydraConfig.get().sweep.dir))


def summary_line(cfg: DictConfig, result: RunResult, run_dir: Path) -> str:
    if result.selected_by == "best_val_epoch":
        chosen = f"epoch {result.best_epoch}" if result.best_epoch is not None else "epoch unknown"
        if result.selection_monitor not in (None, "val/acc") and result.selection_value is not None:
            chosen += f", best {result.selection_monitor}={result.selection_value:.4f}"
        accuracy = "unknown" if result.best_val_acc is None else f"{result.best_val_acc:.4f}"
        selection = (
            f"best_val_acc={accuracy} ({chosen})"
            if result.selection_monitor == "val/acc"
            else (f"val_acc={accuracy} ({chosen})")
        )
    else:
        selection = "no validation epoch: tested the last epoch"
    train = "" if result.train_acc is None else f"train_acc={result.train_acc:.4f} "
    return (
        f"[scalegrid] {cfg.model.name} ({weights_tag(result.weights)}, {result.finetune}) on {cfg.data.name} "
        f"(fraction {cfg.data.fraction:g}, {result.train_size} train images; test: {result.test_source}): "
        f"test_acc={result.test_acc:.4f} test_loss={result.test_loss:.4f} {train}{selection} "
        f"params={result.params_trainable:,}/{result.params_total:,} fit {result.fit_seconds:.1f}s "
        f"-> {run_dir / RESULTS_FILE}"
    )
