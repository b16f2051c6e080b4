"""Checks on pictures the tests get back: is a region blurred, what is a video's last frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def sharpness(image: np.ndarray, box: np.ndarray) -> float:
    """Detail left in a box (variance of the Laplacian): blurring takes most of it away."""
    x1, y1, x2, y2 = (int(v) for v in box)
    grey = cv2.cvtColor(image[max(0, y1):y2, max(0, x1):x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def last_frame(video: Path) -> np.ndarray:
    capture, last = cv2.VideoCapture(str(video)), None
    while (read := capture.read())[0]:
        last = read[1]
    capture.release()
    assert last is not None, f"no frame in {video}"
    return last


def frame_at(video: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok, f"no frame {index} in {video}"
    return frame
