"""MediaPipe's pose landmarks on MoveNet's people: the vendored model, its crop and turn, the
33 -> 17 joint mapping, and the setting that chooses it. Real frames of URFD fall-01 (its RGB
half); those tests skip where ../shared is absent."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from affectlens.config import AnalysisConfig
from affectlens.eval.fall_datasets import MEDIAPIPE_TO_FALL
from affectlens.events.fall_features import FALL_JOINTS
from affectlens.models.pose import KEYPOINTS, REGION_TURNS, PoseEstimator, upright_turn
from affectlens.models.pose_landmarks import (
    MEDIAPIPE_TO_COCO,
    LandmarkPoseEstimator,
    pose_estimator,
)
from affectlens.people import PeoplePipeline

FALL_01 = Path(__file__).resolve().parents[2] / "shared" / "data" / "falls" / "fall-01-cam0.mp4"
STANDING, LYING = 70, 120  # 0-based; URFD labels 1-82 standing, 113-160 lying
SHOULDERS_HIPS = [5, 6, 11, 12]


@pytest.fixture(scope="module")
def frames() -> dict[int, np.ndarray]:
    if not FALL_01.is_file():
        pytest.skip(f"shared fall video not present at {FALL_01}")
    cap = cv2.VideoCapture(str(FALL_01))
    out, index = {}, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index in (STANDING, LYING):
            out[index] = frame[:, 320:].copy()
        index += 1
    return out


@pytest.fixture(scope="module")
def landmarks() -> LandmarkPoseEstimator:
    return LandmarkPoseEstimator(threads=1)


def turned_points(xy: np.ndarray, turn: int, width: int, height: int) -> np.ndarray:
    """Frame points after cv2.rotate(frame, turn)."""
    x, y = xy[..., 0], xy[..., 1]
    if turn == cv2.ROTATE_90_CLOCKWISE:
        return np.stack([height - 1 - y, x], -1)
    if turn == cv2.ROTATE_180:
        return np.stack([width - 1 - x, height - 1 - y], -1)
    return np.stack([y, width - 1 - x], -1)


def test_the_mapping_is_the_fall_datasets_own() -> None:
    """Each joint the fall rule reads comes from the landmark the training data used."""
    for i, name in enumerate(FALL_JOINTS):
        assert MEDIAPIPE_TO_COCO[KEYPOINTS.index(name)] == MEDIAPIPE_TO_FALL[i], name
    assert len(set(MEDIAPIPE_TO_COCO.tolist())) == len(KEYPOINTS)


def test_a_standing_person_gets_17_joints_left_on_the_left(
        frames: dict[int, np.ndarray], landmarks: LandmarkPoseEstimator) -> None:
    """fall-01, frame 71: the man faces the camera, so his left shoulder and hip are on the
    image's right, as MoveNet (another model, other training data) also places them."""
    image = frames[STANDING]
    movenet = PoseEstimator(threads=1).predict_one(image)
    people = landmarks.predict_one(image)
    assert len(people) == len(movenet) == 1
    kps = people.keypoints[0]
    assert kps.shape == (17, 3) and (kps[SHOULDERS_HIPS, 2] > 0.5).all()
    assert not np.array_equal(kps, movenet.keypoints[0])  # the landmark model's own joints
    assert kps[5, 0] > kps[6, 0] and kps[11, 0] > kps[12, 0]  # left on the image's right
    assert kps[5, 1] < kps[11, 1] < kps[15, 1]  # shoulder above hip above ankle
    # Shoulders and hips within a few pixels of MoveNet's (a torso is ~30 px here).
    assert np.abs(kps[SHOULDERS_HIPS, :2] - movenet.keypoints[0][SHOULDERS_HIPS, :2]).max() < 8
    box = movenet.boxes[0]
    assert (kps[:, 0] > box[0] - 20).all() and (kps[:, 0] < box[2] + 20).all()


@pytest.mark.parametrize("turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_180,
                                  cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_a_turned_person_is_found_the_right_way_round(
        frames: dict[int, np.ndarray], landmarks: LandmarkPoseEstimator, turn: int) -> None:
    """The standing frame turned: looked for in its box with the turn the torso gives
    (upright_turn on the joints of the frame as recorded, turned), the joints land where the
    upright frame's joints land after turning; left/right not swapped."""
    image = frames[STANDING]
    height, width = image.shape[:2]
    upright = landmarks.predict_one(image)
    box = turned_points(upright.boxes[0].reshape(2, 2), turn, width, height)
    box = np.concatenate([box.min(0), box.max(0)])
    expected = upright.keypoints[0].copy()
    expected[:, :2] = turned_points(expected[:, :2], turn, width, height)
    guess = upright_turn(expected)
    if turn == cv2.ROTATE_180:
        assert guess is None  # upside down: no quarter turn sets it upright
        return
    found = landmarks.predict_region(cv2.rotate(image, turn), box, 0.3, REGION_TURNS[guess])
    assert len(found) == 1
    got = found.keypoints[0]
    assert np.abs(got[SHOULDERS_HIPS, :2] - expected[SHOULDERS_HIPS, :2]).max() < 10


def test_a_person_lying_on_the_floor_is_found_in_their_last_box(
        frames: dict[int, np.ndarray], landmarks: LandmarkPoseEstimator) -> None:
    """Frame 121: lying, head to the left, half out of the frame. In a crop of where MoveNet
    boxed him, turned a quarter clockwise (head left -> up), the landmarks lie flat and put
    the shoulders left of the hips."""
    image = frames[LYING]
    movenet = PoseEstimator(threads=1).predict_one(image)
    assert len(movenet) == 1
    assert upright_turn(movenet.keypoints[0], 0.0) == 1  # MoveNet's torso: head to the left
    found = landmarks.predict_region(image, movenet.boxes[0], 0.3, REGION_TURNS[1])
    assert len(found) == 1
    kps = found.keypoints[0]
    shoulders, hips = kps[5:7, :2].mean(0), kps[11:13, :2].mean(0)
    dx, dy = shoulders - hips
    assert dx < 0 and abs(dx) > 2 * abs(dy)


def test_the_setting_chooses_the_backend() -> None:
    assert type(pose_estimator("none", threads=1)) is PoseEstimator
    assert isinstance(PeoplePipeline(threads=1, landmarks="mediapipe").estimator,
                      LandmarkPoseEstimator)
    assert type(PeoplePipeline(threads=1).estimator) is PoseEstimator
    assert AnalysisConfig().pose_landmarks == "none"
    assert AnalysisConfig(pose_landmarks="mediapipe").pose_landmarks == "mediapipe"
    with pytest.raises(ValidationError):
        AnalysisConfig(pose_landmarks="openpose")
    with pytest.raises(ValueError):
        pose_estimator("openpose")  # type: ignore[arg-type]


def test_analyze_runs_the_backend_the_option_names(frames: dict[int, np.ndarray],
                                                   tmp_path: Path) -> None:
    """`analyze --pose-landmarks mediapipe` on fall-01 at 10 fps: the person's joints in
    persons.csv are the landmark model's (not MoveNet's), and the fall is still found."""
    import pandas as pd
    from typer.testing import CliRunner

    from affectlens.cli import app

    result = CliRunner().invoke(app, [
        "analyze", str(FALL_01), "--fps", "10", "--pose-landmarks", "mediapipe", "--no-report",
        "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    events = pd.read_csv(tmp_path / "events.csv")
    assert "fall" in events["kind"].tolist()
    persons = pd.read_csv(tmp_path / "persons.csv")
    row = persons[persons["frame"] == 69].iloc[0]  # every third frame at 10 fps
    cap = cv2.VideoCapture(str(FALL_01))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 69)
    whole = cap.read()[1]  # analyze sees the whole 640x240 frame
    expected = LandmarkPoseEstimator(threads=1).predict_one(whole).keypoints[0]
    movenet = PoseEstimator(threads=1).predict_one(whole).keypoints[0]
    got = np.array([[row[f"{name}_x"], row[f"{name}_y"]] for name in KEYPOINTS])
    assert np.abs(got - expected[:, :2]).max() < 0.5
    assert np.abs(got - movenet[:, :2]).max() > 2
