"""Dataset readers on real files and on hand-made folders with bad names."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.errors import InputError
from affectlens.eval.datasets import (
    DataKind,
    Seen,
    TrainingManifest,
    detect_kind,
    is_held_out,
    parse_utkface_name,
    read_expression_folder,
    read_utkface,
)
from affectlens.models.runtime import WEIGHTS_DIR
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


@pytest.mark.parametrize(("names", "kind"), [
    (["PublicTest_10116449.jpg", "Training_3908.jpg"], DataKind.fer2013),
    (["fer0000001.png", "fer0032220.png"], DataKind.ferplus),
    (["S010_004_00000017.png"], DataKind.ckplus),
    (["100_1_2_20170105174847679.jpg.chip.jpg", "14_0_0_2017011022340900.jpg.chip.jpg"],
     DataKind.utkface),
    (["30_0_1_2017010.jpg", "a.jpg"], DataKind.other),  # a short date is not UTKFace's
    (["PublicTest_1.jpg"] * 19 + ["mine.jpg"], DataKind.fer2013),  # 95% are enough
    (["PublicTest_1.jpg"] * 9 + ["mine.jpg"], DataKind.other),
    ([], DataKind.other),
])
def test_the_dataset_is_told_by_its_file_names(names: list[str], kind: DataKind) -> None:
    assert detect_kind([Path("utkface") / n for n in names]) == kind


def test_training_manifest_round_trip_counts_by_file_name(tmp_path: Path) -> None:
    weights = tmp_path / "model.onnx"
    assert Seen.check(weights, ["a.jpg"]) is None  # no manifest: cannot tell
    path = TrainingManifest.of(["a.jpg", "b.jpg"], "two files").write(weights)
    assert path.name == "model.training.json" and "a.jpg" not in path.read_text()
    assert Seen.check(weights, [tmp_path / "x" / "a.jpg", "b.jpg", "c.jpg"]) == Seen(2, "two files")
    path.write_text("{}")
    with pytest.raises(InputError, match="not a training manifest"):
        TrainingManifest.beside(weights)


def test_the_age_models_manifest_holds_its_training_files_only(dataset) -> None:
    manifest = TrainingManifest.beside(WEIGHTS_DIR / "affectlens_age.onnx")
    assert manifest is not None and len(manifest.digests) == 4846
    data = read_utkface(dataset("utkface-dev"))
    test = [p for p in data.paths if is_held_out(p, 5)]
    assert manifest.seen(test) == 0
    assert manifest.seen(data.paths) == len(data.paths) - len(test)
