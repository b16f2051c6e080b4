"""Face blurring (privacy.blur): what is left of a blurred region is its coarse cells'
averages, whatever the region's size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from affectlens.models.face_detector import FaceDetector
from affectlens.privacy.blur import BLOCKS, blur_faces
from affectlens.samples import portrait


@pytest.mark.parametrize("size", [(42, 48), (204, 324), (642, 360)])  # whole cells
def test_a_blurred_region_keeps_nothing_but_its_cells_averages(size: tuple[int, int]) -> None:
    """Two regions with the same average in each of the BLOCKS x BLOCKS cells but different
    detail inside them (a real face against those averages alone) blur to the same pixels:
    no detail of a face, a lying person's body or a whole frame survives, at any size."""
    width, height = size
    face = cv2.resize(portrait(), (width, height), interpolation=cv2.INTER_AREA)
    cells = cv2.resize(face, (BLOCKS, BLOCKS), interpolation=cv2.INTER_AREA)
    flat = cv2.resize(cells, (width, height), interpolation=cv2.INTER_NEAREST)
    again = cv2.resize(flat, (BLOCKS, BLOCKS), interpolation=cv2.INTER_AREA)
    assert np.abs(again.astype(int) - cells).max() <= 1  # the same averages (rounding)
    assert np.abs(flat.astype(int) - face).mean() > 10  # but not the same detail
    box = np.array([[0, 0, width, height]], float)
    blurred_face, blurred_flat = blur_faces(face, box, margin=0), blur_faces(flat, box, margin=0)
    assert np.abs(blurred_face.astype(int) - blurred_flat).max() <= 2  # their rounding
    assert np.abs(blurred_face.astype(int) - face).mean() > 10  # and it did blur


def test_a_blurred_face_is_not_found_again() -> None:
    image = portrait()
    detector = FaceDetector(min_face_px=24)
    (faces,) = detector.predict([image])
    assert len(faces) == 1
    (again,) = detector.predict([blur_faces(image, faces.boxes)])
    assert len(again) == 0
