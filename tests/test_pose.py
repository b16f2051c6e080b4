"""Body pose model: shapes, bad input, real people, and stable person ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.events.fall_features import FALL_JOINTS, from_coco
from affectlens.models.pose import KEYPOINTS, PersonDetections, PoseEstimator
from affectlens.tracking.persons import PersonTracker


@pytest.fixture(scope="module")
def pose() -> PoseEstimator:
    return PoseEstimator(threads=1)


def test_blank_and_odd_images_find_no_one(pose: PoseEstimator) -> None:
    for image in (np.zeros((240, 320, 3), np.uint8), np.full((33, 517, 3), 200, np.uint8)):
        people = pose.predict_one(image)
        assert len(people) == 0 and people.keypoints.shape == (0, 17, 3)


def test_bad_input_is_refused(pose: PoseEstimator) -> None:
    with pytest.raises(ValueError):
        pose.predict_one(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        pose.predict_one(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        PersonDetections(np.zeros((1, 4)), np.zeros(1), np.zeros((1, 11, 3)))


def test_joint_mapping_is_by_name() -> None:
    coco = np.arange(17 * 3, dtype=np.float32).reshape(17, 3)
    mapped = from_coco(coco)
    for i, name in enumerate(FALL_JOINTS):
        assert (mapped[i] == coco[KEYPOINTS.index(name)]).all()


def test_people_in_a_real_photo(pose: PoseEstimator, media: Callable[[str], Path]) -> None:
    image = cv2.imread(str(media("multi_face.jpg")))
    people = pose.predict_one(image)
    assert 3 <= len(people) <= 6  # five people, some cut by the frame
    height, width = image.shape[:2]
    assert (people.boxes[:, [0, 2]] <= width).all() and (people.boxes[:, [1, 3]] <= height).all()
    # Heads above hips: upright people.
    noses, hips = people.keypoints[:, 0, 1], people.keypoints[:, [11, 12], 1].mean(axis=1)
    assert (noses < hips).all()


def test_person_keeps_one_id_through_a_real_clip(pose: PoseEstimator) -> None:
    clip = Path(__file__).resolve().parents[2] / "shared/data/falls/fall-01-cam0.mp4"
    if not clip.is_file():
        pytest.skip(f"shared fall clip not present: {clip}")
    cap = cv2.VideoCapture(str(clip))
    tracker, ids = PersonTracker(30.0), []
    for _ in range(100):  # standing and walking, before the fall
        ok, frame = cap.read()
        assert ok
        ids += [int(t) for t in tracker.update(pose.predict_one(frame[:, 320:])) if t > 0]
    assert len(ids) >= 80 and set(ids) == {1}


def test_head_boxes_cover_the_faces(pose: PoseEstimator, media: Callable[[str], Path]) -> None:
    """Snapshots of falls blur these as well as detected faces (a lying face is often missed)."""
    from affectlens.models.face_detector import FaceDetector
    from affectlens.people import head_boxes

    image = cv2.imread(str(media("multi_face.jpg")))
    heads = head_boxes(pose.predict_one(image))
    (faces,) = FaceDetector(threads=1).predict([image])
    centres = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2
    covered = [((heads[:, 0] <= x) & (x <= heads[:, 2]) & (heads[:, 1] <= y) & (y <= heads[:, 3]))
               .any() for x, y in centres]
    assert sum(covered) >= len(heads) >= 3  # every person the pose model saw has a head box
    assert head_boxes(PersonDetections.empty()).shape == (0, 4)


def test_points_found_in_a_turned_crop_come_back_to_frame_pixels() -> None:
    """_unturn inverts OpenCV's quarter turns and the crop offset, for keypoints and boxes."""
    import cv2

    from affectlens.models.pose import PersonDetections, _unturn

    width, height, left, top = 40, 30, 100, 50
    points = np.array([[3.0, 5.0], [30.0, 20.0], [12.0, 27.0]])  # (x, y) in the crop
    for turn in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE):
        marked = np.zeros((height, width), np.uint8)
        turned_points = []
        for x, y in points.astype(int):
            marked[:] = 0
            marked[y, x] = 255
            ty, tx = np.argwhere(cv2.rotate(marked, turn))[0]
            turned_points.append([tx, ty])
        kps = np.zeros((1, 17, 3), np.float32)
        kps[0, :3, :2] = turned_points
        box = np.array([[min(p[0] for p in turned_points), min(p[1] for p in turned_points),
                         max(p[0] for p in turned_points), max(p[1] for p in turned_points)]],
                       np.float32)
        back = _unturn(PersonDetections(box, np.ones(1, np.float32), kps), turn, width,
                       height, left, top)
        assert np.allclose(back.keypoints[0, :3, :2], points + np.array([left, top]))
        assert np.allclose(back.boxes[0], [3 + left, 5 + top, 30 + left, 27 + top])
