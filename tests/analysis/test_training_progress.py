"""Whether a run was still learning when it stopped, from its accuracy history."""

from scalegrid.analysis.training_progress import last_epochs_gain, still_improving


def test_rising_to_the_end_is_still_improving():
    assert still_improving([0.80, 0.85, 0.88, 0.90])
    assert still_improving([0.5, 0.6])  # two epochs: the last step counts
    assert last_epochs_gain([0.80, 0.85, 0.88, 0.90]) == 0.90 - 0.85


def test_a_plateau_or_a_fall_is_not():
    assert not still_improving([0.80, 0.90, 0.902, 0.902])  # gained 0.2 points over the last two epochs
    assert not still_improving([0.80, 0.95, 0.90, 0.93])  # rose at the end but below its best
    assert not still_improving([0.9])  # one epoch: nothing to compare
    assert not still_improving([])
    assert last_epochs_gain([0.9]) is None


def test_long_histories_look_at_their_last_quarter():
    rising_early = [0.5 + 0.05 * k for k in range(8)] + [0.9] * 8  # flat for the last half
    assert not still_improving(rising_early)
    assert still_improving([0.9] * 12 + [0.9, 0.91, 0.92, 0.93])
