"""Listing a user's images: both folder layouts and label CSVs, with one clear line for each kind of bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image_folder

from scalegrid.data.image_sources import list_image_csv, list_image_folder
from scalegrid.errors import ScalegridError


def test_flat_folder_lists_every_image_with_its_class(image_folder: Path) -> None:
    (image_folder / "cat" / "notes.txt").write_text("not an image")
    (image_folder / "dog" / ".DS_Store").write_bytes(b"\0")
    listing = list_image_folder(image_folder)
    assert listing.class_names == ("cat", "dog", "owl")
    assert len(listing) == 36 and listing.splits is None
    assert np.bincount(listing.labels).tolist() == [12, 12, 12]
    assert {p.suffix for p in listing.paths} >= {".jpg", ".PNG", ".JPG", ".TIF", ".gif", ".webp", ".bmp"}
    assert all(
        p.parent.name == listing.class_names[label] for p, label in zip(listing.paths, listing.labels, strict=True)
    )
    assert not any(p.name in ("notes.txt", ".DS_Store") for p in listing.paths)


def test_split_folder_keeps_the_given_splits(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", layout="splits")
    listing = list_image_folder(root)
    assert listing.class_names == ("cat", "dog", "owl")
    assert sorted(set(listing.splits.tolist())) == ["test", "train"]
    for path, split in zip(listing.paths, listing.splits, strict=True):
        assert path.parent.parent.name == split


def test_folder_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ScalegridError, match="is not a directory"):
        list_image_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScalegridError, match="has no class folders"):
        list_image_folder(tmp_path / "empty")

    root = write_image_folder(tmp_path / "flat", per_class=3)
    (root / "emu").mkdir()
    (root / "emu" / "readme.txt").write_text("soon")
    with pytest.raises(ScalegridError, match=r"class folder .*emu holds no images"):
        list_image_folder(root)

    splits = write_image_folder(tmp_path / "splits", layout="splits", per_class=5)
    (splits / "validation").mkdir()
    with pytest.raises(ScalegridError, match="must be the splits train, val and test; rename or move validation"):
        list_image_folder(splits)
    shutil.rmtree(splits / "validation")
    shutil.copytree(splits / "test" / "cat", splits / "test" / "emu")
    with pytest.raises(ScalegridError, match=r"test/emu is a class that .*train does not have"):
        list_image_folder(splits)


def _write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_csv_with_label_names_and_a_split_column(image_folder: Path) -> None:
    rows = ["file,species,part"]
    for i, path in enumerate(sorted(image_folder.rglob("*.*"))):
        rows.append(f"{path.relative_to(image_folder)},{path.parent.name},{'test' if i % 5 == 0 else 'Train'}")
    listing = list_image_csv(
        _write_csv(image_folder / "labels.csv", rows), path_column="file", label_column="species", split_column="part"
    )
    assert listing.class_names == ("cat", "dog", "owl") and len(listing) == 36
    assert sorted(set(listing.splits.tolist())) == ["test", "train"]
    assert all(
        p.parent.name == listing.class_names[label] for p, label in zip(listing.paths, listing.labels, strict=True)
    )


def test_csv_with_integer_labels_and_an_image_root(tmp_path: Path, image_folder: Path) -> None:
    names = ["cat", "dog", "owl"]
    rows = ["path,label"] + [
        f"{p.relative_to(image_folder)},{names.index(p.parent.name)}" for p in sorted(image_folder.rglob("*.*"))
    ]
    csv_file = _write_csv(tmp_path / "elsewhere.csv", rows)
    plain = list_image_csv(csv_file, image_root=image_folder)
    assert plain.class_names == ("0", "1", "2") and np.bincount(plain.labels).tolist() == [12, 12, 12]
    named = list_image_csv(csv_file, image_root=image_folder, class_names=names)
    assert named.class_names == tuple(names)
    assert all(p.parent.name == names[label] for p, label in zip(named.paths, named.labels, strict=True))


def test_csv_errors_name_the_file_and_line(tmp_path: Path, image_folder: Path) -> None:
    good = "cat/cat_000.jpg"
    with pytest.raises(ScalegridError, match="is not a file"):
        list_image_csv(tmp_path / "missing.csv")
    with pytest.raises(ScalegridError, match=r"has no column 'label' \(data.label_column\); its columns are: path, y"):
        list_image_csv(_write_csv(image_folder / "a.csv", ["path,y", f"{good},cat"]))
    with pytest.raises(ScalegridError, match=r"1 row\(s\) point at no file .*line 3: 'cat/gone.jpg'"):
        list_image_csv(_write_csv(image_folder / "b.csv", ["path,label", f"{good},cat", "cat/gone.jpg,cat"]))
    with pytest.raises(ScalegridError, match=r"c.csv line 3: unknown label 'cow'; data.class_names lists cat, dog"):
        list_image_csv(
            _write_csv(image_folder / "c.csv", ["path,label", f"{good},cat", f"{good},cow"]), class_names=["cat", "dog"]
        )
    with pytest.raises(ScalegridError, match=r"d.csv line 2: unknown label 5: integer labels must be 0..1"):
        list_image_csv(
            _write_csv(image_folder / "d.csv", ["path,label", f"{good},5", f"{good},0"]), class_names=["cat", "dog"]
        )
    with pytest.raises(
        ScalegridError, match=r"e.csv line 2: split 'holdout' in column 'split' is not train, val or test"
    ):
        list_image_csv(
            _write_csv(image_folder / "e.csv", ["path,label,split", f"{good},cat,holdout"]), split_column="split"
        )
    with pytest.raises(ScalegridError, match=r"f.csv line 3: the label is empty"):
        list_image_csv(_write_csv(image_folder / "f.csv", ["path,label", f"{good},cat", f"{good},"]))
