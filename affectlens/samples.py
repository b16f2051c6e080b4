"""The built-in sample: a short video made from a public-domain portrait, for the demo and tests.

Grace Hopper's 1984 US Navy portrait (public domain, shipped in matplotlib's sample data)
appears twice, a large copy and a smaller mirrored one, each drifting slowly across a grey
640x360 frame, so the sample has two faces and two tracks, with known positions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from matplotlib import cbook

WIDTH, HEIGHT = 640, 360


def portrait() -> np.ndarray:
    """Grace Hopper's portrait, BGR."""
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"matplotlib's sample image is missing: {path}")
    return image


def sample_frames(seconds: float = 4.0, fps: int = 10) -> list[tuple[np.ndarray, list[tuple]]]:
    """Frames and, for each, the pasted portraits' rectangles (x1, y1, x2, y2)."""
    face = portrait()
    large = cv2.resize(face, (220, 258), interpolation=cv2.INTER_AREA)
    small = cv2.resize(face[:, ::-1], (128, 150), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(round(seconds * fps)):
        t = i / max(1, round(seconds * fps) - 1)
        canvas = np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
        places = [(40 + round(80 * t), 50 + round(20 * t), large),
                  (440 - round(60 * t), 160 - round(40 * t), small)]
        rects = []
        for x, y, image in places:
            h, w = image.shape[:2]
            canvas[y : y + h, x : x + w] = image
            rects.append((x, y, x + w, y + h))
        frames.append((canvas, rects))
    return frames


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: int = 10,
    gop: int | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Writes BGR frames (all of one even size) as H.264; ``options`` go to the muxer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    images = iter(frames)
    first = next(images)
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv420p"
        if gop:
            stream.gop_size = gop
        for image in itertools.chain([first], images):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_sample_video(path: Path, seconds: float = 4.0, fps: int = 10) -> Path:
    """Writes the sample as H.264 MP4 and returns its path."""
    return write_video(path, (image for image, _ in sample_frames(seconds, fps)), fps)
