"""Synthetic media for the tests, made from matplotlib's public-domain Grace Hopper portrait."""

from __future__ import annotations

import cv2
import numpy as np

from affectlens.samples import write_video

__all__ = ["moving_face_frames", "paste", "scaled_face", "write_video"]

# Width of the BlazeFace box around Grace Hopper's face in the full 512x600 portrait, as
# measured by the detector (the box is 197 px wide); used to scale her face to a wanted width.
PORTRAIT_FACE_WIDTH = 197.0


def scaled_face(portrait: np.ndarray, face_width: float) -> np.ndarray:
    """The whole portrait scaled so that the face in it is about ``face_width`` px wide."""
    scale = face_width / PORTRAIT_FACE_WIDTH
    return cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int) -> np.ndarray:
    h, w = image.shape[:2]
    canvas[y : y + h, x : x + w] = image
    return canvas


def moving_face_frames(portrait: np.ndarray, count: int = 40) -> list[np.ndarray]:
    """``count`` 320x240 grey frames with a ~110 px wide face drifting to the right."""
    face = cv2.resize(portrait, (160, 188), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(count):
        canvas = np.full((240, 320, 3), 110, np.uint8)
        frames.append(paste(canvas, face, 10 + 3 * i, 26))
    return frames
