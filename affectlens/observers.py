"""Things that watch analysed frames go by: thumbnails, annotated video, progress.

An observer never stops an analysis: ``analyze`` logs a failing observer and drops it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from affectlens.privacy.blur import outgoing_picture
from affectlens.sources.base import MediaInfo
from affectlens.types import FaceAnalysis, Frame

THUMBNAIL_SIDE = 160


class FrameObserver(Protocol):
    """``heads``: (N, 4) boxes blurred as faces are, PeopleAnalysis.blur_boxes: heads the
    pose model saw (the face detector misses faces lying down or in profile) and where people
    held on the floor unseen were last seen; None without the body path."""

    def start(self, info: MediaInfo) -> None: ...

    def observe(self, frame: Frame, analysis: FaceAnalysis,
                heads: np.ndarray | None = None) -> None: ...

    def finish(self) -> None: ...


class ThumbnailCollector:
    """For each track, the surroundings of its most confident face, with every face blurred."""

    def __init__(self) -> None:
        self.thumbnails: dict[tuple[str, int], np.ndarray] = {}
        self._best: dict[tuple[str, int], float] = {}

    def start(self, info: MediaInfo) -> None:
        pass

    def observe(self, frame: Frame, analysis: FaceAnalysis,
                heads: np.ndarray | None = None) -> None:
        blurred: np.ndarray | None = None
        for i, track_id in enumerate(analysis.track_ids):
            key = (frame.source, int(track_id))
            score = float(analysis.faces.scores[i])
            if track_id < 0 or score <= self._best.get(key, -1.0):
                continue
            if blurred is None:
                blurred = outgoing_picture(frame.image, analysis, heads)
            self._best[key] = score
            self.thumbnails[key] = _context_crop(blurred, analysis.faces.boxes[i])

    def finish(self) -> None:
        pass


def _context_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A square around the face, twice its size, scaled to THUMBNAIL_SIDE."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1])
    h, w = image.shape[:2]
    x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
    x2, y2 = int(min(w, cx + half)), int(min(h, cy + half))
    crop = image[y1:y2, x1:x2]
    scale = THUMBNAIL_SIDE / max(crop.shape[:2])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)


def output_name(path: Path) -> str:
    """A file-name-safe stem for outputs derived from an input."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in path.stem)
