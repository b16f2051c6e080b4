"""A still image as a one-frame source."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from affectlens.errors import InputError
from affectlens.sources.base import MediaInfo
from affectlens.types import Frame

# An image is refused, before any pixel is decoded, when its header declares more pixels than
# this (a 12,000 x 12,500 photo): decoding it would take 450 MB or more, and a small file can
# declare billions (a "decompression bomb"). OpenCV's own limit, 2**30, is far above it.
MAX_PIXELS = 150_000_000
# Where the header allows, large images are decoded at 1/2, 1/4 or 1/8 of their size
# (JPEG scales while decoding): never below max_image_side, which they are scaled to anyway.
REDUCED_READS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                 (2, cv2.IMREAD_REDUCED_COLOR_2))


def declared_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image's header, read without decoding it; None where Pillow
    cannot tell (OpenCV may still read the file). Too many pixels: an InputError."""
    too_many = f"more than the {MAX_PIXELS / 1e6:,.0f} million affectlens decodes"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:  # Pillow's own limit, above ours
        raise InputError(f"{path}: declares {too_many}; scale it down first") from None
    except (OSError, ValueError, SyntaxError):
        return None
    if width * height > MAX_PIXELS:
        raise InputError(f"{path}: declares {width}x{height} pixels, {too_many}; scale it "
                         "down first")
    return width, height


class ImageSource:
    def __init__(self, path: Path, max_image_side: int) -> None:
        size = declared_size(path)
        flag = cv2.IMREAD_COLOR
        if size is not None:
            flag = next((f for k, f in REDUCED_READS if max(size) // k >= max_image_side), flag)
        image = cv2.imdecode(np.fromfile(path, np.uint8), flag)
        if image is None:
            raise InputError(f"{path}: not a readable image (corrupt or unsupported format)")
        if size is None and image.shape[0] * image.shape[1] > MAX_PIXELS:
            # A format Pillow cannot read (Radiance HDR, PFM...): the limit checked late, but
            # checked (OpenCV itself stops at 2**30 pixels).
            raise InputError(f"{path}: {image.shape[1]}x{image.shape[0]} pixels, more than "
                             f"the {MAX_PIXELS / 1e6:,.0f} million affectlens decodes; scale it "
                             "down first")
        width, height = size if size is not None else (image.shape[1], image.shape[0])
        if (image.shape[0] > image.shape[1]) != (height > width):  # turned by its EXIF tag
            width, height = height, width
        self.info = MediaInfo(path, "image", width, height, None, 1)
        longest = max(image.shape[:2])
        if longest > max_image_side:
            scale = max_image_side / longest
            shape = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            image = cv2.resize(image, shape, interpolation=cv2.INTER_AREA)
        if (image.shape[1], image.shape[0]) != (width, height):
            self.info.warnings.append(
                f"{path}: {width}x{height} scaled to {image.shape[1]}x{image.shape[0]} for "
                "analysis (max_image_side); boxes are in the scaled image's pixels"
            )
        self._image = image

    def frames(self) -> Iterator[Frame]:
        yield Frame(self._image, 0, 0.0, str(self.info.path))
