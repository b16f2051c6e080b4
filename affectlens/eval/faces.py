"""Turning evaluation images into model inputs: as given (face crops) or through the detector.

``crops`` resizes the whole image to the model's input, as the datasets are already face crops
in the models' training framing. ``detect`` runs affectlens's own path: the face detector on the
image (centred in a grey canvas twice its size so a tight crop still shows a whole head), then
landmark alignment; an image where no face is found is reported as missed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def load_crops(
    paths: Sequence[Path],
    template: CropTemplate,
    mode: FaceMode,
    detector: FaceDetector | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(crops for every image, found mask); a missed or unreadable image gets a blank crop."""
    shape = (template.size, template.size) if template.grey else (template.size, template.size, 3)
    crops = np.zeros((len(paths), *shape), np.uint8)
    found = np.zeros(len(paths), bool)
    if mode == FaceMode.detect and detector is None:
        detector = FaceDetector(min_face_px=10_000)
    for i, path in enumerate(paths):
        try:
            image = read_image(path)
        except InputError:
            if progress:
                progress(1)
            continue
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
    return crops, found


def batched(
    predict: Callable[[np.ndarray], np.ndarray], crops: np.ndarray, size: int = 256
) -> np.ndarray:
    return np.concatenate([predict(crops[i : i + size]) for i in range(0, len(crops), size)])
