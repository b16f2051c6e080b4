"""Grace Hopper's portrait with a sad face, for the demo's distress camera.

Why a warp: the portrait reads as neutral to the expression model (negative share about a
third), and the distress rule needs a face that reads as negative for seconds. Moving the
mouth's corners down and the inner ends of the brows up, the two signs of sadness in the
Facial Action Coding System (AU15, AU1), is enough; tests/test_demo_media.py measures what
the expression model and the distress rule make of it. Nothing else of the face moves.
"""

from __future__ import annotations

import cv2
import numpy as np

# Where the features are in matplotlib's 512x600 portrait, pixels (x, y), and which way they
# are moved at full strength (dx, dy): the mouth's corners down and apart a little, the
# inner brows up and toward the middle.
_MOVES: tuple[tuple[float, float, float, float], ...] = (
    (240.0, 285.0, -3.0, 14.0), (305.0, 285.0, 3.0, 14.0),
    (235.0, 168.0, 4.0, -8.0), (285.0, 168.0, -4.0, -8.0),
)
_REACH_PX = 18.0  # how far around each point the skin moves with it (a Gaussian's sigma)


def saddened(portrait: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """The portrait (512x600, BGR) with its expression moved toward sad by ``strength``
    (0: as it is, 1: the full warp)."""
    if portrait.shape[:2] != (600, 512):
        raise ValueError(f"expected matplotlib's 512x600 portrait, got {portrait.shape[:2]}")
    if strength <= 0:
        return portrait
    ys, xs = np.mgrid[0:600, 0:512].astype(np.float32)
    dx, dy = np.zeros_like(xs), np.zeros_like(ys)
    for x, y, move_x, move_y in _MOVES:
        weight = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * _REACH_PX**2)) * strength
        dx += move_x * weight
        dy += move_y * weight
    return cv2.remap(portrait, xs - dx, ys - dy, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)
