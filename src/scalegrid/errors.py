"""The one exception type that speaks to the user."""


class ScalegridError(Exception):
    """Bad input or a broken environment: the message says what is wrong and what to do.

    Entry points print it as one line and exit with code 2.
    """


class TrainingDiverged(Exception):
    """The training loss became NaN or infinite: the run stops at once and is recorded as ``diverged``.

    Not a ScalegridError: the input was valid, and in a grid a diverged cell is a result, not a mistake.
    """
