"""The one exception type that speaks to the user."""


class ScalegridError(Exception):
    """Bad input or a broken environment: the message says what is wrong and what to do.

    Entry points print it as one line and exit with code 2.
    """
