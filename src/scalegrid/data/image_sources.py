"""Listing a user's images: a folder per class (optionally under train/ val/ test/), or a CSV of paths and labels."""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalegrid.data.images import IMAGE_EXTENSIONS, is_image_file
from scalegrid.errors import ScalegridError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_EXTENSIONS = ", ".join(sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS))


@dataclass(frozen=True)
class ImageListing:
    """Every image of a custom dataset: its file, its class id and, when the source gives one, its split."""

    paths: tuple[Path, ...]
    labels: np.ndarray  # int64 class ids into class_names
    class_names: tuple[str, ...]
    splits: np.ndarray | None  # "train" | "val" | "test" per image; None when the source names no splits
    source: Path  # the folder or CSV file, for messages and the cache's name

    def __len__(self) -> int:
        return len(self.paths)

    def select(self, indices: np.ndarray) -> ImageListing:
        indices = np.asarray(indices, dtype=np.int64)
        return ImageListing(
            tuple(self.paths[i] for i in indices),
            self.labels[indices],
            self.class_names,
            None if self.splits is None else self.splits[indices],
            self.source,
        )


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _leads_back(link: Path, tree: Path) -> bool:
    """Whether a linked folder leads back into ``tree`` (the dataset's folder), where its images are listed already."""
    target, tree = link.resolve(), tree.resolve()
    return target == tree or tree in target.parents or target in tree.parents


def _files_under(folder: Path, tree: Path) -> list[Path]:
    """Visible files under ``folder``, sorted; linked folders are followed unless they lead back into ``tree`` or to a
    folder already walked (a loop)."""
    files, walked = [], {folder.resolve()}
    for current, dirnames, filenames in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(dirnames):
            path = Path(current) / name
            if name.startswith(".") or path.resolve() in walked:
                continue
            if path.is_symlink() and _leads_back(path, tree):
                log.warning("%s links back into %s: not followed (its images are listed where they are)", path, tree)
                continue
            walked.add(path.resolve())
            kept.append(name)
        dirnames[:] = kept
        files += [Path(current) / name for name in filenames if not name.startswith(".")]
    return sorted(path for path in files if path.is_file())


def _images_in(class_dir: Path, tree: Path | None = None) -> list[Path]:
    """Image files under ``class_dir`` (recursively, sorted); refuses a folder with none."""
    files = _files_under(class_dir, tree or class_dir)
    images = [p for p in files if is_image_file(p)]
    others = [p for p in files if not is_image_file(p)]
    if others:
        log.warning(
            "%s: %d file(s) without an image extension left out, e.g. %s", class_dir, len(others), others[0].name
        )
    if not images:
        raise ScalegridError(
            f"class folder {class_dir} holds no images ({_EXTENSIONS}): add images or remove the folder"
        )
    return images


def _class_dirs(folder: Path, tree: Path | None = None) -> list[Path]:
    """The visible folders in ``folder``; a linked one that leads back into ``tree`` is left out (and said)."""
    folders = []
    for entry in sorted(d for d in folder.iterdir() if d.is_dir() and _visible(d)):
        if entry.is_symlink() and _leads_back(entry, tree or folder):
            log.warning("%s links back into %s: not a class folder, not followed", entry, tree or folder)
            continue
        folders.append(entry)
    return folders


def _split_folders(root: Path) -> dict[str, Path]:
    """The split folders of ``root`` by split, their names matched without regard to case (Train/, VAL/, valid/)."""
    found: dict[str, Path] = {}
    for folder in _class_dirs(root):
        split = _SPLIT_ALIASES.get(folder.name.lower())
        if split is None:
            continue
        if split in found:
            raise ScalegridError(
                f"runtime.data.root={root} has two {split} folders ({found[split].name}/ and {folder.name}/): merge them"
            )
        found[split] = folder
    return found


def list_image_folder(root: Path) -> ImageListing:
    """``root/<class>/*``, or ``root/{train,val,test}/<class>/*`` when ``root`` has a ``train`` folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ScalegridError(
            f"runtime.data.root={root} is not a directory: set DATA_DIR or runtime.data.root to the folder of class folders"
        )
    folders = _class_dirs(root)
    if not folders:
        raise ScalegridError(
            f"runtime.data.root={root} has no class folders: put the images in {root}/<class>/ or {root}/train/<class>/"
        )
    subdirs = _split_folders(root)
    if "train" not in subdirs:
        names = [folder.name for folder in folders]
        paths, labels = [], []
        for label, folder in enumerate(folders):
            images = _images_in(folder, root)
            paths += images
            labels += [label] * len(images)
        listing = ImageListing(tuple(paths), np.asarray(labels, dtype=np.int64), tuple(names), None, root)
        return checked_listing(listing)

    unexpected = sorted(folder.name for folder in folders if folder not in subdirs.values())
    if unexpected:
        raise ScalegridError(
            f"runtime.data.root={root} has a train/ folder, so its subfolders must be the splits train, val and test; "
            f"rename or move {', '.join(unexpected)}"
        )
    names = [d.name for d in _class_dirs(subdirs["train"], root)]
    if not names:
        raise ScalegridError(f"{subdirs['train']} has no class folders: put the images in {subdirs['train']}/<class>/")
    paths, labels, splits = [], [], []
    for split in SPLITS:
        if split not in subdirs:
            continue
        for class_dir in _class_dirs(subdirs[split], root):
            if class_dir.name not in names:
                raise ScalegridError(
                    f"{class_dir} is a class that {subdirs['train']} does not have: add it to train/ or remove it"
                )
            images = _images_in(class_dir, root)
            paths += images
            labels += [names.index(class_dir.name)] * len(images)
            splits += [split] * len(images)
    listing = ImageListing(tuple(paths), np.asarray(labels, dtype=np.int64), tuple(names), np.asarray(splits), root)
    return checked_listing(listing)


def _read_rows(csv_file: Path, columns: dict[str, str | None]) -> list[dict[str, str]]:
    try:
        with open(csv_file, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            for key, column in columns.items():
                if column is not None and column not in header:
                    raise ScalegridError(
                        f"{csv_file} has no column {column!r} (data.{key}); its columns are: {', '.join(header)}"
                    )
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise ScalegridError(f"{csv_file} is not a readable CSV file: {error}") from error


def _class_ids(raw_labels: list[str], class_names: list[str] | None, csv_file: Path) -> tuple[list[int], list[str]]:
    """Labels as class ids: integers are ids (0..K-1), anything else a class name."""
    for line, label in enumerate(raw_labels, start=2):
        if not label:
            raise ScalegridError(f"{csv_file} line {line}: the label is empty; give every image a label")
    is_id = [bool(re.fullmatch(r"-?\d+", label)) for label in raw_labels]
    integers = all(is_id)
    if any(is_id) and not integers:
        an_id, a_name = raw_labels[is_id.index(True)], raw_labels[is_id.index(False)]
        raise ScalegridError(
            f"{csv_file}: the labels mix integer ids (e.g. {an_id!r}) and names (e.g. {a_name!r}): use one kind "
            "(ids with data.class_names to name them)"
        )
    if integers:
        ids = [int(label) for label in raw_labels]
        count = len(class_names) if class_names is not None else max(ids) + 1
        for line, label in enumerate(ids, start=2):
            if not 0 <= label < count:
                raise ScalegridError(
                    f"{csv_file} line {line}: unknown label {label}: integer labels must be 0..{count - 1}"
                    + ("" if class_names is None else " (one per name in data.class_names)")
                )
        names = class_names if class_names is not None else [str(i) for i in range(count)]
        return ids, list(names)
    names = class_names if class_names is not None else sorted(set(raw_labels))
    index = {name: i for i, name in enumerate(names)}
    for line, label in enumerate(raw_labels, start=2):
        if label not in index:
            raise ScalegridError(
                f"{csv_file} line {line}: unknown label {label!r}; data.class_names lists {', '.join(names)}"
            )
    return [index[label] for label in raw_labels], list(names)


def list_image_csv(
    csv_file: Path,
    path_column: str = "path",
    label_column: str = "label",
    split_column: str | None = None,
    image_root: Path | None = None,
    class_names: list[str] | None = None,
) -> ImageListing:
    """Rows of ``csv_file``: an image path (relative to ``image_root``, by default the CSV's folder) and a label."""
    csv_file = Path(csv_file).expanduser()
    if not csv_file.is_file():
        raise ScalegridError(f"runtime.data.csv_file={csv_file} is not a file: give the path of your label CSV")
    base = Path(image_root).expanduser() if image_root is not None else csv_file.parent
    columns = {"path_column": path_column, "label_column": label_column, "split_column": split_column}
    rows = _read_rows(csv_file, columns)
    if not rows:
        raise ScalegridError(f"{csv_file} has a header but no rows: list one image per row")

    paths, missing = [], []
    for line, row in enumerate(rows, start=2):
        value = (row[path_column] or "").strip()
        path = base / value
        if not value or not path.is_file():
            missing.append(f"line {line}: {value!r}")
        paths.append(path)
    if missing:
        raise ScalegridError(
            f"{csv_file}: {len(missing)} row(s) point at no file under {base} ({'; '.join(missing[:5])}"
            f"{'; ...' if len(missing) > 5 else ''}): fix the paths or set runtime.data.image_root"
        )

    labels, names = _class_ids([(row[label_column] or "").strip() for row in rows], class_names, csv_file)
    splits = None
    if split_column is not None:
        splits = []
        for line, row in enumerate(rows, start=2):
            value = (row[split_column] or "").strip().lower()
            if value not in _SPLIT_ALIASES:
                raise ScalegridError(
                    f"{csv_file} line {line}: split {row[split_column]!r} in column {split_column!r} is not "
                    "train, val or test"
                )
            splits.append(_SPLIT_ALIASES[value])
        splits = np.asarray(splits)
        if "train" not in splits:
            raise ScalegridError(f"{csv_file}: no row has split 'train' in column {split_column!r}")
    return checked_listing(
        ImageListing(tuple(paths), np.asarray(labels, dtype=np.int64), tuple(names), splits, csv_file)
    )


HEADER_WORDS = {"name", "image", "images", "file", "filename", "path", "id", "label", "labels", "class", "category"}


def read_label_file(path: Path, header: str | bool = "auto") -> list[tuple[str, str, int]]:
    """``(image name, label, line number)`` of each entry of a label file: ``name,label`` or ``name label`` per line,
    with or without a header line (``header``: auto, true or false); blank lines are skipped."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ScalegridError(f"{path} is not a file: give the path of your label file")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise ScalegridError(f"{path} is not a text file ({error}): give a label file of 'name label' lines") from None
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in (line.split(",") if "," in line else line.split())]
        if len(fields) != 2 or not all(fields):
            raise ScalegridError(
                f"{path} line {number}: {line.strip()!r} is not 'name,label' or 'name label': give one image name "
                "and its label per line"
            )
        entries.append((fields[0], fields[1], number))
    if not entries:
        raise ScalegridError(f"{path} lists no images: give one 'name label' line per image")
    if _first_line_is_header(entries, header):
        entries = entries[1:]
    if not entries:
        raise ScalegridError(f"{path} has a header but no entries: give one 'name label' line per image")
    return entries


def _first_line_is_header(entries: list[tuple[str, str, int]], header: str | bool) -> bool:
    if isinstance(header, bool) or str(header).lower() in ("true", "false"):
        return str(header).lower() == "true"
    if str(header).lower() != "auto":
        raise ScalegridError(f"data.header={header!r} is unknown; choose auto, true or false")
    name, label, _ = entries[0]
    if name.lower() in HEADER_WORDS or label.lower() in HEADER_WORDS:
        return True
    integer = re.compile(r"-?\d+")
    rest_are_ids = len(entries) > 1 and all(integer.fullmatch(entry[1]) for entry in entries[1:])
    return rest_are_ids and not integer.fullmatch(label)


def _image_index(root: Path) -> dict[str, list[Path]]:
    """Every image under ``root`` by its name without extension (and by its path relative to root, without it)."""
    index: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and is_image_file(path) and not any(p.startswith(".") for p in path.relative_to(root).parts):
            for key in {path.stem, str(path.relative_to(root).with_suffix(""))}:
                index.setdefault(key, []).append(path)
    return index


def list_image_list(
    root: Path,
    train_list: Path,
    test_list: Path | None = None,
    header: str | bool = "auto",
    class_names: list[str] | None = None,
) -> ImageListing:
    """Images under ``root`` named in label files: ``train_list`` (and ``test_list``, kept as the test split).

    A name may carry its extension or not (``cat_001`` finds ``cat_001.jpg``); labels are integer ids or names.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ScalegridError(f"runtime.data.root={root} is not a directory: give the folder that holds your images")
    index = None
    paths, raw_labels, splits = [], [], []
    for split, list_file in (("train", train_list), ("test", test_list)):
        if list_file is None:
            continue
        missing, ambiguous = [], []
        for name, label, line in read_label_file(list_file, header):
            path = root / name
            if not path.is_file():
                index = _image_index(root) if index is None else index
                found = index.get(str(Path(name).with_suffix("")) if Path(name).suffix else name, [])
                if len(found) != 1:
                    (missing if not found else ambiguous).append(f"line {line}: {name!r}")
                    continue
                path = found[0]
            paths.append(path)
            raw_labels.append(label)
            splits.append(split)
        for problems, what in ((missing, "name no image"), (ambiguous, "match several images (give the extension)")):
            if problems:
                shown = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
                raise ScalegridError(f"{list_file}: {len(problems)} entr(ies) {what} under {root}: {shown}")
    labels, names = _class_ids(raw_labels, class_names, Path(train_list))
    listing = ImageListing(tuple(paths), np.asarray(labels, dtype=np.int64), tuple(names), np.asarray(splits), root)
    return checked_listing(listing)


def checked_listing(listing: ImageListing) -> ImageListing:
    """A listing with each image file once: the same file (by its resolved path, links included) listed twice with
    two labels, or in two splits, is refused, since it would leak across the splits; listed twice alike, it is kept
    once, said in one line. A dataset of one class is refused."""
    first: dict[Path, int] = {}
    kept, repeats = [], []
    for index, path in enumerate(listing.paths):
        resolved = path.resolve()
        if resolved not in first:
            first[resolved] = index
            kept.append(index)
            continue
        earlier = first[resolved]
        names = listing.class_names
        if listing.labels[earlier] != listing.labels[index]:
            raise ScalegridError(
                f"{listing.source}: {path} is listed with two labels ({names[listing.labels[earlier]]} and "
                f"{names[listing.labels[index]]}): give each image one label"
            )
        if listing.splits is not None and listing.splits[earlier] != listing.splits[index]:
            raise ScalegridError(
                f"{listing.source}: {path} is in two splits ({listing.splits[earlier]} and {listing.splits[index]}): "
                "an image in two splits leaks one into the other; keep it in one"
            )
        repeats.append(path)
    if repeats:
        log.warning(
            "%s: %d image(s) listed more than once, kept once (e.g. %s)", listing.source, len(repeats), repeats[0]
        )
        listing = listing.select(np.asarray(kept))
    present = sorted({listing.class_names[label] for label in listing.labels.tolist()})
    if len(present) < 2:
        raise ScalegridError(
            f"{listing.source} has images of one class only ({', '.join(present) or 'none'}): a classifier needs at "
            "least two; add the other classes' images"
        )
    return listing
