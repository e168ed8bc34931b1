"""An error raised inside a DataLoader worker reaches the user as the same one line as in the main process."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_image_folder
from torch.utils.data import DataLoader

from scalegrid.data.image_datamodule import DecodedImages
from scalegrid.errors import ScalegridError, user_message


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_an_image_that_changed_under_the_workers_is_one_line(tmp_path, workers) -> None:
    root = write_image_folder(tmp_path / "images", per_class=2, classes=("cat", "dog"))
    paths = sorted(root.rglob("*.*"))
    paths[1].write_bytes(b"no longer an image")  # changed on disk after the run checked it
    images = DecodedImages(paths, np.zeros(len(paths), dtype=np.int64), stored_size=32)
    with pytest.raises(ScalegridError) as raised:
        list(DataLoader(images, batch_size=1, num_workers=workers))
    line = user_message(raised.value)
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"{paths[1]} cannot be decoded any more (") and line.endswith("fix or remove it")
    if workers:
        assert str(raised.value).startswith("Caught ScalegridError in DataLoader worker process")


def test_other_messages_are_left_alone() -> None:
    assert user_message(ScalegridError("data.fraction=2 is outside (0, 1]")) == "data.fraction=2 is outside (0, 1]"
    assert user_message(ScalegridError("Caught nothing\n")) == "Caught nothing\n"
