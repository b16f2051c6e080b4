"""A smile measure that needs no expression model of ours: mouth-corner geometry from MediaPipe's
face mesh, the reference the disparity audit compares groups at (issue 18, item 3).

Why: ``eval disparity`` shows that the expression model labels some groups of UTKFace's photos
happy less often, but not whether the model or the photos differ. Comparing groups at equal
*reference* (faces that smile as much by a measure the model does not give; Rhue 2018 compared
groups' anger scores at equal smile intensity) separates the two. The reference here is
geometry: where the mouth corners sit against the lips' middle and how wide the mouth is, both
in inter-ocular distances, read from the face mesh's 468 landmarks (vendored to ONNX by
tools/vendor_face_mesh.py, checked against LiteRT). Read by the evaluation only.

The crop is MediaPipe's face-landmark region: the face box grown 1.5 times, square, turned so
that the eyes are level (when the eyes are known: the detector's keypoints), 192 x 192 RGB in
[0, 1].
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata

from affectlens.models.runtime import WEIGHTS_DIR, OnnxModel

MESH_WEIGHTS = WEIGHTS_DIR / "mediapipe_face_mesh.onnx"
# The smile score's scale, fitted and checked by benchmarks/smile_reference.py (--save).
SCALE_FILE = MESH_WEIGHTS.with_suffix(".smile.json")
MIN_PRESENCE = 0.5  # below this the mesh does not take the crop for a face: no reference
SIDE = 192
GROW = 1.5  # MediaPipe's face-landmark region: the detection box grown this much, square
LANDMARKS = 468
# Landmark numbers of MediaPipe's canonical face mesh (the subject's right is the image's left).
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
FEATURES = ("mouth_width", "corner_lift")


@dataclass(frozen=True)
class MeshResult:
    """Per face: (N, 468, 2) landmarks in image pixels, and the face-presence probability."""

    landmarks: np.ndarray
    presence: np.ndarray


class FaceMesh:
    """MediaPipe's face mesh on face boxes (the model, run by ONNX Runtime on the CPU)."""

    def __init__(self, threads: int = 1) -> None:
        self.model = OnnxModel(MESH_WEIGHTS, "cpu", threads)

    def run(self, images: Sequence[np.ndarray], boxes: np.ndarray,
            eyes: np.ndarray | None = None) -> MeshResult:
        """``images`` BGR (or grey), one face each: ``boxes`` (N, 4) x1, y1, x2, y2 in its
        pixels; ``eyes`` (N, 2, 2) the right and left eye's centres (None: upright faces)."""
        crops, back = [], []
        for i, image in enumerate(images):
            pair = None if eyes is None else eyes[i]
            crop, matrix = face_crop(image, boxes[i], pair)
            crops.append(crop)
            back.append(cv2.invertAffineTransform(matrix))
        if not crops:
            return MeshResult(np.zeros((0, LANDMARKS, 2)), np.zeros(0))
        points, logits = [], []
        for crop in crops:  # the converted graph takes one crop a call (batch 1, as in TFLite)
            outputs = self.model.run(crop[None])
            points.append(next(o for o in outputs if o.size == LANDMARKS * 3))
            logits.append(next(o for o in outputs if o.size == 1))
        points = np.stack(points).reshape(len(crops), LANDMARKS, 3)[..., :2].astype(np.float64)
        logit = np.stack(logits)
        landmarks = np.stack([
            p @ m[:, :2].T + m[:, 2] for p, m in zip(points, back)])
        return MeshResult(landmarks, 1 / (1 + np.exp(-logit.reshape(-1).astype(np.float64))))


def face_crop(image: np.ndarray, box: np.ndarray, eyes: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's face-landmark crop of one face and the 2x3 affine map image -> crop."""
    x1, y1, x2, y2 = (float(v) for v in box)
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    size = GROW * max(x2 - x1, y2 - y1)
    angle = 0.0
    if eyes is not None:
        (rx, ry), (lx, ly) = eyes
        angle = float(np.arctan2(ly - ry, lx - rx))
    across = np.array([np.cos(angle), np.sin(angle)]) * size / 2
    down = np.array([-np.sin(angle), np.cos(angle)]) * size / 2
    source = np.float32([centre - across - down, centre + across - down, centre - across + down])
    target = np.float32([[0, 0], [SIDE, 0], [0, SIDE]])
    matrix = cv2.getAffineTransform(source, target)
    colour = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    crop = cv2.warpAffine(colour, matrix, (SIDE, SIDE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return rgb, matrix


def mouth_geometry(landmarks: np.ndarray) -> np.ndarray:
    """(N, 2): FEATURES per face, in inter-ocular distances (outer eye corners), measured
    with the eyes level: the mouth's width corner to corner, and how far the corners sit
    above the lips' middle (positive: raised, as in a smile; negative: drawn down)."""
    points = np.asarray(landmarks, np.float64)
    right, left = points[:, RIGHT_EYE_OUTER], points[:, LEFT_EYE_OUTER]
    eye_line = left - right
    ocular = np.maximum(np.linalg.norm(eye_line, axis=1), 1e-6)
    cos, sin = eye_line[:, 0] / ocular, eye_line[:, 1] / ocular

    def level_y(p: np.ndarray) -> np.ndarray:  # the y of a point with the eyes level
        return -sin * p[:, 0] + cos * p[:, 1]

    corners = (level_y(points[:, MOUTH_RIGHT]) + level_y(points[:, MOUTH_LEFT])) / 2
    middle = (level_y(points[:, LIP_UPPER_INNER]) + level_y(points[:, LIP_LOWER_INNER])) / 2
    width = np.linalg.norm(points[:, MOUTH_LEFT] - points[:, MOUTH_RIGHT], axis=1)
    return np.stack([width / ocular, (middle - corners) / ocular], axis=1)


@dataclass(frozen=True)
class SmileScale:
    """A logistic score over FEATURES (standardised), fitted on faces labelled happy against
    neutral by annotators' votes: the smile reference's one number per face."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # per standardised feature
    bias: float

    def score(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, np.float64) - self.mean) / self.scale
        return z @ self.weights + self.bias

    @classmethod
    def load(cls, path: Path = SCALE_FILE) -> SmileScale:
        saved = json.loads(path.read_text())
        return cls(np.array(saved["mean"]), np.array(saved["scale"]),
                   np.array(saved["weights"]), float(saved["bias"]))

    @classmethod
    def fit(cls, features: np.ndarray, happy: np.ndarray, l2: float = 1.0) -> SmileScale:
        x = np.asarray(features, np.float64)
        y = np.asarray(happy, np.float64)
        mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-9)
        z = (x - mean) / scale

        def loss(theta: np.ndarray) -> float:
            logits = z @ theta[:-1] + theta[-1]
            return float(np.mean(np.logaddexp(0, logits) - y * logits)
                         + l2 / len(y) * theta[:-1] @ theta[:-1] / 2)

        theta = minimize(loss, np.zeros(x.shape[1] + 1), method="L-BFGS-B").x
        return cls(mean, scale, theta[:-1], float(theta[-1]))


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The area under the ROC curve: the chance a positive scores above a negative (ties
    count half; Mann-Whitney)."""
    positive = np.asarray(positive, bool)
    ranks = rankdata(scores)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if not n_pos or not n_neg:
        raise ValueError("auc needs both positives and negatives")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def crop_features(images: Iterable[np.ndarray], mesh: FaceMesh | None = None,
                  progress: Callable[[int], None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) FEATURES and (N,) face presence of face crops (each whole image one face,
    upright), taken one at a time: a generator of images keeps one in memory."""
    mesh = mesh or FaceMesh()
    features, presence = [], []
    for image in images:
        box = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float64)
        result = mesh.run([image], box)
        features.append(mouth_geometry(result.landmarks)[0])
        presence.append(result.presence[0])
        if progress:
            progress(1)
    return np.reshape(features, (-1, len(FEATURES))), np.asarray(presence, np.float64)


def smile_scores(images: Iterable[np.ndarray], mesh: FaceMesh | None = None,
                 scale: SmileScale | None = None,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The smile reference of face crops: the shipped SmileScale's score, NaN where the mesh
    finds no face."""
    features, presence = crop_features(images, mesh, progress)
    scale = scale or SmileScale.load()
    return np.where(presence >= MIN_PRESENCE, scale.score(features), np.nan)
