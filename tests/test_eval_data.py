"""Dataset readers on real files and on hand-made folders with bad names."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.errors import InputError
from affectlens.eval.datasets import (
    is_held_out,
    parse_utkface_name,
    read_expression_folder,
    read_utkface,
)
from affectlens.types import EXPRESSIONS


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((48, 48), 128, np.uint8))


def test_expression_folder_maps_names_and_sets_aside_unknown_classes(tmp_path: Path) -> None:
    for folder, count in (("anger", 2), ("sadness", 3), ("happy", 1), ("contempt", 4)):
        for i in range(count):
            _image(tmp_path / folder / f"{i}.png")
    (tmp_path / "happy" / "notes.txt").write_text("not an image")
    data = read_expression_folder(tmp_path)
    assert sorted(data.labels) == sorted([EXPRESSIONS.index("angry")] * 2
                                         + [EXPRESSIONS.index("sad")] * 3
                                         + [EXPRESSIONS.index("happy")])
    assert data.left_out == {"contempt": 4}
    assert all(p.suffix == ".png" for p in data.paths)


def test_expression_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        read_expression_folder(tmp_path / "missing")
    _image(tmp_path / "cats" / "1.png")
    with pytest.raises(InputError, match="no images in class folders"):
        read_expression_folder(tmp_path)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("25_1_2_20170116174525125.jpg.chip.jpg", (25, "female", "Asian")),
        ("1_0_0_20161219140623097.jpg.chip.jpg", (1, "male", "White")),
        ("61_1_20170109142408075.jpg.chip.jpg", None),  # race missing (a real UTKFace name)
        ("39_1_20170116174525125.jpg.chip.jpg", None),
        ("x_1_2_2017.jpg", None),
        ("25_7_2_2017.jpg", None),  # no such gender code
        ("25_0_9_2017.jpg", None),  # no such race code
        ("250_0_1_2017.jpg", None),  # not a human age
        ("notes.jpg", None),
    ],
)
def test_utkface_names(name: str, parsed: tuple | None) -> None:
    assert parse_utkface_name(name) == parsed


def test_utkface_reader_skips_malformed_names_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("30_0_1_2017.jpg.chip.jpg", "71_1_3_2017.jpg.chip.jpg", "61_1_2017.jpg.chip.jpg"):
        _image(tmp_path / name)
    with caplog.at_level(logging.WARNING):
        data = read_utkface(tmp_path)
    assert sorted(data.ages) == [30, 71] and data.malformed == ["61_1_2017.jpg.chip.jpg"]
    assert "1 file names" in caplog.text
    test = data.subset([True, False])
    assert len(test.paths) == 1 and test.malformed == data.malformed


def test_utkface_reader_on_the_real_set(dataset) -> None:
    data = read_utkface(dataset("utkface-dev"))
    assert len(data.paths) + len(data.malformed) == 6000
    assert 1 <= len(data.malformed) < 20  # the README says some names lack a field
    assert min(data.ages) >= 1 and max(data.ages) <= 116
    assert set(data.races) <= {"White", "Black", "Asian", "Indian", "Others"}


def test_held_out_split_is_stable_and_about_the_asked_share() -> None:
    names = [f"img_{i}.jpg" for i in range(5000)]
    tenth = [is_held_out(n) for n in names]
    assert 0.08 < np.mean(tenth) < 0.12
    assert tenth == [is_held_out(Path("/elsewhere") / n) for n in names]  # name, not folder
    assert 0.17 < np.mean([is_held_out(n, 5) for n in names]) < 0.23
