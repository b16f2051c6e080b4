"""Face blurring that a face detector can no longer see through.

Each face box is grown by a margin (hair, chin and ears identify too), pixelated to a coarse
grid and then blurred, so that neither a person nor a detector recovers the face. The input
image is never changed: a blurred copy is returned.
"""

from __future__ import annotations

import cv2
import numpy as np

MARGIN = 0.3  # share of the box size added on every side
BLOCKS = 6  # pixelation cells across the blurred region


def blur_faces(image: np.ndarray, boxes: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """A copy of ``image`` with every (x1, y1, x2, y2) box, plus margin, made unrecognisable."""
    out = image.copy()
    height, width = image.shape[:2]
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
        left, top = max(0, int(x1 - dx)), max(0, int(y1 - dy))
        right, bottom = min(width, int(np.ceil(x2 + dx))), min(height, int(np.ceil(y2 + dy)))
        if right - left < 2 or bottom - top < 2:
            continue
        region = out[top:bottom, left:right]
        small = cv2.resize(region, (BLOCKS, BLOCKS), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (right - left, bottom - top), interpolation=cv2.INTER_NEAREST)
        kernel = max(3, (min(right - left, bottom - top) // 4) | 1)
        out[top:bottom, left:right] = cv2.GaussianBlur(coarse, (kernel, kernel), 0)
    return out
