"""The one exception type that speaks to the user."""


class ScalegridError(Exception):
    """Bad input or a broken environment: the message says what is wrong and what to do.

    Entry points print it as one line and exit with code 2.
    """


class TrainingDiverged(Exception):
    """The training loss became NaN or infinite: the run stops at once and is recorded as ``diverged``.

    Not a ScalegridError: the input was valid, and in a grid a diverged cell is a result, not a mistake.
    """


class RunStopped(Exception):
    """The run was told to stop (SIGTERM, what a scheduler sends before it kills a job): not finished, not failed.

    ``last.ckpt`` holds the point it stopped at; the entry point says so in one line and exits with 143 (128 +
    SIGTERM), and a grid prints its summary and stops. Running the same command again resumes.
    """


USAGE_ERROR = 2  # bad input: nothing was trained (every entry point)
STOPPED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a process that SIGTERM ended


def user_message(error: BaseException) -> str:
    """An error's message for the user: also one line when a DataLoader worker raised it, where torch puts the
    worker's whole traceback in front ("Caught ScalegridError in DataLoader worker process 0. Original Traceback...")."""
    text = str(error)
    first, _, rest = text.partition("\n")
    if not (first.startswith("Caught ") and "in DataLoader worker process" in first) or not rest:
        return text
    last = rest.rstrip().splitlines()[-1]
    for name in (f"{type(error).__module__}.{type(error).__qualname__}", type(error).__qualname__):
        if last.startswith(f"{name}: "):
            return last[len(name) + 2 :]
    return last
