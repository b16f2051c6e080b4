"""Which parts of a frame changed since the source's last analysed frame: cheap differencing.

Why: the face detector's cost grows with pixels, not with faces (issue 16), and most of a
care-home camera's picture is a still room. Between full searches the detector looks only
where something changed or where a face was lately (``Pipeline._plans``); this
module says where something changed.

How: the frame is shrunk (area averaging, which also averages away sensor and compression
noise) so that the smallest face searched for is ``CELLS_PER_FACE`` pixels wide, turned grey,
and compared with the previous shrunk frame; a shrunk pixel whose grey level moved by more than
``motion_threshold`` (``AnalysisConfig``) has changed. A summed-area table of the changed
pixels then answers "did anything change inside this rectangle?" for every detector tile at
once. It costs about a millisecond a 360p frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Protocol

import cv2
import numpy as np

# The smallest face searched for spans this many shrunk pixels: enough that a face moving by a
# fraction of its size changes a shrunk pixel, few enough that the comparison stays cheap.
CELLS_PER_FACE = 4


@dataclass(frozen=True)
class Changes:
    """The changed pixels of one frame against the one before, as a summed-area table."""

    summed: np.ndarray  # (h + 1, w + 1) int32: changed shrunk pixels above and left of each
    scale: float  # shrunk pixels per frame pixel

    @property
    def fraction(self) -> float:
        """The share of the frame that changed."""
        height, width = self.summed.shape[0] - 1, self.summed.shape[1] - 1
        return float(self.summed[-1, -1]) / max(1, height * width)

    def within(self, rects: np.ndarray) -> np.ndarray:
        """For each rectangle (N, 4: x0, y0, x1, y1 in frame pixels), the frame pixels in it
        that changed (counted on the shrunk frame, so in steps of 1 / scale**2)."""
        x0, y0, x1, y1 = self._cells(rects).T
        s = self.summed
        return (s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]) / self.scale**2

    def outside(self, rects: np.ndarray) -> Changes:
        """These changes less those inside any of ``rects`` (N, 4: x0, y0, x1, y1 in frame
        pixels; each shrunk pixel a rectangle touches counts as inside)."""
        rects = np.asarray(rects, np.float64).reshape(-1, 4)
        if not len(rects) or not self.summed[-1, -1]:
            return self
        changed = np.diff(np.diff(self.summed, axis=0), axis=1)
        for x0, y0, x1, y1 in self._cells(rects):
            changed[y0:y1, x0:x1] = 0
        summed = np.zeros_like(self.summed)
        summed[1:, 1:] = changed.cumsum(0).cumsum(1)
        return Changes(summed, self.scale)

    def _cells(self, rects: np.ndarray) -> np.ndarray:
        """``rects`` (N, 4, frame pixels) as shrunk-pixel rectangles (x0, y0, x1, y1), each
        shrunk pixel a rectangle touches included, clipped to the frame."""
        height, width = self.summed.shape[0] - 1, self.summed.shape[1] - 1
        r = np.asarray(rects, np.float64).reshape(-1, 4) * self.scale
        low, high = np.floor(r[:, :2]), np.ceil(r[:, 2:])
        limits = np.array([width, height])
        return np.concatenate([np.clip(low, 0, limits), np.clip(high, 0, limits)],
                              axis=1).astype(int)


class MotionDetector:
    """Frame differencing for one source: ``update`` each analysed frame, in order."""

    def __init__(self, threshold: float, min_face_px: float) -> None:
        """``threshold``: grey levels (0-255) a shrunk pixel must move by to count as changed;
        ``min_face_px``: the smallest face searched for, which sets the shrinking."""
        self.threshold = float(threshold)
        self.scale = min(1.0, CELLS_PER_FACE / float(min_face_px))
        self._previous: np.ndarray | None = None

    def update(self, image: np.ndarray) -> Changes | None:
        """What changed in ``image`` (BGR) since the last frame given; None for the first
        frame or one of another size (everything in it is new)."""
        grey = self.shrunk(image)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return None
        return self.against(grey, previous, image.shape[1])

    @property
    def last(self) -> np.ndarray | None:
        """The shrunk grey picture of the last frame given to ``update``."""
        return self._previous

    def against(self, grey: np.ndarray, reference: np.ndarray, width: int) -> Changes:
        """What changed from a shrunk ``reference`` to the shrunk ``grey`` of a frame
        ``width`` pixels wide."""
        changed = (cv2.absdiff(grey, reference) > self.threshold).astype(np.int32)
        summed = np.zeros((grey.shape[0] + 1, grey.shape[1] + 1), np.int32)
        summed[1:, 1:] = changed.cumsum(0).cumsum(1)
        return Changes(summed, grey.shape[1] / width)

    def shrunk(self, image: np.ndarray) -> np.ndarray:
        """``image`` (BGR) shrunk and grey, as frames are compared."""
        height, width = image.shape[:2]
        size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small

    def differs(self, grey: np.ndarray, reference: np.ndarray | None) -> bool:
        """Whether a shrunk frame differs anywhere from a reference one (None, or of another
        size: it does)."""
        if reference is None or reference.shape != grey.shape:
            return True
        return bool((cv2.absdiff(grey, reference) > self.threshold).any())


class Window(Protocol):
    """A square of a frame searched at one detector level (face_detector.Tile)."""

    x: int
    y: int
    side: int
    level: int


class SearchedPictures:
    """For each detector level, the shrunk grey picture each of its tiles was last searched
    on (a tile's region holds the picture of that tile's last search). Why: a tile whose
    picture has not changed since it was searched gives the detector the same answer, so the
    periodic search need not look there again; and comparing with the picture of the last
    search, not the frame before, adds up a slow change (light, a creeping shadow) that no
    single frame shows.
    """

    def __init__(self) -> None:
        self.pictures: dict[int, np.ndarray] = {}

    def remember(self, grey: np.ndarray, scale: float, tiles: Sequence[Window] | None,
                 all_levels: Iterable[int]) -> None:
        """``tiles`` (all of ``all_levels`` when None) were searched on ``grey``."""
        if tiles is None:
            self.pictures = {level: grey.copy() for level in all_levels}
            return
        if any(p.shape != grey.shape for p in self.pictures.values()):
            self.pictures = {}  # another frame size: nothing known of it yet
        for tile in tiles:
            if tile.level not in self.pictures:
                continue
            x0, y0 = int(tile.x * scale), int(tile.y * scale)
            x1, y1 = ceil((tile.x + tile.side) * scale), ceil((tile.y + tile.side) * scale)
            self.pictures[tile.level][y0:y1, x0:x1] = grey[y0:y1, x0:x1]

    def changes(self, grey: np.ndarray, width: int, motion: MotionDetector
                ) -> dict[int, Changes]:
        """Per level remembered (for this frame size): what changed, by ``motion``'s
        threshold, between the picture its tiles were last searched on and ``grey``."""
        return {level: motion.against(grey, picture, width)
                for level, picture in self.pictures.items() if picture.shape == grey.shape}
