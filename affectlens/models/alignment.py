"""Aligned face crops from the detector's landmarks, shared by every face model.

A similarity transform (rotation, uniform scale, shift) maps four landmarks (both eyes, nose
tip, mouth centre) onto where each model's training images have them. The templates were
measured on those training images by tools/measure_templates.py, so a crop from a video looks
to the model like the pictures it learnt from.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LANDMARKS_USED = [0, 1, 2, 3]  # right eye, left eye, nose tip, mouth centre


@dataclass(frozen=True)
class CropTemplate:
    """Where the four landmarks sit in a model's input, as fractions of its width and height."""

    points: tuple[tuple[float, float], ...]
    size: int
    grey: bool

    def pixels(self) -> np.ndarray:
        return np.array(self.points, np.float32) * self.size


# FER2013 48x48 faces; median over 1,883 of 2,000 training images (tools/measure_templates.py).
FER_TEMPLATE = CropTemplate(
    ((0.3094, 0.3975), (0.6847, 0.3947), (0.4975, 0.5929), (0.4990, 0.7771)), size=64, grey=True
)
# UTKFace 200x200 crops, the framing of dlib face chips the age model was trained on;
# median over 1,996 of 2,000 utkface-dev images (tools/measure_templates.py).
UTK_TEMPLATE = CropTemplate(
    ((0.2977, 0.3066), (0.6939, 0.3040), (0.4986, 0.5170), (0.5003, 0.7162)), size=64, grey=False
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity that maps src points onto dst points (Umeyama, 1991)."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rotation = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / max(src_c.var(0).sum(), 1e-12)
    matrix = np.zeros((2, 3), np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align_faces(image: np.ndarray, keypoints: np.ndarray, template: CropTemplate) -> np.ndarray:
    """Crops (N, size, size[, 3]) uint8 for the faces whose landmarks are given, BGR or grey."""
    size = template.size
    shape = (len(keypoints), size, size) if template.grey else (len(keypoints), size, size, 3)
    crops = np.zeros(shape, np.uint8)
    source = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if template.grey else image
    target = template.pixels()
    for i, points in enumerate(keypoints):
        matrix = similarity_transform(points[LANDMARKS_USED].astype(np.float64), target)
        crops[i] = cv2.warpAffine(
            source, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    return crops
