"""``affectlens eval`` end to end: small real subsets of the shared sets, and made-up folders."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from affectlens.cli import app
from affectlens.eval.datasets import is_held_out

runner = CliRunner()


def _subset(source: Path, target: Path, per_class: int, keep=lambda p: True) -> Path:
    """Links to the first ``per_class`` images of each class folder: no data is copied."""
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / folder.name).mkdir(parents=True)
        for image in [p for p in sorted(folder.iterdir()) if keep(p)][:per_class]:
            (target / folder.name / image.name).symlink_to(image)
    return target


def _run(*args: str) -> dict:
    result = runner.invoke(app, ["eval", *args])
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    assert (out / "card.md").read_text().startswith("# ")
    assert "data:image/png;base64," in (out / "card.html").read_text()
    return json.loads((out / "report.json").read_text())


def test_expression_on_fer_publictest_subset(dataset, tmp_path: Path) -> None:
    data = _subset(dataset("fer2013-publictest"), tmp_path / "data", 15)
    report = _run("expression", "--data", str(data), "--out", str(tmp_path / "out"),
                  "--resamples", "100")
    assert report["images"] == 105 and report["missed_faces"] == 0
    assert 0.45 < report["accuracy"] < 0.9  # fer is about 65% on the whole set
    low, high = report["accuracy_ci"]
    assert low < report["accuracy"] < high
    assert sum(map(sum, report["confusion"])) == 105
    assert set(report["recall"]) == {"angry", "disgust", "fear", "happy", "neutral", "sad",
                                     "surprise"}
    assert (tmp_path / "out" / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_expression_on_ckplus_through_the_detector(dataset, tmp_path: Path) -> None:
    data = _subset(dataset("ckplus48"), tmp_path / "data", 8)
    report = _run("expression", "--data", str(data), "--mode", "detect", "--out",
                  str(tmp_path / "out"), "--resamples", "50")
    assert report["left_out"] == {"contempt": 8}
    assert report["images"] == 48 and "neutral" not in report["classes"]
    assert 0 <= report["missed_faces"] < 24
    assert sum(map(sum, report["confusion"])) == 48 - report["missed_faces"]
    assert report["accuracy"] > 0.4


def test_age_on_utkface_subset_with_a_malformed_name(dataset, tmp_path: Path) -> None:
    source = dataset("utkface-dev")
    data = tmp_path / "data"
    data.mkdir()
    names = sorted(p.name for p in source.iterdir())
    malformed = [n for n in names if n.count("_") != 3]
    assert malformed, "the shared set is documented to hold malformed names"
    for name in names[::60] + malformed[:1]:
        (data / name).symlink_to(source / name)
    report = _run("age", "--data", str(data), "--out", str(tmp_path / "out"),
                  "--resamples", "50")
    assert report["malformed_names"] == 1
    assert report["images"] == len(names[::60]) - (malformed[0] in names[::60])
    assert 2 < report["mae"] < 12
    assert {g["name"] for g in report["genders"]} == {"female", "male"}
    assert report["race_gap_adult"] >= 0


def test_calibrate_fits_on_the_validation_split_only(dataset, tmp_path: Path) -> None:
    data = _subset(dataset("fer2013-train"), tmp_path / "data", 40, keep=is_held_out)
    training = next(p for p in (dataset("fer2013-train") / "happy").iterdir()
                    if not is_held_out(p))
    (tmp_path / "data" / "happy" / training.name).symlink_to(training)
    output = tmp_path / "fer.calibration.json"
    result = runner.invoke(app, ["eval", "calibrate", "--data", str(data), "--output",
                                 str(output)])
    assert result.exit_code == 0, result.output
    fitted = json.loads(output.read_text())
    assert 0.05 < fitted["temperature"] < 20 and 0 <= fitted["abstain_below"] <= 1
    assert fitted["fitted_on"].startswith("280 validation images")


def test_eval_on_made_up_folder_and_bad_paths(tmp_path: Path, portrait: np.ndarray) -> None:
    """Runs without the shared data: the plumbing, and clear errors for bad input."""
    for label, count in (("happy", 3), ("sadness", 2)):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(tmp_path / "data" / label / f"{i}.jpg"), portrait)
    (tmp_path / "data" / "sadness" / "broken.jpg").write_bytes(b"not a jpeg")
    report = _run("expression", "--data", str(tmp_path / "data"), "--out",
                  str(tmp_path / "out"), "--resamples", "20")
    assert report["images"] == 6 and report["classes"] == ["happy", "sad"]
    assert report["missed_faces"] == 1  # the unreadable file, counted as an error
    result = runner.invoke(app, ["eval", "expression", "--data", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "not a folder" in result.output
    result = runner.invoke(app, ["eval", "age", "--data", str(tmp_path / "data" / "happy")])
    assert result.exit_code == 2 and "no image named <age>" in result.output
    result = runner.invoke(app, ["eval", "expression", "--data", str(tmp_path / "data"),
                                 "--model", "gpt"])
    assert result.exit_code == 2 and "unknown model" in result.output


@pytest.mark.parametrize("command", ["expression", "age", "calibrate"])
def test_eval_help_teaches(command: str) -> None:
    result = runner.invoke(app, ["eval", command, "--help"])
    assert result.exit_code == 0 and "--data" in result.output
