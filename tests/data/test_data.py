"""The built-in datasets through the real loading code, on tiny files in the official formats."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from conftest import REAL_DATA, write_cifar10, write_mnist

from scalegrid.data import mnist
from scalegrid.data.augment import normalize, random_crop_reflect, random_horizontal_flip
from scalegrid.data.cifar import load_cifar10
from scalegrid.data.datamodule import BuiltinDataModule
from scalegrid.data.loaded_splits import forget_loaded
from scalegrid.data.loader import TensorBatchLoader
from scalegrid.data.mnist import load_mnist
from scalegrid.errors import ScalegridError


def test_cifar10_loads_through_torchvision(cifar_root):
    train = load_cifar10(cifar_root, train=True, download=False, verify_checksums=False)
    test = load_cifar10(cifar_root, train=False, download=False, verify_checksums=False)
    assert train.images.shape == (100, 3, 32, 32) and train.images.dtype == torch.uint8
    assert len(test) == 50 and train.class_names[0] == "airplane"
    assert np.bincount(train.labels.numpy()).tolist() == [10] * 10


def test_cifar10_checksum_mismatch_names_the_file(cifar_root):
    with pytest.raises(ScalegridError, match=r"data_batch_1 fails its md5 check"):
        load_cifar10(cifar_root, train=True, download=False, verify_checksums=True)


def test_cifar10_missing_batch_is_named(cifar_root):
    (cifar_root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(ScalegridError, match="data_batch_3 is missing"):
        load_cifar10(cifar_root, train=True, download=False, verify_checksums=False)


def test_cifar10_absent_without_download(tmp_path):
    with pytest.raises(ScalegridError, match="CIFAR-10 not found"):
        load_cifar10(tmp_path, train=True, download=False, verify_checksums=True)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_loads_gzipped_and_extracted_idx(tmp_path, compress):
    root = write_mnist(tmp_path, compress=compress)
    train = load_mnist(root, train=True, download=False, verify_checksums=False)
    assert train.images.shape == (200, 1, 28, 28)
    assert np.bincount(train.labels.numpy()).tolist() == [20] * 10
    assert len(load_mnist(root, train=False, download=False, verify_checksums=False)) == 50


def test_mnist_gz_checksum_mismatch_names_the_file(mnist_root):
    with pytest.raises(ScalegridError, match="train-images-idx3-ubyte.gz fails its md5 check"):
        load_mnist(mnist_root, train=True, download=False, verify_checksums=True)


def test_mnist_absent_without_download(tmp_path):
    with pytest.raises(ScalegridError, match="MNIST not found"):
        load_mnist(tmp_path, train=True, download=False, verify_checksums=True)


def test_mnist_truncated_file_is_refused(mnist_root):
    path = mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ScalegridError, match="train-images-idx3-ubyte.gz"):
        load_mnist(mnist_root, train=True, download=False, verify_checksums=False)


def test_datamodule_splits_keep_test_apart(mnist_root):
    module = BuiltinDataModule(
        "mnist", str(mnist_root), fraction=0.5, val_size=40, download=False, verify_checksums=False
    )
    module.setup("fit")
    assert len(module.val_set) == 40 and module.train_pool_size == 160
    assert len(module.train_set) == 80 and len(module.test_set) == 50
    assert np.bincount(module.train_set.labels.numpy()).tolist() == [8] * 10
    assert module.input_shape == (1, 28, 28) and module.num_classes == 10


def test_datamodule_train_and_val_are_disjoint(cifar_root):
    module = BuiltinDataModule("cifar10", str(cifar_root), val_size=20, verify_checksums=False, download=False)
    module.setup("fit")
    seen_train = {bytes(image.numpy()) for image in module.train_set.images}
    seen_val = {bytes(image.numpy()) for image in module.val_set.images}
    assert len(module.train_set) == 80 and not seen_train & seen_val


def test_missing_root_is_a_clear_error(tmp_path):
    module = BuiltinDataModule("cifar10", str(tmp_path / "nope"))
    with pytest.raises(ScalegridError, match="is not a directory"):
        module.setup("fit")


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ScalegridError, match="cifar10, mnist"):
        BuiltinDataModule("imagenet", "/tmp")


def test_loader_serves_every_image_once_per_epoch_in_a_new_order():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    from scalegrid.data.arrays import ImageArrays

    loader = TensorBatchLoader(ImageArrays(images, torch.arange(10), ("a",)), batch_size=4, shuffle=True, seed=3)
    first = torch.cat([labels for _, labels in loader])
    loader.sampler.set_epoch(1)
    second = torch.cat([labels for _, labels in loader])
    assert sorted(first.tolist()) == list(range(10)) == sorted(second.tolist())
    assert first.tolist() != second.tolist() and len(loader) == 3
    loader.sampler.set_epoch(0)
    assert torch.cat([labels for _, labels in loader]).tolist() == first.tolist()


def test_loader_drops_a_singleton_training_batch():
    from scalegrid.data.arrays import ImageArrays

    arrays = ImageArrays(torch.zeros(9, 1, 2, 2, dtype=torch.uint8), torch.zeros(9, dtype=torch.long), ("a",))
    assert len(TensorBatchLoader(arrays, 4, shuffle=True, drop_singleton=True)) == 2
    assert len(TensorBatchLoader(arrays, 4, shuffle=False)) == 3


def test_random_crop_matches_reflect_padding_then_crop():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    cropped = random_crop_reflect(images, padding=2, generator=generator)
    padded = torch.nn.functional.pad(images.float(), (2, 2, 2, 2), mode="reflect")
    for i in range(len(images)):
        windows = [padded[i, :, y : y + 8, x : x + 8] for y in range(5) for x in range(5)]
        assert any(torch.equal(cropped[i].float(), window) for window in windows)
    assert cropped.dtype == torch.uint8
    assert not torch.equal(cropped, images)


def test_flip_flips_about_half():
    images = torch.randint(0, 256, (400, 1, 4, 4), dtype=torch.uint8)
    flipped = random_horizontal_flip(images, generator=torch.Generator().manual_seed(0))
    is_flipped = torch.tensor([torch.equal(f, i.flip(2)) for f, i in zip(flipped, images, strict=True)])
    kept = torch.tensor([torch.equal(f, i) for f, i in zip(flipped, images, strict=True)])
    assert (is_flipped | kept).all() and 150 < int(is_flipped.sum()) < 250


def test_normalize_uses_the_statistics():
    images = torch.full((2, 1, 2, 2), 51, dtype=torch.uint8)
    assert torch.allclose(normalize(images, [0.1], [0.5]), torch.full((2, 1, 2, 2), 0.2))


@pytest.mark.skipif(not (REAL_DATA / "cifar-10-batches-py").is_dir(), reason="real CIFAR-10 not present")
def test_real_cifar10_passes_its_checksums():
    test = load_cifar10(REAL_DATA, train=False, download=False, verify_checksums=True)
    assert test.images.shape == (10000, 3, 32, 32)
    assert np.bincount(test.labels.numpy()).tolist() == [1000] * 10


@pytest.mark.skipif(not (REAL_DATA / "MNIST" / "raw").is_dir(), reason="real MNIST not present")
def test_real_mnist_gz_passes_its_checksums():
    test = load_mnist(REAL_DATA, train=False, download=False, verify_checksums=True)
    assert test.images.shape == (10000, 1, 28, 28)


def test_write_cifar10_helper_is_reusable(tmp_path):
    # Writing twice into one folder (as a grid's tests do) must not leave stale batches behind.
    write_cifar10(tmp_path, train_per_class=5)
    write_cifar10(tmp_path, train_per_class=10)
    assert len(load_cifar10(tmp_path, train=True, download=False, verify_checksums=False)) == 100


def test_class_subset_filters_train_val_and_test(cifar_root):
    module = BuiltinDataModule(
        "cifar10", str(cifar_root), val_size=10, classes=[5, 6, 7, 8, 9], verify_checksums=False, download=False
    )
    module.setup("fit")
    assert module.class_names == ("dog", "frog", "horse", "ship", "truck") and module.num_classes == 5
    assert len(module.train_set) + len(module.val_set) == 50 and len(module.test_set) == 25
    for split in (module.train_set, module.val_set, module.test_set):
        assert set(split.labels.tolist()) == set(range(5))


def test_image_size_resizes_batches_and_reports_the_model_input(cifar_root):
    module = BuiltinDataModule(
        "cifar10", str(cifar_root), val_size=20, image_size=64, verify_checksums=False, download=False
    )
    module.setup("fit")
    images, _ = module.on_after_batch_transfer(next(iter(module.val_dataloader())), 0)
    assert module.input_shape == (3, 64, 64) and images.shape[1:] == (3, 64, 64)


@pytest.mark.parametrize(
    ("imagenet", "mean", "expected"),
    [
        (False, None, (0.4914, 0.4822, 0.4465)),
        (True, None, (0.485, 0.456, 0.406)),
        (True, [0.5, 0.5, 0.5], (0.5, 0.5, 0.5)),
    ],
)
def test_normalisation_follows_the_weights_unless_configured(cifar_root, imagenet, mean, expected):
    std = None if mean is None else [0.25, 0.25, 0.25]
    module = BuiltinDataModule(
        "cifar10",
        str(cifar_root),
        val_size=20,
        mean=mean,
        std=std,
        imagenet_statistics=imagenet,
        verify_checksums=False,
        download=False,
    )
    module.setup("fit")
    assert module.mean == pytest.approx(expected)


def _mnist_module(root, **options) -> BuiltinDataModule:
    module = BuiltinDataModule("mnist", str(root), val_size=20, download=False, verify_checksums=False, **options)
    module.setup("fit")
    return module


def test_cells_in_one_process_share_the_decoded_files_until_a_file_changes(tmp_path, monkeypatch):
    """A grid's cells over the same files read them once per process; a rewritten file is read again."""
    root = write_mnist(tmp_path, train_per_class=20)
    reads = []
    real_read = mnist._read_idx
    monkeypatch.setattr(
        mnist, "_read_idx", lambda *args, **kwargs: reads.append(args[0].name) or real_read(*args, **kwargs)
    )
    forget_loaded()
    first = _mnist_module(root, fraction=1.0)
    assert len(reads) == 4  # images and labels of the two splits, once (prepare_data and setup included)
    second = _mnist_module(root, fraction=0.5, split_seed=1)
    assert len(reads) == 4  # nothing read again
    assert len(second.train_set) < len(first.train_set)  # each cell still makes its own split and subset
    assert torch.equal(first.test_set.images, second.test_set.images)

    write_mnist(tmp_path, train_per_class=30, seed=1)  # the files change under the same names
    third = _mnist_module(root)
    assert len(reads) == 8
    assert len(third.train_set) + len(third.val_set) == 300
    forget_loaded()


def test_a_loader_kept_on_a_device_serves_the_same_batches_from_there():
    """On a GPU the split and each epoch's order live on the device; the batches are the ones a host loader gives.
    (Checked with the CPU as the device here; bench/gpu_parity.py runs it on a GPU.)"""
    from scalegrid.data.arrays import ImageArrays
    from scalegrid.data.loader import resident_device

    arrays = ImageArrays(torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1), torch.arange(10), ("a",))
    host = TensorBatchLoader(arrays, batch_size=4, shuffle=True, seed=3)
    kept = TensorBatchLoader(arrays, batch_size=4, device=torch.device("cpu"), shuffle=True, seed=3)
    assert kept.sampler.index_device == torch.device("cpu")
    for (images, labels), (kept_images, kept_labels) in zip(host, kept, strict=True):
        assert torch.equal(images, kept_images) and torch.equal(labels, kept_labels)
    assert resident_device(None) is None
    assert resident_device(pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)) is None


def test_with_checksums_the_verified_gz_is_read_not_an_extracted_file_beside_it(tmp_path):
    """An extracted MNIST file beside its .gz was read unverified; with checksums on, the .gz (checked) is read."""
    root = write_mnist(tmp_path, compress=True)
    raw = root / "MNIST" / "raw"
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / stem).write_bytes(b"not the real file")  # a damaged extracted copy beside the .gz
    with pytest.raises(ScalegridError, match=r"t10k-images-idx3-ubyte.gz fails its md5 check"):  # the .gz is checked
        load_mnist(root, train=False, download=False, verify_checksums=True)
    with pytest.raises(ScalegridError, match=r"t10k-images-idx3-ubyte is not a 3-d unsigned-byte IDX file"):
        load_mnist(root, train=False, download=False, verify_checksums=False)  # unverified: the extracted file
