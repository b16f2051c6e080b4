"""The expression disparity audit: its arithmetic by hand, the shipped model on real UTKFace
faces, and the rule that group labels stay in the evaluation code."""

from __future__ import annotations

import io
import json
import tokenize
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import affectlens
from affectlens.cli import app
from affectlens.eval.datasets import read_utkface
from affectlens.eval.disparity import (
    MIN_REFERENCE_FACES,
    cluster_means,
    grouping,
    score_faces,
)
from affectlens.models.expression import ExpressionClassifier
from affectlens.types import EXPRESSIONS

runner = CliRunner()
PACKAGE = Path(affectlens.__file__).parent
H, N = EXPRESSIONS.index("happy"), EXPRESSIONS.index("neutral")


def test_resampling_by_person_keeps_a_persons_images_together() -> None:
    """Person a has three images worth 1, person b one worth 0: by person, a resample's mean
    is 1 (a twice), 0 (b twice) or 3/4 (one each); by image it can be any k/4."""
    values = np.array([[1.0], [1.0], [1.0], [0.0]])
    rng = np.random.default_rng(1)
    by_person = cluster_means(values, np.array(["a", "a", "a", "b"]), 400, rng)
    assert set(np.round(by_person[:, 0], 6)) == {0.0, 0.75, 1.0}
    by_image = cluster_means(values, np.arange(4), 400, rng)
    assert {0.5, 0.75, 1.0} <= set(np.round(by_image[:, 0], 6))


def test_group_shares_and_differences_by_hand() -> None:
    """Group x: 3 faces, 2 happy; group y (the reference, 4 faces): 1 happy, 3 neutral."""
    probs = np.full((7, 7), 0.02)
    for row, top in enumerate([H, H, N, H, N, N, N]):
        probs[row, top] = 0.88
    keys = np.array(["x", "x", "x", "y", "y", "y", "y"])
    g = grouping("made up", keys, probs, np.arange(7), resamples=200)
    assert g.reference == "y"
    x = next(s for s in g.groups if s.name == "x")
    assert (x.n, x.label_share["happy"]) == (3, pytest.approx(2 / 3))
    assert x.mean_probability["happy"] == pytest.approx((0.88 * 2 + 0.02) / 3)
    (d,) = g.differences
    assert d.label_share["happy"] == pytest.approx(2 / 3 - 1 / 4)
    low, high = d.label_share_ci["happy"]
    assert low <= d.label_share["happy"] <= high and low < high


def _subset(source: Path, target: Path, step: int) -> Path:
    target.mkdir()
    for name in sorted(p.name for p in source.iterdir())[::step]:
        (target / name).symlink_to(source / name)
    return target


def test_disparity_on_real_utkface_faces(dataset, tmp_path: Path) -> None:
    data = _subset(dataset("utkface-dev"), tmp_path / "data", 30)
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "disparity", "--data", str(data), "--out", str(out),
                                 "--resamples", "100"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["resampled_by"] == "image" and report["min_age"] == 20
    names = [g["name"] for g in report["groupings"]]
    assert names == ["gender", "race group", "age band"]
    for g in report["groupings"]:
        sizes = {s["name"]: s["n"] for s in g["groups"]}
        assert sum(sizes.values()) == report["faces"]
        assert g["reference"] == max(sizes, key=sizes.get)
        for s in g["groups"]:
            assert sum(s["label_share"].values()) == pytest.approx(1)
            assert sum(s["mean_probability"].values()) == pytest.approx(1)
        for d in g["differences"]:
            for c in EXPRESSIONS:
                low, high = d["mean_probability_ci"][c]
                assert low - 1e-9 <= d["mean_probability"][c] <= high + 1e-9
    assert "0-12" not in {s["name"] for s in report["groupings"][2]["groups"]}  # adults only
    # The smile reference: measured on (nearly) every face, and the differences of groups
    # large enough given again at equal smile, with intervals around them.
    assert report["faces"] * 0.9 <= report["reference_faces"] <= report["faces"]
    compared = 0
    for g in report["groupings"]:
        sizes = {s["name"]: s["n"] for s in g["groups"]}
        for d in g["differences"]:
            if min(sizes[d["group"]], sizes[d["reference"]]) < MIN_REFERENCE_FACES:
                assert d["equal_reference_label_share"] is None  # too few to compare so
                continue
            compared += 1
            for c in EXPRESSIONS:
                low, high = d["equal_reference_mean_probability_ci"][c]
                assert low - 1e-9 <= d["equal_reference_mean_probability"][c] <= high + 1e-9
            low, high = d["reference_difference_ci"]
            assert low - 1e-9 <= d["reference_difference"] <= high + 1e-9
    assert compared >= 1
    card = (out / "card.md").read_text()
    assert "cannot say why" in card and "![share of faces" in card
    assert "At equal smile" in card and "label share at equal smile" in card
    assert (out / "label_shares.png").read_bytes()[:4] == b"\x89PNG"


def test_people_table_resamples_by_person(dataset, tmp_path: Path) -> None:
    """With a file-to-person table (made up here: UTKFace has none) the audit resamples people,
    and an image without a person id is a clear error."""
    data = _subset(dataset("utkface-dev"), tmp_path / "data", 120)
    names = sorted(p.name for p in data.iterdir())
    table = tmp_path / "people.csv"
    table.write_text("".join(f"{n},person{i // 2}\n" for i, n in enumerate(names)))
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "disparity", "--data", str(data), "--out", str(out),
                                 "--resamples", "50", "--people", str(table)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["resampled_by"] == "person"
    assert "by person (all of a person's images together)" in (out / "card.md").read_text()
    table.write_text("".join(f"{n},p\n" for n in names[1:]))
    result = runner.invoke(app, ["eval", "disparity", "--data", str(data), "--people",
                                 str(table)])
    assert result.exit_code == 2 and "have no person id" in " ".join(result.output.split())


def test_group_labels_never_reach_the_model(dataset, tmp_path: Path) -> None:
    """The same pixels under names with other gender and race fields get the same scores."""
    source = dataset("utkface-dev")
    images = [p for p in sorted(source.iterdir()) if p.name.count("_") == 3][:12]
    plain, swapped = tmp_path / "plain", tmp_path / "swapped"
    plain.mkdir()
    swapped.mkdir()
    for i, image in enumerate(images):
        age, gender, race, rest = image.name.split("_")
        (plain / image.name).symlink_to(image)
        (swapped / f"{age}_{1 - int(gender)}_{(int(race) + 1 + i) % 5}_{rest}").symlink_to(image)
    classifier = ExpressionClassifier("affectlens")

    def scores(folder: Path) -> dict[str, np.ndarray]:
        data = read_utkface(folder)
        s = score_faces(data, classifier, classifier.calibration)
        return {p.resolve().name: row for p, row in zip(data.paths, s.probs)}

    a, b = scores(plain), scores(swapped)
    assert a.keys() == b.keys() and len(a) == 12
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


# What reads group labels out of file names, and the audit built on them.
GROUP_READERS = {"read_utkface", "parse_utkface_name", "UTK_RACES", "UTK_GENDERS", "AgeSet",
                 "score_faces", "DisparityReport", "disparity"}


def test_group_parsing_lives_only_in_the_evaluation_code() -> None:
    """Only affectlens/eval and the eval command line (cli_eval*.py) name the group readers;
    nothing else in the package imports the evaluation at all."""
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name.startswith("cli_eval") or PACKAGE / "eval" in path.parents:
            continue
        text = path.read_text()
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        names = {t.string for t in tokens if t.type == tokenize.NAME} & GROUP_READERS
        if names or "affectlens.eval" in text:
            offenders[str(path.relative_to(PACKAGE))] = sorted(names) or ["affectlens.eval"]
    assert offenders == {}
    audit = (PACKAGE / "eval" / "disparity.py").read_text()
    assert "read_utkface" in (PACKAGE / "cli_eval.py").read_text() and "races" in audit
