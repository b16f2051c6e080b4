"""FERPlus votes in ``affectlens eval expression``: the rules on a hand-checkable folder, the
vote figures by hand, and the shipped model on real FERPlus images with their votes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from affectlens.cli import app
from affectlens.eval.datasets import NO_MAJORITY, read_expressions, read_ferplus
from affectlens.eval.votes import cross_entropy, plausible, vote_entropy, vote_figures
from affectlens.types import EXPRESSIONS

runner = CliRunner()
N, H = EXPRESSIONS.index("neutral"), EXPRESSIONS.index("happy")


def _votes(**counts: int) -> list[int]:
    """Our seven classes' votes in EXPRESSIONS order."""
    return [counts.get(c, 0) for c in EXPRESSIONS]


def test_the_30_percent_rule_accepts_a_second_label_and_not_a_third() -> None:
    votes = np.array([_votes(neutral=6, happy=4), _votes(neutral=8, happy=2),
                      _votes(neutral=7, happy=3), _votes(sad=10)], float)
    predicted = np.array([H, H, H, -1])  # the last face was missed
    assert plausible(predicted, votes).tolist() == [True, False, True, False]


def test_cross_entropy_and_its_floor_by_hand() -> None:
    votes = np.array([_votes(neutral=6, happy=4)], float)
    probs = np.full((1, 7), 0.05)
    probs[0, N], probs[0, H] = 0.5, 0.25
    expected = -(0.6 * math.log(0.5) + 0.4 * math.log(0.25))  # 0.9704
    assert cross_entropy(probs, votes)[0] == pytest.approx(expected)
    assert vote_entropy(votes)[0] == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.4)))
    figures = vote_figures(probs, np.array([True]), votes, no_majority=0, resamples=20)
    assert figures.plausible_count == 1 and figures.cross_entropy == pytest.approx(expected)
    assert figures.cross_entropy >= figures.vote_entropy


def test_vote_figures_interval_is_wilson_not_a_point() -> None:
    votes = np.array([_votes(happy=10)] * 20, float)
    probs = np.tile(np.eye(7)[H] * 0.9 + 0.1 / 7, (20, 1))
    figures = vote_figures(probs, np.ones(20, bool), votes, no_majority=0, resamples=20)
    assert figures.plausible_share == 1.0
    low, high = figures.plausible_ci
    assert 0.8 < low < 0.85 and high == 1.0  # Wilson for 20 of 20: 83.9% to 100%


def _ferplus_folder(folder: Path, rows: list[tuple[str, list[int]]], image: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    lines = []
    for name, counts in rows:
        cv2.imwrite(str(folder / name), image)
        lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(map(str, counts)))
    (folder / "label.csv").write_text("\n".join(lines) + "\n")
    return folder


# FERPlus column order: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt,
# unknown, not a face.
RULES = [
    ("fer0000001.png", [6, 4, 0, 0, 0, 0, 0, 0, 0, 0]),  # neutral
    ("fer0000002.png", [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]),  # tie: votes only
    ("fer0000003.png", [1, 0, 0, 0, 0, 0, 0, 0, 3, 6]),  # not a face: out
    ("fer0000004.png", [2, 0, 0, 0, 0, 0, 0, 6, 2, 0]),  # contempt: votes only (neutral 2)
    ("fer0000005.png", [0, 0, 0, 0, 0, 0, 0, 0, 10, 0]),  # unknown: out
    ("fer0000006.png", [0, 0, 0, 0, 7, 3, 0, 0, 0, 0]),  # angry
    ("fer0000007.png", [0, 9, 0, 0, 0, 0, 1, 0, 0, 0]),  # happy, but no file
]


def test_ferplus_layout_rules_on_a_made_up_folder(tmp_path: Path, portrait: np.ndarray) -> None:
    folder = _ferplus_folder(tmp_path / "valid", RULES, cv2.resize(portrait, (48, 48)))
    (folder / "fer0000007.png").unlink()  # a row without its file: counted, not read
    (folder / "fer0000001.png").write_bytes(b"")  # not an image: left out, counted
    data = read_expressions(folder)
    assert data.votes is not None
    assert [p.name for p in data.paths] == ["fer0000001.png", "fer0000002.png",
                                            "fer0000004.png", "fer0000006.png"]
    assert data.labels == [N, NO_MAJORITY, NO_MAJORITY, EXPRESSIONS.index("angry")]
    assert data.left_out == {"unknown or not a face": 2, "tied top vote": 1, "contempt": 1,
                             "no image file": 1}
    assert data.votes[2].tolist() == _votes(neutral=2)  # contempt votes dropped
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "expression", "--data", str(folder), "--model",
                                 "affectlens", "--out", str(out), "--resamples", "20"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 1 and report["unreadable_images"] == 1  # angry only
    assert report["votes"]["images"] == 3 and report["votes"]["no_majority"] == 2
    assert "A tied top vote has no majority label" in (out / "card.md").read_text()


def test_bad_label_csv_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "label.csv").write_text("fer0000001.png,\"(0, 0, 48, 48)\",1,2,3\n")
    result = runner.invoke(app, ["eval", "expression", "--data", str(tmp_path)])
    assert result.exit_code == 2 and "label.csv:1: expected file, face box and 10" in " ".join(
        result.output.split())


def test_shipped_model_on_real_ferplus_images_with_their_votes(dataset, tmp_path: Path) -> None:
    """120 PublicTest PNGs with their own votes (linked, not copied): the votes must line up
    with the images, which chance-level figures would show."""
    source = dataset("ferplus") / "valid"
    rows = (source / "label.csv").read_text().splitlines()[:120]
    folder = tmp_path / "valid"
    folder.mkdir()
    for row in rows:
        name = row.split(",")[0]
        (folder / name).symlink_to(source / name)
    (folder / "label.csv").write_text("\n".join(rows) + "\n")
    full = read_ferplus(folder)
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "expression", "--data", str(folder), "--model",
                                 "affectlens", "--out", str(out), "--resamples", "50"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    votes = report["votes"]
    assert report["data_kind"] == "ferplus"
    assert votes["images"] == len(full.paths) and report["images"] == sum(
        y != NO_MAJORITY for y in full.labels)
    assert report["accuracy"] > 0.55  # about 69% on the whole of valid; chance is 1 in 7
    assert votes["plausible_share"] > 0.6
    assert votes["vote_entropy"] < votes["cross_entropy"] < 2.0  # uniform would be 1.95
    low, high = votes["plausible_ci"]
    assert low < votes["plausible_share"] < high
