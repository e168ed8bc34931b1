"""Label files (study D): 'name label' lines in their common shapes, separate train and test lists, clear errors."""

from pathlib import Path

import numpy as np
import pytest
from conftest import FAST_TRAINER, compose_config, tiny_images, write_image_folder

from scalegrid.data.image_sources import list_image_list, read_label_file
from scalegrid.errors import ScalegridError
from scalegrid.run.training import train

CLASSES = ("cat", "dog", "owl")


def _flat_images(tmp_path: Path) -> tuple[Path, list[Path]]:
    """Every generated image moved into one folder (the label files, not folders, say the class)."""
    tree = write_image_folder(tmp_path / "tree", per_class=8)
    flat = tmp_path / "images"
    flat.mkdir()
    images = []
    for path in sorted(tree.rglob("*.*")):
        images.append(path.rename(flat / path.name))
    return flat, images


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.jpg,1\nb,0\n", [("a.jpg", "1"), ("b", "0")]),
        ("name,label\na,1\nb,0\n", [("a", "1"), ("b", "0")]),
        ("image label\na 2\n\nb\t0\n", [("a", "2"), ("b", "0")]),
        ("file class\na cat\nb dog\n", [("a", "cat"), ("b", "dog")]),
        ("x y\na 1\nb 0\n", [("a", "1"), ("b", "0")]),  # a word above integer ids is a header
        ("a cat\nb dog\n", [("a", "cat"), ("b", "dog")]),
    ],
    ids=["comma", "comma header", "space header", "names with header", "unnamed header", "names"],
)
def test_label_file_shapes(tmp_path, text, expected):
    path = tmp_path / "labels.txt"
    path.write_text(text)
    assert [(name, label) for name, label, _ in read_label_file(path)] == expected


def test_the_header_can_be_forced(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("a 1\nb 0\n")
    assert [entry[0] for entry in read_label_file(path, header="true")] == ["b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("a,1,extra\n", r"line 1: 'a,1,extra' is not 'name,label'"), ("a\n", "line 1"), ("", "lists no images")],
)
def test_a_malformed_label_file_names_its_line(tmp_path, text, message):
    path = tmp_path / "labels.txt"
    path.write_text(text)
    with pytest.raises(ScalegridError, match=message):
        read_label_file(path)


def test_names_with_and_without_extension_and_separate_lists(tmp_path):
    flat, images = _flat_images(tmp_path)
    train_lines = ["name,label"] + [
        f"{p.stem if i % 2 else p.name},{CLASSES.index(p.stem[:3])}" for i, p in enumerate(images[:18])
    ]
    test_lines = [f"{p.stem} {p.stem[:3]}" for p in images[18:]]  # names as labels, no header, no extension
    (tmp_path / "train.txt").write_text("\n".join(train_lines) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(test_lines) + "\n")
    with pytest.raises(ScalegridError, match="the labels mix integer ids"):  # one file with ids, one with names
        list_image_list(flat, tmp_path / "train.txt", tmp_path / "test.txt")
    (tmp_path / "test.txt").write_text("\n".join(f"{p.stem} {CLASSES.index(p.stem[:3])}" for p in images[18:]) + "\n")
    listing = list_image_list(flat, tmp_path / "train.txt", tmp_path / "test.txt", class_names=list(CLASSES))
    assert len(listing) == len(images) and list(listing.paths) == images
    assert list(listing.splits) == ["train"] * 18 + ["test"] * (len(images) - 18)
    assert [listing.class_names[i] for i in listing.labels] == [p.stem[:3] for p in images]


def test_a_missing_image_is_named(tmp_path):
    flat, images = _flat_images(tmp_path)
    (tmp_path / "train.txt").write_text(f"{images[0].stem} 0\nnobody 1\n")
    with pytest.raises(ScalegridError, match=r"train.txt: 1 entr\(ies\) name no image under .*line 2: 'nobody'"):
        list_image_list(flat, tmp_path / "train.txt")


def test_a_run_on_label_files_tests_on_the_test_list(tmp_path):
    flat, images = _flat_images(tmp_path)
    (tmp_path / "train.txt").write_text("".join(f"{p.stem} {p.stem[:3]}\n" for p in images[:18]))
    (tmp_path / "test.txt").write_text("".join(f"{p.stem} {p.stem[:3]}\n" for p in images[18:]))
    overrides = ["data=image_list", f"runtime.data.root={flat}", f"runtime.data.train_list={tmp_path / 'train.txt'}"]
    overrides += [f"runtime.data.test_list={tmp_path / 'test.txt'}", *tiny_images(tmp_path), *FAST_TRAINER]
    overrides += ["model=simple_cnn", "logger=none", "trainer.max_epochs=1"]
    result = train(compose_config(overrides, output_dir=tmp_path / "run"))
    assert result.test_size == len(images) - 18 and result.train_size + result.val_size == 18
    assert result.test_source == "the given test split" and np.isclose(sum(map(sum, result.confusion_matrix)), 6)
