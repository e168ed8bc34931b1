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
    (splits / "extras").mkdir()
    with pytest.raises(ScalegridError, match="must be the splits train, val and test; rename or move extras"):
        list_image_folder(splits)
    shutil.rmtree(splits / "extras")
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


# --- hardening: split leaks and wrong classes (issue 20, class 4) -------------------------------------------------


@pytest.mark.parametrize("names", [("Train", "Test"), ("TRAIN", "Validation"), ("train", "VAL")])
def test_split_folders_are_matched_without_regard_to_case(tmp_path: Path, names) -> None:
    root = write_image_folder(tmp_path / "images", layout="splits", per_class=4)
    (root / "train").rename(root / names[0])
    (root / "test").rename(root / names[1])
    listing = list_image_folder(root)
    assert listing.class_names == ("cat", "dog", "owl")  # the classes, never "Train" and "Test"
    assert set(listing.splits) == {"train", "test" if names[1].lower() == "test" else "val"}


def test_two_folders_of_one_split_are_refused(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", layout="splits", per_class=4)
    shutil.copytree(root / "test", root / "Val")
    shutil.copytree(root / "test", root / "validation")
    with pytest.raises(ScalegridError, match=r"has two val folders \(Val/ and validation/\)"):
        list_image_folder(root)


@pytest.mark.parametrize("where", ["root", "class folder", "split folder"])
def test_links_back_into_the_tree_are_not_followed(tmp_path: Path, where) -> None:
    layout = "splits" if where == "split folder" else "flat"
    root = write_image_folder(tmp_path / "images", layout=layout, per_class=4)
    plain = list_image_folder(root)
    link = {
        "root": root / "loop",
        "class folder": root / "cat" / "again",
        "split folder": root / "train" / "dog" / "up",
    }
    link[where].symlink_to(root if where != "class folder" else root / "cat", target_is_directory=True)
    listing = list_image_folder(root)
    assert listing.class_names == plain.class_names and len(listing) == len(plain)


def test_a_linked_folder_outside_the_tree_is_followed(tmp_path: Path) -> None:
    elsewhere = write_image_folder(tmp_path / "elsewhere", per_class=3, classes=("owl",))
    root = write_image_folder(tmp_path / "images", per_class=3, classes=("cat", "dog"))
    (root / "owl").symlink_to(elsewhere / "owl", target_is_directory=True)
    assert list_image_folder(root).class_names == ("cat", "dog", "owl")


def test_one_class_is_a_clear_error(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", per_class=3, classes=("cat",))
    with pytest.raises(ScalegridError, match=r"has images of one class only \(cat\): a classifier needs at least two"):
        list_image_folder(root)
    csv_file = _write_csv(root / "labels.csv", ["path,label", *(f"cat/{p.name},cat" for p in (root / "cat").iterdir())])
    with pytest.raises(ScalegridError, match="one class only"):
        list_image_csv(csv_file)


def _csv_of(root: Path, rows: list[str], split: bool = False) -> Path:
    header = "path,label,split" if split else "path,label"
    return _write_csv(root / "labels.csv", [header, *rows])


def test_a_file_listed_with_two_labels_is_refused(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "images", per_class=2)
    cat, dog = sorted((root / "cat").iterdir())[0], sorted((root / "dog").iterdir())[0]
    rows = [f"cat/{cat.name},cat", f"dog/{dog.name},dog", f"cat/{cat.name},dog"]
    with pytest.raises(ScalegridError, match=rf"cat/{cat.name} is listed with two labels \(cat and dog\)"):
        list_image_csv(_csv_of(root, rows))
    (root / "dog" / "alias.png").symlink_to(cat)  # the same file under another name, in another class folder
    with pytest.raises(ScalegridError, match="is listed with two labels"):
        list_image_folder(root)


@pytest.mark.parametrize(("first", "second"), [("train", "test"), ("val", "test"), ("train", "val")])
def test_a_file_in_two_splits_is_refused(tmp_path: Path, first, second) -> None:
    root = write_image_folder(tmp_path / "images", per_class=2)
    cat, dog = sorted((root / "cat").iterdir())[0], sorted((root / "dog").iterdir())[0]
    rows = [f"cat/{cat.name},cat,{first}", f"dog/{dog.name},dog,train", f"cat/{cat.name},cat,{second}"]
    with pytest.raises(
        ScalegridError, match=rf"is in two splits \({first} and {second}\): an image in two splits leaks"
    ):
        list_image_csv(_csv_of(root, rows, split=True), split_column="split")


def test_a_row_repeated_alike_is_kept_once(tmp_path: Path, caplog) -> None:
    root = write_image_folder(tmp_path / "images", per_class=2)
    cats, dogs = sorted((root / "cat").iterdir()), sorted((root / "dog").iterdir())
    rows = [f"cat/{cats[0].name},cat", f"cat/{cats[1].name},cat", f"dog/{dogs[0].name},dog", f"cat/{cats[0].name},cat"]
    rows.append(f"./cat/{cats[1].name},cat")  # the same file written another way
    with caplog.at_level("WARNING"):
        listing = list_image_csv(_csv_of(root, rows))
    assert len(listing) == 3 and sorted(p.name for p in listing.paths) == sorted(
        [cats[0].name, cats[1].name, dogs[0].name]
    )
    assert "2 image(s) listed more than once, kept once" in caplog.text
