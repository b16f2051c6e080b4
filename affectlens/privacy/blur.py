"""Face blurring that a face detector can no longer see through.

Each face box is grown by a margin (hair, chin and ears identify too), pixelated to a coarse
grid and then blurred, so that neither a person nor a detector recovers the face. The input
image is never changed: a blurred copy is returned.

Where an administrator turned blurring off for a camera, its pictures instead carry a red
"FACES NOT BLURRED" banner drawn into their pixels (``not_blurred_banner``), so that no copy
of one can be mistaken for a blurred picture.

Every picture that leaves the process (live previews, event snapshots and clips, offline
thumbnails and annotated videos) is made by one function, ``outgoing_picture``: what is
blurred, in which order, and how an unblurred one is marked are decided here only.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from affectlens.types import FaceAnalysis

MARGIN = 0.3  # share of the box size added on every side
BLOCKS = 6  # pixelation cells across the blurred region
CELL_PX = 8  # pixels a cell while the cells are smoothed into each other


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
        # Smooth over half a cell: the cells' edges carry nothing of the face, and a sharp
        # grid left in a small head box reads as detail to anyone measuring what remains.
        # Smoothed on a grid of CELL_PX pixels a cell, then scaled to the region: a blur of
        # the region itself costs its area times a kernel as wide as half a cell (47 ms of
        # CPU for a lying person's 200x320 box, on every analysed frame of a fall camera's
        # clip); this costs the same whatever the region's size, for the same picture.
        grid = cv2.resize(small, (BLOCKS * CELL_PX, BLOCKS * CELL_PX),
                          interpolation=cv2.INTER_NEAREST)
        smooth = cv2.GaussianBlur(grid, (0, 0), 0.5 * CELL_PX)
        out[top:bottom, left:right] = cv2.resize(smooth, (right - left, bottom - top),
                                                 interpolation=cv2.INTER_LINEAR)
    return out


BANNER_TEXT = "FACES NOT BLURRED"
BANNER_COLOUR = (0, 0, 200)  # BGR: red
BANNER_SHARE = 0.08  # of the image height, at least BANNER_MIN_PX
BANNER_MIN_PX = 18


def banner_height(height: int) -> int:
    """Rows the banner covers at the top of an image ``height`` rows tall."""
    return min(height, max(BANNER_MIN_PX, round(height * BANNER_SHARE)))


def not_blurred_banner(image: np.ndarray, text: str = BANNER_TEXT) -> np.ndarray:
    """A copy of ``image`` with a red band across its top reading ``text`` in white: what
    every frame served from a camera whose blurring an admin turned off carries."""
    out = image.copy()
    height, width = out.shape[:2]
    band = banner_height(height)
    out[:band] = BANNER_COLOUR
    font = cv2.FONT_HERSHEY_SIMPLEX
    (text_w, text_h), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = min(band * 0.6 / text_h, width * 0.9 / text_w)
    thickness = max(1, round(scale * 2))
    (text_w, text_h), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = ((width - text_w) // 2, (band + text_h) // 2)
    cv2.putText(out, text, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def blur_regions(analysis: FaceAnalysis, heads: np.ndarray | None) -> np.ndarray:
    """Every box a picture that leaves the process must blur: detected faces, and ``heads``
    (pose heads, people held on the floor unseen: PeopleAnalysis.blur_boxes)."""
    if heads is None or not len(heads):
        return analysis.faces.boxes
    return np.concatenate([analysis.faces.boxes.reshape(-1, 4), heads.reshape(-1, 4)])


def outgoing_picture(image: np.ndarray, analysis: FaceAnalysis, heads: np.ndarray | None = None,
                     blur: bool = True, max_width: int | None = None,
                     draw: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
    """The picture that may leave the process, made from ``image`` (never changed): faces and
    ``heads`` blurred (``blur_regions``), as ``outgoing_image`` makes it."""
    return outgoing_image(image, blur_regions(analysis, heads), blur, max_width, draw)


def outgoing_image(image: np.ndarray, regions: np.ndarray, blur: bool = True,
                   max_width: int | None = None,
                   draw: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
    """The picture that may leave the process, made from ``image`` (never changed).

    ``regions`` ((N, 4) boxes: faces, heads) are blurred at full resolution, then the picture
    is scaled down to ``max_width`` if wider, then ``draw`` may draw onto it (boxes and labels:
    after the blur, so that it does not smudge them), and last, with ``blur`` False (an
    administrator's choice), the "FACES NOT BLURRED" banner goes across the top, at the size
    served so that it stays legible, over anything drawn.
    """
    out = blur_faces(image, regions) if blur else image.copy()
    if max_width is not None and out.shape[1] > max_width:
        scale = max_width / out.shape[1]
        out = cv2.resize(out, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if draw is not None:
        draw(out)
    return out if blur else not_blurred_banner(out)
