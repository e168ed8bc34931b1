"""Seeded, stratified splitting and nested subsetting: pure functions on label arrays."""

from __future__ import annotations

import numpy as np

from scalegrid.errors import ScalegridError

# Distinct streams so the validation split and the fraction subset are independent draws of one split seed.
_VAL_STREAM = 0
_FRACTION_STREAM = 1
_TEST_STREAM = 2
_TEST_SUBSET_STREAM = 3
_VAL_EVAL_STREAM = 4


def _class_permutations(labels: np.ndarray, indices: np.ndarray, seed: int, stream: int) -> dict[int, np.ndarray]:
    """Each class's members of ``indices``, in an order fixed by (seed, stream)."""
    rng = np.random.default_rng([seed, stream])
    members = {}
    for cls in np.unique(labels[indices]):
        in_class = np.sort(indices[labels[indices] == cls])
        members[int(cls)] = in_class[rng.permutation(len(in_class))]
    return members


def largest_remainder_counts(class_counts: dict[int, int], total: int) -> dict[int, int]:
    """Split ``total`` across classes in proportion to ``class_counts``, summing exactly to ``total``."""
    population = sum(class_counts.values())
    exact = {c: total * n / population for c, n in class_counts.items()}
    counts = {c: int(np.floor(q)) for c, q in exact.items()}
    leftover = total - sum(counts.values())
    for c in sorted(exact, key=lambda c: (counts[c] - exact[c], c))[:leftover]:
        counts[c] += 1
    return counts


def resolve_val_size(val_size: int | float, pool_size: int) -> int:
    """``val_size`` as a count: an int is a count, a float in (0, 1) a share of the pool, 0 no validation at all."""
    if val_size == 0:
        return 0  # train on the whole pool (study C): the run tests its last epoch
    if isinstance(val_size, float) and not float(val_size).is_integer():
        if not 0 < val_size < 1:
            raise ScalegridError(f"data.val_size={val_size} must be a count (int) or a share in (0, 1)")
        return max(1, int(round(val_size * pool_size)))
    count = int(val_size)
    if count < 1 or count >= pool_size:
        raise ScalegridError(
            f"data.val_size={val_size} must be at least 1 and smaller than the training set ({pool_size} images)"
        )
    return count


def _stratified_draw(labels: np.ndarray, count: int, seed: int, stream: int) -> np.ndarray:
    """``count`` indices of ``labels``, each class in proportion to its size, in an order fixed by (seed, stream); sorted."""
    indices = np.arange(len(labels))
    members = _class_permutations(labels, indices, seed, stream)
    counts = largest_remainder_counts({c: len(m) for c, m in members.items()}, count)
    chosen = np.concatenate([m[: counts[c]] for c, m in members.items()]) if members else indices[:0]
    return np.sort(chosen)


def split_train_val(labels: np.ndarray, val_size: int | float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of all indices of ``labels`` into (train pool, validation), both sorted."""
    labels = np.asarray(labels)
    val = _stratified_draw(labels, resolve_val_size(val_size, len(labels)), seed, _VAL_STREAM)
    return np.setdiff1d(np.arange(len(labels)), val), val


def stratified_subset(
    labels: np.ndarray, size: int | float | None, seed: int, key: str, stream: int, whole: str
) -> np.ndarray:
    """The indices of a fixed, stratified subset of a split (the setting ``data.<key>``), sorted.

    ``size`` is a count, a share in (0, 1), or None for every image (``whole`` names it in messages); the same
    (labels, size, seed) give the same images on every machine, so runs evaluated on a subset share its images.
    """
    labels = np.asarray(labels)
    if size is None:
        return np.arange(len(labels))
    allowed = f"must be a count (int), a share in (0, 1), or null ({whole})"
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise ScalegridError(f"data.{key}={size!r} {allowed}")
    if isinstance(size, float) and not float(size).is_integer():
        if not 0 < size < 1:
            raise ScalegridError(f"data.{key}={size} {allowed}")
        count = max(1, int(round(size * len(labels))))
    else:
        count = int(size)
        if count < 1:
            raise ScalegridError(f"data.{key}={size} must be at least 1 (or null: {whole})")
        count = min(count, len(labels))
    return _stratified_draw(labels, count, seed, stream)


def stratified_test_subset(labels: np.ndarray, size: int | float | None, seed: int) -> np.ndarray:
    """``data.test_subset``: a fixed stratified subset of the test set, so runs are compared on the same images."""
    return stratified_subset(labels, size, seed, "test_subset", _TEST_SUBSET_STREAM, "the whole test set")


def validation_subset(labels: np.ndarray, size: int | float | None, seed: int) -> np.ndarray:
    """``data.val_eval_size``: the fixed stratified part of the validation split that every epoch is evaluated on.

    The split itself (and with it the training pool) stays as ``data.val_size`` carved it; only what each epoch's
    validation reads shrinks, so checkpoint selection stays cheap where epochs are short.
    """
    return stratified_subset(labels, size, seed, "val_eval_size", _VAL_EVAL_STREAM, "the whole validation split")


def check_fraction(fraction: float) -> None:
    """Refuse a ``data.fraction`` outside (0, 1]."""
    if not 0 < fraction <= 1:
        raise ScalegridError(f"data.fraction={fraction} is outside (0, 1]: give the share of the training pool to use")


def nested_fraction(labels: np.ndarray, pool: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Stratified, seeded subset of ``pool`` holding ``fraction`` of each class, sorted.

    For one seed and pool the subsets are nested: the subset for a smaller fraction lies inside
    the subset for a larger one, so a data-size sweep changes only the amount of data.
    """
    check_fraction(fraction)
    labels = np.asarray(labels)
    pool = np.asarray(pool)
    members = _class_permutations(labels, pool, seed, _FRACTION_STREAM)
    chosen = []
    for cls, in_class in members.items():
        count = int(np.floor(fraction * len(in_class) + 0.5))  # round half up: monotone in fraction
        if count == 0:
            raise ScalegridError(
                f"data.fraction={fraction} leaves class {cls} with no training example "
                f"(it has {len(in_class)} in the pool): use a larger fraction"
            )
        chosen.append(in_class[:count])
    return np.sort(np.concatenate(chosen))


def select_classes(
    labels: np.ndarray, class_names: tuple[str, ...], requested: list[int | str]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Keep only the requested classes (ids or names), relabelled 0..k-1 in the order given.

    Returns (indices of the kept examples, their new labels, the kept class names).
    """
    valid = ", ".join(f"{index}={name}" for index, name in enumerate(class_names))
    ids = []
    for item in requested:
        if isinstance(item, str) and item in class_names:
            ids.append(class_names.index(item))
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(class_names):
            ids.append(item)
        else:
            raise ScalegridError(f"data.classes: unknown class {item!r}; valid ids and names: {valid}")
    repeated = sorted({class_names[i] for i in ids if ids.count(i) > 1})
    if repeated:
        raise ScalegridError(
            f"data.classes={list(requested)} names {', '.join(repeated)} more than once: name each class once"
        )
    if len(ids) < 2:
        raise ScalegridError(f"data.classes={list(requested)} must name at least two classes")
    labels = np.asarray(labels)
    relabel = np.full(len(class_names), -1)
    relabel[ids] = np.arange(len(ids))
    kept = np.flatnonzero(relabel[labels] >= 0)
    return kept, relabel[labels[kept]], tuple(class_names[i] for i in ids)


def check_share(key: str, share: float) -> float:
    """Refuse a split share outside (0, 1)."""
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise ScalegridError(f"data.{key}={share} must be a share in (0, 1), e.g. 0.1 for a tenth of each class")
    return float(share)


def _carve(
    labels: np.ndarray, indices: np.ndarray, share: float, seed: int, stream: int
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Take ``share`` of each class of ``indices`` (at least one image); returns (rest, carved, images left per class)."""
    members = _class_permutations(labels, indices, seed, stream)
    carved, left = [], {}
    for cls, in_class in members.items():
        count = max(1, int(np.floor(share * len(in_class) + 0.5)))
        carved.append(in_class[:count])
        left[cls] = len(in_class) - count
    carved = np.sort(np.concatenate(carved)) if carved else indices[:0]
    return np.setdiff1d(indices, carved), carved, left


def split_by_shares(
    labels: np.ndarray,
    given: np.ndarray | None,
    val_share: float,
    test_share: float,
    seed: int,
    class_names: tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded (train, val, test) indices, each sorted.

    ``given`` holds a split name per example ("train" | "val" | "test") or is None. Given splits are kept; a missing
    val or test split is carved from the training examples: ``test_share`` then ``val_share`` of each class, at
    least one image each, from independent streams of ``seed``. A given val split without a given test split is
    the test split (the held-out images are reported, never used for selection), and val is carved from train.
    """
    labels = np.asarray(labels)
    everything = np.arange(len(labels))
    train = everything if given is None else everything[given == "train"]
    if given is not None and (given == "val").any() and not (given == "test").any():
        given = np.where(given == "val", "test", given)
    splits = {}
    for name, share, stream in (("test", test_share, _TEST_STREAM), ("val", val_share, _VAL_STREAM)):
        if given is not None and (given == name).any():
            splits[name] = everything[given == name]
            continue
        train, splits[name], left = _carve(labels, train, share, seed, stream)
        for cls, count in left.items():
            if count < 1:
                total = int((labels == cls).sum())
                raise ScalegridError(
                    f"class {class_names[cls]!r} has {total} image(s): too few to give train, val and test one each "
                    f"(data.val_size={val_share}, data.test_size={test_share}); add images, or leave the class out "
                    "with data.classes"
                )
    present = set(np.unique(labels[train]).tolist())
    for cls, name in enumerate(class_names):
        if cls not in present:
            raise ScalegridError(
                f"class {name!r} has no training images: add some, or leave the class out with data.classes"
            )
    return np.sort(train), np.sort(splits["val"]), np.sort(splits["test"])
