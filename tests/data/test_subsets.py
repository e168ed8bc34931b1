import numpy as np
import pytest
from conftest import write_cifar10

from scalegrid.data.subsets import (
    check_share,
    largest_remainder_counts,
    nested_fraction,
    resolve_val_size,
    select_classes,
    split_by_shares,
    split_train_val,
    stratified_test_subset,
)
from scalegrid.errors import ScalegridError


@pytest.fixture
def labels():
    # Unbalanced on purpose: class 0 has 300 members, class 1 has 200, class 2 has 100.
    return np.random.default_rng(1).permutation(np.repeat([0, 1, 2], [300, 200, 100]))


def test_validation_split_is_stratified_disjoint_and_complete(labels):
    train, val = split_train_val(labels, 60, seed=0)
    assert len(val) == 60 and len(train) == 540
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    assert np.bincount(labels[val]).tolist() == [30, 20, 10]


def test_validation_split_as_share(labels):
    _, val = split_train_val(labels, 0.1, seed=0)
    assert len(val) == 60


def test_split_depends_on_seed_only(labels):
    assert np.array_equal(split_train_val(labels, 60, 3)[1], split_train_val(labels, 60, 3)[1])
    assert not np.array_equal(split_train_val(labels, 60, 3)[1], split_train_val(labels, 60, 4)[1])


def test_fraction_is_stratified(labels):
    pool, _ = split_train_val(labels, 60, seed=0)
    subset = nested_fraction(labels, pool, 0.5, seed=0)
    assert np.bincount(labels[subset]).tolist() == [135, 90, 45]
    assert np.isin(subset, pool).all()


def test_fractions_are_nested_for_one_seed(labels):
    pool, _ = split_train_val(labels, 60, seed=7)
    small, half, full = (set(nested_fraction(labels, pool, f, seed=7)) for f in (1 / 16, 0.5, 1.0))
    assert small < half < full
    assert full == set(pool)


def test_fraction_subset_changes_with_seed(labels):
    pool = np.arange(len(labels))
    assert set(nested_fraction(labels, pool, 0.25, 0)) != set(nested_fraction(labels, pool, 0.25, 1))


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5])
def test_fraction_outside_unit_interval_is_refused(labels, fraction):
    with pytest.raises(ScalegridError, match="data.fraction"):
        nested_fraction(labels, np.arange(len(labels)), fraction, 0)


def test_fraction_that_empties_a_class_is_refused(labels):
    with pytest.raises(ScalegridError, match="no training example"):
        nested_fraction(labels, np.arange(len(labels)), 0.001, 0)


@pytest.mark.parametrize("val_size", [600, 1.5, -3])
def test_bad_val_size_is_refused(val_size):
    with pytest.raises(ScalegridError, match="data.val_size"):
        resolve_val_size(val_size, 600)


def test_val_size_zero_keeps_the_whole_training_set():
    labels = np.repeat(np.arange(3), 4)
    pool, val = split_train_val(labels, 0, seed=0)
    assert resolve_val_size(0, 600) == 0 and len(val) == 0 and np.array_equal(pool, np.arange(12))


def test_a_given_val_split_without_a_test_split_becomes_the_test_split():
    labels = np.repeat(np.arange(2), 10)
    given = np.array(["train"] * 7 + ["val"] * 3 + ["train"] * 7 + ["val"] * 3)
    train, val, test = split_by_shares(labels, given, 0.2, 0.1, 0, ("a", "b"))
    assert np.array_equal(test, np.flatnonzero(given == "val"))  # reported, never used for selection
    assert set(val) <= set(np.flatnonzero(given == "train")) and len(val) == 2  # carved from train, 0.2 of each
    assert not set(train) & (set(val) | set(test))


def test_largest_remainder_sums_exactly():
    counts = largest_remainder_counts({0: 1, 1: 1, 2: 1}, 2)
    assert sum(counts.values()) == 2 and sorted(counts.values()) == [0, 1, 1]


def test_select_classes_by_id_and_name_relabels_in_the_given_order():
    labels = np.array([0, 1, 2, 3, 2, 1, 0, 3])
    names = ("cat", "dog", "fox", "owl")
    kept, relabelled, kept_names = select_classes(labels, names, ["owl", 1])
    assert kept.tolist() == [1, 3, 5, 7]
    assert relabelled.tolist() == [1, 0, 1, 0] and kept_names == ("owl", "dog")


@pytest.mark.parametrize("requested", [[0, 9], ["cat", "wolf"], [1, 1], [2]])
def test_select_classes_refuses_unknown_or_degenerate_requests(requested):
    with pytest.raises(ScalegridError, match="data.classes"):
        select_classes(np.array([0, 1, 2, 3]), ("cat", "dog", "fox", "owl"), requested)


NAMES = ("a", "b", "c")


def test_shares_split_is_stratified_disjoint_complete_and_seeded() -> None:
    labels = np.repeat(np.arange(3), [40, 20, 10])
    train, val, test = split_by_shares(labels, None, 0.1, 0.2, seed=0, class_names=NAMES)
    assert len(np.intersect1d(train, val)) == len(np.intersect1d(train, test)) == len(np.intersect1d(val, test)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(len(labels)))
    assert np.bincount(labels[test]).tolist() == [8, 4, 2]  # 20 % of each class
    assert np.bincount(labels[val]).tolist() == [3, 2, 1]  # 10 % of what is left, at least one
    again = split_by_shares(labels, None, 0.1, 0.2, seed=0, class_names=NAMES)
    other = split_by_shares(labels, None, 0.1, 0.2, seed=1, class_names=NAMES)
    assert all(np.array_equal(x, y) for x, y in zip((train, val, test), again, strict=True))
    assert not np.array_equal(test, other[2])


def test_given_splits_are_kept_and_a_missing_val_is_carved_from_train() -> None:
    labels = np.repeat(np.arange(3), 10)
    given = np.where(np.arange(30) % 5 == 0, "test", "train")
    train, val, test = split_by_shares(labels, given, 0.25, 0.5, seed=0, class_names=NAMES)
    assert np.array_equal(test, np.flatnonzero(given == "test"))  # test_size is not used: test was given
    assert np.all(given[val] == "train") and np.bincount(labels[val]).tolist() == [2, 2, 2]
    assert len(train) == 30 - 6 - 6


def test_too_few_images_for_a_split_is_one_clear_error() -> None:
    labels = np.array([0] * 10 + [1] * 10 + [2] * 2)
    with pytest.raises(ScalegridError, match="class 'c' has 2 image.*too few to give train, val and test one each"):
        split_by_shares(labels, None, 0.1, 0.1, seed=0, class_names=NAMES)
    given = np.array(["train"] * 20 + ["test"] * 2)
    with pytest.raises(ScalegridError, match="class 'c' has no training images"):
        split_by_shares(labels, given, 0.1, 0.1, seed=0, class_names=NAMES)


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.1, True, "a"])
def test_shares_outside_the_open_unit_interval_are_refused(share) -> None:
    with pytest.raises(ScalegridError, match=r"data.val_size=.* must be a share in \(0, 1\)"):
        check_share("val_size", share)


def test_the_test_subset_is_fixed_stratified_and_named(tmp_path):
    from scalegrid.data.datamodule import BuiltinDataModule

    root = write_cifar10(tmp_path, train_per_class=10, test_per_class=9)
    options = dict(name="cifar10", root=str(root), val_size=20, download=False, verify_checksums=False)
    whole = BuiltinDataModule(**options)
    whole.setup()
    subsets = []
    for _ in range(2):
        module = BuiltinDataModule(**options, test_subset=30)
        module.setup()
        subsets.append(module.test_set.labels.numpy())
    assert len(whole.test_set.labels) == 90 and whole.test_source == "the official test set"
    assert np.array_equal(subsets[0], subsets[1]) and np.bincount(subsets[0]).tolist() == [3] * 10
    assert module.test_source == "a fixed stratified 30 of the 90 official test images"


def test_a_test_subset_is_a_count_or_a_share_per_class_and_refuses_nonsense(labels):
    assert len(stratified_test_subset(labels, None, 0)) == 600
    chosen = stratified_test_subset(labels, 60, seed=3)
    assert np.bincount(labels[chosen]).tolist() == [30, 20, 10] and np.all(np.diff(chosen) > 0)
    assert np.array_equal(chosen, stratified_test_subset(labels, 60, seed=3))
    assert not np.array_equal(chosen, stratified_test_subset(labels, 60, seed=4))
    assert len(stratified_test_subset(labels, 0.5, 0)) == 300 and len(stratified_test_subset(labels, 5000, 0)) == 600
    for bad in (0, -3, 1.5, "abc", True):
        with pytest.raises(ScalegridError, match="data.test_subset="):
            stratified_test_subset(labels, bad, 0)
