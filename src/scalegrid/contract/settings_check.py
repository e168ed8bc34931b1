"""One pass over a composed config that checks the type and range of every numeric setting a user types.

Hydra composes a string where a number belongs (``data.fraction=abc``) without complaint, and Lightning reads
``trainer.max_epochs=-1`` as "no limit"; without this pass such settings failed after a minute of work, or not at
all (``optim.lr=nan`` was recorded as a diverged result). :func:`check_settings` runs before any data is read or
anything is written and raises one :class:`ScalegridError` per bad key, naming it and the values it takes. It checks
the user's keys, not the Trainer arguments scalegrid derives from them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from scalegrid.errors import ScalegridError


def _number(value: Any) -> float | None:
    """A real number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def whole(low: int, high: int | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            upper = "" if high is None else f" and at most {high}"
            return f"must be a whole number of at least {low}{upper}"
        return None

    return check


def real(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        number = _number(value)
        above = number is not None and (number > low if low_open else number >= low)
        below = number is not None and (number < high if high_open else number <= high)
        if number is None or not math.isfinite(number) or not (above and below):
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            top = "inf" if math.isinf(high) else f"{high:g}"
            return f"must be a finite number in {left}{low:g}, {top}{right}"
        return None

    return check


def count_or_share(*, zero: bool = False, null: str | None = None) -> Callable[[Any], str | None]:
    """A count (int >= 1, or >= 0 with ``zero``), a share in (0, 1), or null when ``null`` says what it means."""

    def check(value: Any) -> str | None:
        if value is None and null is not None:
            return None
        number = _number(value)
        if number is not None and math.isfinite(number):
            if float(number).is_integer() and number >= (0 if zero else 1):
                return None
            if 0 < number < 1:
                return None
        allowed = f"a count ({'0 or more' if zero else 'at least 1'}), a share in (0, 1)"
        return f"must be {allowed}" + (f", or null ({null})" if null is not None else "")

    return check


def optional(check: Callable[[Any], str | None], meaning: str) -> Callable[[Any], str | None]:
    def allow_null(value: Any) -> str | None:
        if value is None:
            return None
        problem = check(value)
        return None if problem is None else f"{problem}, or null ({meaning})"

    return allow_null


def one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


CURVE_FORMS = ("auto", "M1", "M2", "M3", "M4")  # runtime.report.curve_form: the learning-curve laws of the report


def share_of_pool(value: Any) -> str | None:
    number = _number(value)
    if number is None or not math.isfinite(number):
        return "must be a number in (0, 1]: the share of the training pool to train on"
    return None if 0 < number <= 1 else "is outside (0, 1]: give the share of the training pool to use"


def folder_name(value: Any) -> str | None:
    """A name for one folder: not empty, no path separator, not . or .."""
    if not isinstance(value, str) or not value.strip() or "/" in value or value in (".", ".."):
        return "must name one folder (letters, digits, - and _; not empty, no /), e.g. experiment_name=mine"
    return None


POSITIVE = real(0.0, math.inf, low_open=True, high_open=True)
NON_NEGATIVE = real(0.0, math.inf, high_open=True)

# Every key a user types that has a type and range; a key that is absent (another dataset's, another optimiser's) is
# not checked. Keys that name choices (data.name, model.name, sched.name, ...) are checked where they are used.
CHECKS: dict[str, Callable[[Any], str | None]] = {
    "experiment_name": folder_name,  # outputs/grids/<experiment_name>: '' put cells straight into outputs/grids
    "seed": whole(0, 2**32 - 1),  # Lightning's (and NumPy's) seed range
    "data.fraction": share_of_pool,
    "data.split_seed": whole(0, 2**32 - 1),
    "data.batch_size": whole(1),
    "data.eval_batch_size": whole(1),
    "data.val_size": count_or_share(zero=True),
    "data.val_eval_size": count_or_share(null="the whole validation split"),
    "data.test_subset": count_or_share(null="the whole test set"),
    "data.test_size": real(0.0, 1.0, low_open=True, high_open=True),
    "data.image_size": optional(whole(8), "the native size"),
    "data.resize_size": optional(whole(8), "image_size / 0.875"),
    "optim.lr": POSITIVE,
    "optim.weight_decay": NON_NEGATIVE,
    "optim.momentum": real(0.0, 1.0, high_open=True),
    "optim.backbone_lr_scale": NON_NEGATIVE,
    "loss.label_smoothing": real(0.0, 1.0, high_open=True),
    "trainer.max_epochs": whole(1),
    "trainer.min_epochs": whole(0),
    "trainer.check_val_every_n_epoch": whole(1),
    "finetune.freeze_stages": whole(0),
    "finetune.unfreeze_epoch": whole(0),
    "runtime.finite_check_every_n_steps": whole(0),
    "runtime.jobs_per_gpu": lambda value: None if value == "auto" else whole(1)(value),
    "runtime.threads": optional(whole(1), "the machine's cores divided among the sweep's jobs"),
    "runtime.callbacks.last_checkpoint.min_interval_s": NON_NEGATIVE,
    "runtime.report.ci_level": real(0.0, 1.0, low_open=True, high_open=True),
    "runtime.report.resamples": whole(100),
    "runtime.report.fit_resamples": whole(100),
    "runtime.report.bootstrap_seed": whole(0),
    "runtime.report.curve_form": one_of(*CURVE_FORMS),
}
_MISSING = object()


def _lookup(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def check_settings(config: Mapping[str, Any]) -> None:
    """Raise ScalegridError for the first setting of ``config`` (a resolved, plain config) outside its type or range."""
    for key, check in CHECKS.items():
        value = _lookup(config, key)
        if value is _MISSING:
            continue
        problem = check(value)
        if problem is not None:
            raise ScalegridError(f"{key}={value!r} {problem}")
    epochs, least = _lookup(config, "trainer.max_epochs"), _lookup(config, "trainer.min_epochs")
    if isinstance(epochs, int) and isinstance(least, int) and least > epochs:
        raise ScalegridError(f"trainer.min_epochs={least} is more than trainer.max_epochs={epochs}: lower it")


SLURM_EARLY_S = 60  # SLURM may send a job's --signal up to 60 s before the time asked for (man sbatch, --signal)
JOB_START_S = 30  # the least time a job should have before the earliest warning: starting Python, then training


def check_launcher_settings(config: Mapping[str, Any]) -> None:
    """Raise ScalegridError for SLURM launcher settings that cannot requeue a cell (``config`` holds ``hydra``).

    SLURM sends its warning (submitit's USR2, ``#SBATCH --signal=USR2@<signal_delay_s>``) ``signal_delay_s`` before
    the time limit, and up to 60 s earlier still. When that is at the job's start, the job gets it before its Python
    has a handler (the signal's default action ends the job: no requeue, no result) or before any training (every
    requeued job starts over, until max_num_timeout runs out).
    """
    timeout, delay = _lookup(config, "hydra.launcher.timeout_min"), _lookup(config, "hydra.launcher.signal_delay_s")
    if _number(timeout) is None or _number(delay) is None:
        return
    if timeout * 60 - delay - SLURM_EARLY_S < JOB_START_S:
        longest_delay = int(timeout * 60 - SLURM_EARLY_S - JOB_START_S)
        fix = (
            f"hydra.launcher.signal_delay_s={longest_delay} or less"
            if longest_delay >= 1
            else f"hydra.launcher.timeout_min={math.ceil((delay + SLURM_EARLY_S + JOB_START_S) / 60)} or more"
        )
        raise ScalegridError(
            f"hydra.launcher.timeout_min={timeout} is too short for hydra.launcher.signal_delay_s={delay}: SLURM "
            f"sends its requeue warning that long before the time limit, and up to {SLURM_EARLY_S} s earlier, so "
            f"the job would get it as it starts, before it can catch it; set {fix}"
        )
