"""Turning evaluation images into model inputs: as given (face crops) or through the detector.

``crops`` resizes the whole image to the model's input, as the datasets are already face crops
in the models' training framing. ``detect`` runs affectlens's own path: the face detector on the
image (centred in a grey canvas twice its size so a tight crop still shows a whole head), then
landmark alignment; an image where no face is found is reported as missed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from affectlens.errors import InputError
from affectlens.models.alignment import CropTemplate, align_faces
from affectlens.models.face_detector import FaceDetector

Progress = Callable[[int], None]


class FaceMode(StrEnum):
    crops = "crops"
    detect = "detect"


def padded(image: np.ndarray) -> np.ndarray:
    """The image centred in a grey canvas twice its size."""
    h, w = image.shape[:2]
    canvas = np.full((2 * h, 2 * w, 3), 127, np.uint8)
    canvas[h // 2 : h // 2 + h, w // 2 : w // 2 + w] = image
    return canvas


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    return image


def resized(image: np.ndarray, template: CropTemplate) -> np.ndarray:
    if template.grey:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    interpolation = cv2.INTER_AREA if image.shape[0] > template.size else cv2.INTER_LINEAR
    return cv2.resize(image, (template.size, template.size), interpolation=interpolation)


def _shape(template: CropTemplate) -> tuple[int, ...]:
    size = template.size
    return (size, size) if template.grey else (size, size, 3)


@dataclass
class FaceCrops:
    """Model inputs for the readable images, whether a face was found in each, and the files
    that could not be read: those are data errors, so they are reported rather than scored."""

    crops: np.ndarray
    found: np.ndarray
    kept: list[int] = field(default_factory=list)  # the index in ``paths`` of each crop
    unreadable: list[Path] = field(default_factory=list)


def load_faces(
    paths: Sequence[Path],
    template: CropTemplate,
    mode: FaceMode,
    detector: FaceDetector | None = None,
    progress: Progress | None = None,
) -> FaceCrops:
    """Crops of the readable images; a readable image without a face gets a blank crop."""
    crops = np.zeros((len(paths), *_shape(template)), np.uint8)
    found = np.zeros(len(paths), bool)
    readable = np.zeros(len(paths), bool)
    if mode == FaceMode.detect and detector is None:
        detector = FaceDetector(min_face_px=10_000)
    for i, path in enumerate(paths):
        try:
            image = read_image(path)
        except InputError:
            if progress:
                progress(1)
            continue
        readable[i] = True
        if mode == FaceMode.crops:
            crops[i], found[i] = resized(image, template), True
        else:
            canvas = padded(image)
            faces = detector.predict([canvas])[0]
            if len(faces):
                best = faces.select(np.array([int(np.argmax(faces.scores))]))
                crops[i], found[i] = align_faces(canvas, best.keypoints, template)[0], True
        if progress:
            progress(1)
    kept = np.flatnonzero(readable)
    return FaceCrops(crops[kept], found[kept], kept.tolist(),
                     [paths[i] for i in np.flatnonzero(~readable)])


def readable_faces(root: Path, faces: FaceCrops) -> FaceCrops:
    """``faces`` unchanged, or an InputError when not one image could be read."""
    if not len(faces.crops):
        if not faces.unreadable:
            raise InputError(f"{root}: no images to evaluate")
        raise InputError(f"{root}: none of the {len(faces.unreadable)} files can be read as an "
                         f"image (first: {faces.unreadable[0]})")
    return faces


def load_crops(
    paths: Sequence[Path],
    template: CropTemplate,
    mode: FaceMode,
    detector: FaceDetector | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(crops for every image, found mask); a missed or unreadable image gets a blank crop."""
    faces = load_faces(paths, template, mode, detector, progress)
    crops = np.zeros((len(paths), *_shape(template)), np.uint8)
    found = np.zeros(len(paths), bool)
    crops[faces.kept], found[faces.kept] = faces.crops, faces.found
    return crops, found


def batched(
    predict: Callable[[np.ndarray], np.ndarray], crops: np.ndarray, size: int = 256
) -> np.ndarray:
    return np.concatenate([predict(crops[i : i + size]) for i in range(0, len(crops), size)])
