"""``train(cfg)``: one run from a composed config, top to bottom, ending in ``results.json``."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor

from scalegrid.budget import training_budget
from scalegrid.classifier import ImageClassifier
from scalegrid.data.create import create_datamodule
from scalegrid.errors import ScalegridError, TrainingDiverged
from scalegrid.finetune import FinetunePolicy
from scalegrid.gpu_slots import ONE_FREE_GPU, claim_free_gpu
from scalegrid.grid import current_overrides, in_multirun, weights_tag
from scalegrid.models.registry import count_parameters, create_model_from_config
from scalegrid.models.weights import initialise
from scalegrid.performance import set_torch_threads
from scalegrid.results import (
    COMPLETED,
    DIVERGED,
    RESULTS_FILE,
    library_versions,
    per_class_accuracy,
    resolved_config,
    write_json_atomic,
)
from scalegrid.resume import ResumableRun, find_resume_point
from scalegrid.throughput import TrainThroughput


def _instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a config group that holds named ``_target_`` blocks (callbacks, loggers)."""
    if not group:
        return []
    return [instantiate(block) for block in group.values() if block is not None and "_target_" in block]


def train(cfg: DictConfig) -> dict[str, Any]:
    """Seed, build data and model, fit, test the best checkpoint, and write ``results.json``; returns the results."""
    if cfg.trainer.devices != ONE_FREE_GPU:
        return _train(cfg, cfg.trainer.devices)
    import torch

    with claim_free_gpu(torch.cuda.device_count()) as gpu:  # trainer=gpu_per_job: held while this run trains
        print(f"[scalegrid] training on GPU {gpu} (claimed for this run)", flush=True)
        return _train(cfg, [gpu])


def _train(cfg: DictConfig, devices: Any) -> dict[str, Any]:
    run_dir = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    threads = set_torch_threads(cfg.get("threads"))

    model_config = OmegaConf.to_container(cfg.model, resolve=True)
    model_name = model_config["name"]
    weights = model_config.get("weights")

    data_options = OmegaConf.to_container(cfg.data, resolve=True)
    datamodule = create_datamodule(data_options, shuffle_seed=cfg.seed, imagenet_statistics=weights == "imagenet")
    datamodule.prepare_data()
    datamodule.setup("fit")

    network = create_model_from_config(model_config, datamodule.num_classes, datamodule.input_shape)
    weights_report = initialise(
        network,
        model_name,
        weights,
        arch=model_config.get("arch"),
        download=cfg.download_weights,
        class_names=list(datamodule.class_names),
    )
    finetune = FinetunePolicy(**cfg.finetune, backbone_lr_scale=cfg.optim.get("backbone_lr_scale", 1.0))
    finetune.apply(network)
    params_total, params_trainable = count_parameters(network)
    module = ImageClassifier(
        network,
        num_classes=datamodule.num_classes,
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        sched=OmegaConf.to_container(cfg.sched, resolve=True),
        label_smoothing=cfg.loss.label_smoothing,
        class_names=list(datamodule.class_names),
        channels_last=model_config.get("channels_last", False),
        compile=model_config.get("compile", False),
        finite_check_every_n_steps=cfg.loss.finite_check_every_n_steps,
    )

    config = resolved_config(cfg)
    throughput = TrainThroughput()
    loggers = _instantiate_group(cfg.get("logger"))
    callbacks = [*_instantiate_group(cfg.get("callbacks")), throughput, finetune, ResumableRun(config)]
    if not loggers:  # the learning-rate monitor refuses to run without a logger: with logger=none it has nothing to do
        callbacks = [callback for callback in callbacks if not isinstance(callback, LearningRateMonitor)]
    trainer_options = {**OmegaConf.to_container(cfg.trainer, resolve=True), "devices": devices}
    budget = training_budget(
        trainer_options.pop("budget", "epochs"),
        cfg.trainer.max_epochs,
        datamodule.train_pool_size,
        datamodule.batch_size,
    )
    trainer: pl.Trainer = instantiate({**trainer_options, **budget}, callbacks=callbacks, logger=loggers or False)

    _refuse_rank_processes_in_a_sweep(trainer)
    checkpoint = trainer.checkpoint_callback
    resume = find_resume_point(checkpoint.dirpath if checkpoint is not None else None, config)
    if resume is not None and trainer.is_global_zero:
        print(f"[scalegrid] resuming from {resume.describe()}", flush=True)
    record = {
        "weights": weights,
        "weights_loaded": None if weights_report is None else asdict(weights_report),
        "finetune": cfg.finetune.policy,
        "params_total": params_total,
        "params_trainable": params_trainable,
        "train_size": len(datamodule.train_set),
        "val_size": len(datamodule.val_set),
        "test_size": len(datamodule.test_set),
        "resumed_from": None if resume is None else {"epoch": resume.epoch, "global_step": resume.global_step},
    }
    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=None if resume is None else str(resume.checkpoint))
    except TrainingDiverged as diverged:
        return _record_divergence(run_dir, str(diverged), module, trainer, record, config)
    fit_seconds = time.perf_counter() - started
    images_per_epoch = trainer.callback_metrics.get("train/images")  # summed over DDP ranks
    # Testing restores the best checkpoint, and with it an older history and older timings: keep this run's now.
    history = list(module.val_acc_history)
    timings = dict(images_per_second=throughput.images_per_second, **throughput.state_dict())

    best_path = checkpoint.best_model_path if checkpoint is not None else ""
    started = time.perf_counter()
    (test_metrics,) = trainer.test(module, datamodule=datamodule, ckpt_path=best_path or None, verbose=False)
    test_seconds = time.perf_counter() - started

    best_epoch = max(range(len(history)), key=history.__getitem__) if history else None
    results = {
        "status": COMPLETED,
        "test_acc": test_metrics["test/acc"],
        "test_loss": test_metrics["test/loss"],
        "best_val_acc": history[best_epoch] if history else None,
        "best_epoch": best_epoch,
        "val_acc_history": history,
        "per_class_acc": per_class_accuracy(module.test_confusion_matrix),
        "confusion_matrix": module.test_confusion_matrix,
        "class_names": list(datamodule.class_names),
        **record,
        "epochs": trainer.current_epoch,
        "fit_seconds": fit_seconds,
        "test_seconds": test_seconds,
        "train_images_per_second": timings["images_per_second"],
        "torch_threads": threads,
        "epoch_seconds": timings["epoch_seconds"],
        "train_epoch_seconds": timings["train_epoch_seconds"],
        "best_checkpoint": best_path or None,
        "overrides": current_overrides(),
        "config": config,
        "versions": library_versions(),
    }
    results["world_size"] = trainer.world_size
    results["train_images_per_epoch"] = None if images_per_epoch is None else int(images_per_epoch)
    if trainer.is_global_zero:  # under DDP every rank gets here; one writes
        _log_final_metrics(loggers, config, results)
        write_json_atomic(run_dir / RESULTS_FILE, results)
        print(summary_line(cfg, results, run_dir), flush=True)
    return results


def _refuse_rank_processes_in_a_sweep(trainer: pl.Trainer) -> None:
    """DDP that starts its rank processes by re-running the command cannot do so inside a ``-m`` sweep."""
    from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    strategy = trainer.strategy
    environment = getattr(strategy, "cluster_environment", None)
    re_runs_command = (
        isinstance(getattr(strategy, "launcher", None), _SubprocessScriptLauncher)
        and environment is not None
        and not environment.creates_processes_externally  # srun/torchrun start the ranks themselves: fine
    )
    if in_multirun() and re_runs_command and trainer.world_size > 1:
        raise ScalegridError(
            f"trainer.devices={trainer.num_devices} with trainer.strategy=ddp inside a -m sweep: Lightning starts the "
            "other ranks by re-running the command, which would re-run the whole sweep. Run multi-device cells as "
            "single runs, on SLURM (hydra/launcher=slurm hydra.launcher.tasks_per_node=<devices>), or use "
            "trainer.strategy=ddp_spawn"
        )


def _record_divergence(
    run_dir: Path,
    message: str,
    module: ImageClassifier,
    trainer: pl.Trainer,
    record: dict[str, Any],
    config: dict[str, Any],
) -> dict[str, Any]:
    """``results.json`` with ``status: diverged`` and what happened; one line on stderr."""
    results = {
        "status": DIVERGED,
        "error": message,
        "test_acc": None,
        "test_loss": None,
        "val_acc_history": list(module.val_acc_history),
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        **record,
        "overrides": current_overrides(),
        "config": config,
        "versions": library_versions(),
    }
    if trainer.is_global_zero:
        write_json_atomic(run_dir / RESULTS_FILE, results)
        print(f"scalegrid: diverged: {message} (recorded in {run_dir / RESULTS_FILE})", file=sys.stderr, flush=True)
    return results


def _log_final_metrics(loggers: list[Any], config: dict[str, Any], results: dict[str, Any]) -> None:
    """TensorBoard: the run's hyperparameters with its final metrics (HPARAMS tab), and the confusion matrix image."""
    from pytorch_lightning.loggers import TensorBoardLogger

    from scalegrid.report.plots import confusion_figure

    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            metrics = {
                f"hp/{key}": results[key]
                for key in ("test_acc", "test_loss", "best_val_acc")
                if results[key] is not None
            }
            logger.log_hyperparams(config, metrics=metrics)
            figure = confusion_figure(
                results["confusion_matrix"], results["class_names"], "test confusion (row-normalised, %)"
            )
            logger.experiment.add_figure("test/confusion_matrix", figure, global_step=results["epochs"])
            logger.experiment.flush()


def summary_line(cfg: DictConfig, results: dict[str, Any], run_dir: Path) -> str:
    return (
        f"[scalegrid] {cfg.model.name} ({weights_tag(results['weights'])}, {results['finetune']}) on {cfg.data.name} "
        f"(fraction {cfg.data.fraction:g}, "
        f"{results['train_size']} train images): test_acc={results['test_acc']:.4f} "
        f"test_loss={results['test_loss']:.4f} best_val_acc={results['best_val_acc']:.4f} "
        f"(epoch {results['best_epoch']}) params={results['params_trainable']:,}/{results['params_total']:,} "
        f"fit {results['fit_seconds']:.1f}s -> {run_dir / RESULTS_FILE}"
    )
