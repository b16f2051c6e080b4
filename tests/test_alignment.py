"""Face alignment: the similarity fit and the aligned crops every face model reads."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from affectlens.models.alignment import (
    FER_TEMPLATE,
    LANDMARKS_USED,
    UTK_TEMPLATE,
    CropTemplate,
    align_faces,
    similarity_transform,
)


def similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([scale * rotation, np.array(shift)[:, None]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize(
    ("angle", "scale", "shift"),
    [(0, 1, (0, 0)), (30, 2.5, (12, -7)), (-100, 0.2, (300.5, 41)), (179, 1.3, (-5, 5))],
)
def test_similarity_transform_recovers_known_transform(angle, scale, shift) -> None:
    src = np.random.default_rng(0).uniform(0, 200, size=(4, 2))
    truth = similarity(angle, scale, shift)
    found = similarity_transform(src, apply(truth, src))
    np.testing.assert_allclose(found, truth, atol=1e-9)


def test_similarity_transform_least_squares_with_noise() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, size=(50, 2))
    truth = similarity(20, 0.5, (3, 4))
    found = similarity_transform(src, apply(truth, src) + rng.normal(0, 0.05, size=(50, 2)))
    np.testing.assert_allclose(found, truth, atol=0.02)


def test_similarity_transform_never_mirrors() -> None:
    """Mirrored landmarks are fitted with a rotation, not a reflection (a face stays a face)."""
    src = np.array([[0, 0], [10, 0], [5, 6], [5, 10]], float)
    mirrored = src * [-1, 1]
    found = similarity_transform(src, mirrored)
    assert np.linalg.det(found[:, :2]) > 0


def landmark_image(points: np.ndarray, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """A black BGR image with a white dot of radius 2 at each point."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for x, y in points:
        cv2.circle(image, (round(x), round(y)), 2, (255, 255, 255), -1)
    return image


def dot_centres(crop: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Brightness-weighted centre of the crop's pixels near each expected point."""
    grey = crop if crop.ndim == 2 else crop.mean(axis=2)
    ys, xs = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]]
    centres = []
    for ex, ey in expected:
        near = ((xs - ex) ** 2 + (ys - ey) ** 2 < 36) * grey.astype(float)
        assert near.sum() > 0, f"no dot near {ex, ey}"
        centres.append([(near * xs).sum() / near.sum(), (near * ys).sum() / near.sum()])
    return np.array(centres)


@pytest.mark.parametrize("template", [FER_TEMPLATE, UTK_TEMPLATE], ids=["grey", "colour"])
def test_align_faces_puts_landmarks_on_template(template: CropTemplate) -> None:
    """Landmarks of a tilted, larger face land where the model's training faces have them."""
    target = template.pixels().astype(np.float64)
    to_frame = similarity(25, 2.0, (120, 60))
    face_points = np.zeros((6, 2))
    face_points[LANDMARKS_USED] = apply(to_frame, target)
    face_points[4:] = face_points[:2]  # ears: unused by alignment
    image = landmark_image(face_points[LANDMARKS_USED])
    crops = align_faces(image, face_points[None].astype(np.float32), template)
    size = template.size
    if template.grey:
        assert crops.shape == (1, size, size)
    else:
        assert crops.shape == (1, size, size, 3)
    assert crops.dtype == np.uint8
    np.testing.assert_allclose(dot_centres(crops[0], target), target, atol=0.75)


@pytest.mark.parametrize("template", [FER_TEMPLATE, UTK_TEMPLATE], ids=["grey", "colour"])
def test_align_faces_shapes(template: CropTemplate, portrait: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    keypoints = (rng.uniform(100, 300, size=(3, 6, 2))).astype(np.float32)
    crops = align_faces(portrait, keypoints, template)
    channels = () if template.grey else (3,)
    assert crops.shape == (3, template.size, template.size, *channels)
    assert crops.dtype == np.uint8
    assert crops.any()
    none = align_faces(portrait, np.zeros((0, 6, 2), np.float32), template)
    assert none.shape == (0, template.size, template.size, *channels)


def test_colour_crop_keeps_bgr_order() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    image[..., 0] = 255  # pure blue in BGR
    points = np.zeros((1, 6, 2), np.float32)
    points[0, LANDMARKS_USED] = UTK_TEMPLATE.pixels() + 50
    crop = align_faces(image, points, UTK_TEMPLATE)[0]
    assert (crop[..., 0] == 255).all() and (crop[..., 1:] == 0).all()
