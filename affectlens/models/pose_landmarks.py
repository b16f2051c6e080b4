"""MediaPipe's pose landmark model (BlazePose GHUM, full) on each person MoveNet finds.

Why: the fall classifier is trained on MediaPipe landmarks (URFD and Le2i via MD4FD, UP-Fall),
while MoveNet places COCO keypoints its own way; running the same landmark model live closes
that gap. And BlazePose is run on a crop turned so that the body runs up the image, which is
what lets it place the joints of a person lying on the floor, where MoveNet's whole-frame pass
is weakest. MoveNet still says where people are (boxes, tracking); this model only says where
their joints are.

The crop is MediaPipe's own (pose_detection_to_roi / pose_landmarks_to_roi): a square centred
on the hips, 2.5 times the radius of the circle around the body, turned so that hips ->
shoulders points up; the model's two auxiliary landmarks (hip centre and a point on that
circle above the head) give a better crop for a second pass, as MediaPipe's tracking does from
one frame to the next. Landmarks are refined from the heatmaps as MediaPipe does
(RefineLandmarksFromHeatmapCalculator, kernel 7, min confidence 0.5).

Weights: ``mediapipe_pose_landmark_full.onnx`` (Apache-2.0), converted from the
``mediapipe==0.10.21`` wheel by tools/vendor_pose_landmarks.py; card
affectlens/models/cards/mediapipe_pose_landmark_full.md. Geometry only: no identity features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from affectlens.models.pose import PersonDetections, PoseEstimator
from affectlens.models.runtime import WEIGHTS_DIR, Device, OnnxModel

WEIGHTS_FILE = "mediapipe_pose_landmark_full.onnx"
INPUT_PX = 256
# MediaPipe's 33 landmarks (0-based) in COCO KEYPOINTS order: nose, eyes (the centre points
# 2 and 5, not inner/outer), ears, shoulders, elbows, wrists, hips, knees, ankles. "left" is
# the person's left in both. The fall datasets use the same landmarks for the joints the fall
# rule reads (affectlens/eval/fall_datasets.py, MEDIAPIPE_TO_FALL).
MEDIAPIPE_TO_COCO = np.array([0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])
HIP_CENTRE, BODY_TOP = 33, 34  # auxiliary landmarks: the crop for the next pass
ROI_SCALE = 1.25  # MediaPipe's RectTransformationCalculator scale around the body circle
PRESENT = 0.5  # MediaPipe's pose-flag threshold: below it, no person in the crop
HEATMAP_KERNEL, HEATMAP_MIN = 7, 0.5
# Body circle radius over the box's farthest edge from the hips: MoveNet's box ends at the
# outermost keypoints (eyes, ankles), the body circle at the top of the head and the soles.
# 1.2, where 1.0 and 0.8 saw no one in more crops of fall-01 (chosen on that clip, the only
# real fall video: not checked on another).
RADIUS_MARGIN = 1.2
MIN_JOINT_SCORE = 0.1  # MoveNet joints trusted to place the crop (fall_features' threshold)
# Up in the frame for each predict_region turn (pose.REGION_TURNS): as it is, the body's head
# to the left (a quarter clockwise turns it upright), to the right.
TURN_UP = {None: (0.0, -1.0), cv2.ROTATE_90_CLOCKWISE: (-1.0, 0.0),
           cv2.ROTATE_90_COUNTERCLOCKWISE: (1.0, 0.0)}


@dataclass(frozen=True)
class Roi:
    """A square crop: centre (pixels), side (pixels), and ``up``, the unit vector in the
    frame that becomes the crop's up (0, -1)."""

    cx: float
    cy: float
    side: float
    up: tuple[float, float]

    def crop_to_frame(self) -> np.ndarray:
        """2x3 affine: crop pixel (u, v) -> frame pixel."""
        ux, uy = self.up
        # Columns: where the crop's x axis and y axis point in the frame (y = -up).
        k = self.side / INPUT_PX
        rot = np.array([[-uy, -ux], [ux, -uy]], np.float64) * k
        offset = np.array([self.cx, self.cy]) - rot @ np.array([INPUT_PX / 2, INPUT_PX / 2])
        return np.hstack([rot, offset[:, None]])


@dataclass(frozen=True)
class Landmarks:
    """One pass: 17 COCO keypoints (x, y frame pixels, visibility) and the next pass's crop."""

    keypoints: np.ndarray  # (17, 3) float32
    presence: float
    next_roi: Roi


def roi_from_points(hip: np.ndarray, top: np.ndarray) -> Roi:
    """MediaPipe's crop from the hip centre and a point on the body circle above the head."""
    vec = top - hip
    radius = float(np.hypot(*vec))
    up = (vec / radius) if radius > 0 else np.array([0.0, -1.0])
    return Roi(float(hip[0]), float(hip[1]), 2 * radius * ROI_SCALE,
               (float(up[0]), float(up[1])))


def roi_from_person(box: np.ndarray, keypoints: np.ndarray | None,
                    up: tuple[float, float] | None = None) -> Roi:
    """The crop for a person MoveNet found: centre on the hips (else the box centre), up from
    hips to shoulders (else to the nose, else ``up``, else upright), radius to the box's
    farthest edge (the box is about the body's extent)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    direction = None
    if keypoints is not None:
        seen = keypoints[:, 2] >= MIN_JOINT_SCORE
        hips = keypoints[11:13][seen[11:13], :2]
        shoulders = keypoints[5:7][seen[5:7], :2]
        if len(hips):
            centre = hips.mean(axis=0)
        head = shoulders.mean(axis=0) if len(shoulders) else (
            keypoints[0, :2] if seen[0] else None)
        if len(hips) and head is not None and np.hypot(*(head - centre)) > 1:
            direction = (head - centre) / np.hypot(*(head - centre))
    cx, cy = (float(v) for v in centre)
    if direction is None:
        direction = np.array(up if up is not None else (0.0, -1.0))
    # The box's farthest edge from the centre: for a person standing, hips to the top of the
    # head, the radius of MediaPipe's body circle (its corners gave crops too large: the
    # landmark model then saw no one in more of fall-01's frames, benchmarks/pose_floor.py).
    radius = max(cx - x1, x2 - cx, cy - y1, y2 - cy, 4.0) * RADIUS_MARGIN
    return roi_from_points(centre, centre + direction * radius)


class PoseLandmarker:
    """landmark(image, roi) -> Landmarks: one pass of the landmark model on one crop."""

    def __init__(self, device: Device = "cpu", threads: int = 0) -> None:
        self.model = OnnxModel(WEIGHTS_DIR / WEIGHTS_FILE, device, threads)
        self.outputs = ["Identity", "Identity_1", "Identity_3"]

    def landmark(self, image: np.ndarray, roi: Roi) -> Landmarks:
        affine = roi.crop_to_frame()
        crop = cv2.warpAffine(image, affine, (INPUT_PX, INPUT_PX),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        tensor = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        raw, flag, heatmaps = self.model.session.run(
            self.outputs, {self.model.input_name: tensor})
        marks = raw.reshape(39, 5)
        xy = _refine(marks[:, :2].astype(np.float64), heatmaps[0])
        frame_xy = xy @ affine[:, :2].T + affine[:, 2]
        visibility = _sigmoid(marks[:, 3])
        height, width = image.shape[:2]
        inside = ((frame_xy[:, 0] >= 0) & (frame_xy[:, 0] <= width - 1)
                  & (frame_xy[:, 1] >= 0) & (frame_xy[:, 1] <= height - 1))
        # A joint outside the frame is not seen (as MoveNet would say): its place is clipped.
        score = np.where(inside, visibility, 0.0)
        limit = np.array([width - 1, height - 1])
        keypoints = np.concatenate(
            [np.clip(frame_xy[MEDIAPIPE_TO_COCO], 0, limit), score[MEDIAPIPE_TO_COCO, None]],
            axis=1).astype(np.float32)
        return Landmarks(keypoints, float(flag.reshape(-1)[0]),
                         roi_from_points(frame_xy[HIP_CENTRE], frame_xy[BODY_TOP]))

    def track(self, image: np.ndarray, roi: Roi, passes: int) -> Landmarks:
        """``passes`` passes, each on the crop the last one's auxiliary landmarks give."""
        found = self.landmark(image, roi)
        for _ in range(passes - 1):
            if found.presence < PRESENT:
                break
            found = self.landmark(image, found.next_roi)
        return found


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow for large logits."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, np.float64)))


def _refine(xy: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """MediaPipe's heatmap refinement: each landmark moves to the confidence-weighted centre of
    a 7x7 window of its heatmap around it, where that window's peak is >= 0.5."""
    size = heatmaps.shape[0]
    half = HEATMAP_KERNEL // 2
    out = xy.copy()
    for i in range(len(xy)):
        col, row = int(xy[i, 0] / INPUT_PX * size), int(xy[i, 1] / INPUT_PX * size)
        if not (0 <= col < size and 0 <= row < size):
            continue
        r0, r1 = max(0, row - half), min(size, row + half + 1)
        c0, c1 = max(0, col - half), min(size, col + half + 1)
        conf = _sigmoid(heatmaps[r0:r1, c0:c1, i])
        total = conf.sum()
        if conf.max() < HEATMAP_MIN or total <= 0:
            continue
        rows, cols = np.mgrid[r0:r1, c0:c1]
        out[i] = [(cols * conf).sum() / total / size * INPUT_PX,
                  (rows * conf).sum() / total / size * INPUT_PX]
    return out


class LandmarkPoseEstimator(PoseEstimator):
    """MoveNet finds the people (boxes, scores); MediaPipe's landmark model places their 17
    joints, on a crop per person turned upright. A person whose crop the landmark model does
    not see (pose flag < 0.5) keeps MoveNet's keypoints.

    ``passes``: landmark passes per person (2: the second on the crop the first's auxiliary
    landmarks give, as MediaPipe tracks from frame to frame). 1 by default: on fall-01 the
    second pass found the person in fewer crops, standing and lying
    (benchmarks/pose_floor.py).
    """

    def __init__(self, device: Device = "cpu", input_px: int = 320, min_score: float = 0.15,
                 threads: int = 0, passes: int = 1) -> None:
        super().__init__(device, input_px, min_score, threads)
        self.landmarker = PoseLandmarker(device, threads)
        self.passes = passes
        self.turn_from_torso = True  # it finds an upside-down person as readily as upright

    def predict_one(self, image: np.ndarray) -> PersonDetections:
        people = super().predict_one(image)
        if not len(people):
            return people
        keypoints = people.keypoints.copy()
        for i in range(len(people)):
            roi = roi_from_person(people.boxes[i], people.keypoints[i])
            found = self.landmarker.track(image, roi, self.passes)
            if found.presence >= PRESENT:
                keypoints[i] = found.keypoints
        return PersonDetections(people.boxes, people.scores, keypoints)

    def predict_region(self, image: np.ndarray, box: Sequence[float], min_score: float,
                       turn: int | None = None, margin: float = 0.5) -> PersonDetections:
        """The held person's joints in a crop around ``box``, turned as ``turn`` says
        (pose.REGION_TURNS); score = mean joint visibility. The turn matters: the landmark model
        places an upside-down person's joints as confidently as an upright one's, so the
        person's last seen torso (people._remember_turns) chooses it. Where the landmark model
        sees no one there, MoveNet's own second look on the turned crop (its person then
        landmarked in that crop, where they stand upright)."""
        found = self.landmarker.track(
            image, roi_from_person(np.asarray(box, np.float64), None, TURN_UP[turn]),
            self.passes)
        keypoints = found.keypoints
        score = float(keypoints[:, 2].mean())
        xy = keypoints[:, :2]
        person_box = np.concatenate([xy.min(axis=0), xy.max(axis=0)])
        if (found.presence < PRESENT or score < min_score or person_box[2] <= person_box[0]
                or person_box[3] <= person_box[1]):
            return super().predict_region(image, box, min_score, turn, margin)
        return PersonDetections(person_box[None].astype(np.float32),
                                np.array([score], np.float32), keypoints[None])



PoseLandmarksName = Literal["none", "mediapipe"]


def pose_estimator(landmarks: PoseLandmarksName = "none", device: Device = "cpu",
                   threads: int = 0) -> PoseEstimator:
    """The pose backend a setting names: MoveNet alone ("none"), or MoveNet's people with
    MediaPipe's landmarks ("mediapipe", see LandmarkPoseEstimator)."""
    if landmarks == "mediapipe":
        return LandmarkPoseEstimator(device, threads=threads)
    if landmarks == "none":
        return PoseEstimator(device, threads=threads)
    raise ValueError(f"pose landmarks must be 'none' or 'mediapipe', got {landmarks!r}")
