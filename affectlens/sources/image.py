"""A still image as a one-frame source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from affectlens.errors import InputError
from affectlens.sources.base import MediaInfo
from affectlens.types import Frame

# OpenCV refuses images above 2**30 pixels; this says so before it tries to allocate them.
MAX_PIXELS = 2**30


class ImageSource:
    def __init__(self, path: Path, max_image_side: int) -> None:
        data = np.fromfile(path, np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{path}: not a readable image (corrupt or unsupported format)")
        self.info = MediaInfo(path, "image", image.shape[1], image.shape[0], None, 1)
        longest = max(image.shape[:2])
        if longest > max_image_side:
            scale = max_image_side / longest
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            self.info.warnings.append(
                f"{path}: {self.info.width}x{self.info.height} scaled to {size[0]}x{size[1]} "
                "for analysis (max_image_side); boxes are in the scaled image's pixels"
            )
        self._image = image

    def frames(self) -> Iterator[Frame]:
        yield Frame(self._image, 0, 0.0, str(self.info.path))
