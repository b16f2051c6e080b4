"""Privacy masks: regions of a camera's picture that are never analysed and never shown.

A care home films a room, not the bathroom door in it or the neighbour's window across the
street. A mask is a polygon in pixels of the camera's frame; its pixels are painted black in
each frame as it comes from the camera, before the face detector, the pose model or anything
else sees it. Every picture that leaves the process (previews, event snapshots, fall clips)
is made from that painted frame, so what is under a mask is neither analysed nor shown.
"""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from affectlens.types import Coordinate, names_unique

MAX_MASKS = 32
MAX_MASK_POINTS = 64


class Mask(BaseModel):
    """A polygon blacked out in every frame of one camera, in pixels of its frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, description="What it hides (bathroom door).")
    points: tuple[tuple[Coordinate, Coordinate], ...] = Field(
        min_length=3, max_length=MAX_MASK_POINTS, description="Polygon corners (x, y), pixels.")


Masks = Annotated[tuple[Mask, ...], Field(max_length=MAX_MASKS),
                  AfterValidator(names_unique("mask"))]


def black_out(image: np.ndarray, masks: tuple[Mask, ...]) -> np.ndarray:
    """A copy of ``image`` (BGR) with every mask's pixels black; ``image`` itself when there
    are no masks. Corners past the frame's edge black out up to the edge."""
    if not masks:
        return image
    painted = image.copy()
    polygons = [np.round(np.array(m.points, np.float64)).astype(np.int32) for m in masks]
    cv2.fillPoly(painted, polygons, (0, 0, 0))
    return painted
