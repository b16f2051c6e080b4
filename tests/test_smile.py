"""The smile reference of the disparity audit (issue 18): MediaPipe's face mesh on real faces,
the mouth geometry it gives, and the comparison at equal reference that it exists for."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.eval.disparity import grouping, standardised
from affectlens.eval.smile import (
    LIP_UPPER_INNER,
    MIN_PRESENCE,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    FaceMesh,
    SmileScale,
    auc,
    mouth_geometry,
)
from affectlens.models.face_detector import FaceDetector
from affectlens.samples.faces import saddened
from affectlens.types import EXPRESSIONS

SMILING = Path(__file__).parents[2] / "shared/data/media/single_face.jpg"
H = EXPRESSIONS.index("happy")


def test_the_mesh_finds_the_mouth_and_reads_a_smile_above_a_sad_mouth(portrait) -> None:
    """Grace Hopper's portrait (a closed, neutral mouth), the same with its mouth's corners
    drawn down (samples.faces.saddened) and, where ../shared is here, a man smiling: the mesh
    takes each for a face, puts the mouth's corners inside the face box either side of the
    lips' middle, and the smile score orders them: smiling, neutral, sad."""
    images = [portrait, saddened(portrait)]
    if SMILING.is_file():
        images.append(cv2.imread(str(SMILING)))
    detector = FaceDetector(min_face_px=24)
    faces = [detector.predict([image])[0] for image in images]
    assert all(len(f) == 1 for f in faces)
    boxes = np.concatenate([f.boxes for f in faces]).astype(np.float64)
    eyes = np.concatenate([f.keypoints[:, :2] for f in faces]).astype(np.float64)
    result = FaceMesh().run(images, boxes, eyes)
    assert (result.presence >= MIN_PRESENCE).all()
    for points, (x1, y1, x2, y2) in zip(result.landmarks, boxes):
        right, left, middle = points[MOUTH_RIGHT], points[MOUTH_LEFT], points[LIP_UPPER_INNER]
        assert x1 < right[0] < middle[0] < left[0] < x2 and y1 < middle[1] < y2
    scores = SmileScale.load().score(mouth_geometry(result.landmarks))
    lift = mouth_geometry(result.landmarks)[:, 1]
    assert lift[1] < lift[0]  # the corners drawn down sit lower against the lips' middle
    assert scores[1] < scores[0]
    if len(images) == 3:
        assert scores[2] > scores[0] > scores[1]


def test_auc_by_hand() -> None:
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert auc(np.array([1.0, 1.0]), np.array([0, 1])) == pytest.approx(0.5)  # a tie: half


def _made_up(biased: bool, n: int = 4000, seed: int = 3) -> tuple[np.ndarray, ...]:
    """Two groups; group b is photographed smiling less (its reference lower). The model's
    p(happy) follows the reference alone, or (biased) is also lower for b at equal smile."""
    rng = np.random.default_rng(seed)
    keys = np.array(["a"] * n + ["b"] * (n // 2))
    smile = np.concatenate([rng.normal(0.5, 1, n), rng.normal(-0.5, 1, n // 2)])
    logit = 2 * smile - (1.0 if biased else 0.0) * (keys == "b")
    happy = 1 / (1 + np.exp(-logit))
    probs = np.full((len(keys), len(EXPRESSIONS)), 0.0)
    probs[:, H] = happy
    probs[:, EXPRESSIONS.index("neutral")] = 1 - happy
    return keys, probs, smile


@pytest.mark.parametrize("biased", [False, True])
def test_a_gap_from_the_photos_goes_at_equal_smile_and_one_from_the_model_stays(
        biased: bool) -> None:
    keys, probs, smile = _made_up(biased)
    g = grouping("made up", keys, probs, np.arange(len(keys)), resamples=300,
                 reference=smile)
    (d,) = g.differences
    assert d.group == "b" and d.reference == "a"
    low, high = d.mean_probability_ci["happy"]
    assert high < -0.15  # the raw gap: b looks less happy either way
    assert d.reference_difference is not None and d.reference_difference < -0.8
    assert d.equal_reference_mean_probability is not None
    assert d.equal_reference_mean_probability_ci is not None
    low, high = d.equal_reference_mean_probability_ci["happy"]
    equal = d.equal_reference_mean_probability["happy"]
    if biased:  # the model's own gap stays at equal smile
        assert high < -0.05 and equal < -0.1
    else:  # within fifths of the reference a little of the photos' gap is left
        assert abs(equal) < 0.05 and low < 0.03 and high > -0.06


def test_standardised_means_by_hand() -> None:
    """Stratum 0 (share 0.25): values 1, 3; stratum 1 (0.75): 10; a face without a reference
    (-1) is left out; weights count a face as often as it is drawn."""
    values = np.array([[1.0], [3.0], [10.0], [100.0]])
    strata = np.array([0, 0, 1, -1])
    share = np.array([0.25, 0.75])
    assert standardised(values, strata, share)[0] == pytest.approx(0.25 * 2 + 0.75 * 10)
    weights = np.array([[2.0, 0.0, 1.0, 5.0], [1.0, 1.0, 0.0, 0.0]])
    got = standardised(values, strata, share, weights)[:, 0]
    assert got[0] == pytest.approx(0.25 * 1 + 0.75 * 10)
    assert got[1] == pytest.approx(2.0)  # stratum 1 not drawn: the other's share scaled up
