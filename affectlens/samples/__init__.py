"""The built-in samples: videos made at run time from a public-domain portrait, for the demo
and tests (no data set, no download).

Grace Hopper's 1984 US Navy portrait (public domain, shipped in matplotlib's sample data).
The sample: the portrait twice, a large copy and a smaller mirrored one, each drifting slowly
across a grey 640x360 frame, so it has two faces and two tracks, with known positions. The
sad sample (faces.py): one face that turns sad and back. The fall scene (figure.py): a drawn
person who falls, lies and gets up.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from matplotlib import cbook

from affectlens.samples.faces import saddened

WIDTH, HEIGHT = 640, 360


def portrait() -> np.ndarray:
    """Grace Hopper's portrait, BGR."""
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"matplotlib's sample image is missing: {path}")
    return image


def sad_frames(scene: SadScene, fps: int = 5) -> Iterator[np.ndarray]:
    """One loop of the sad sample: the face drifts slowly across a grey 640x360 frame,
    neutral, turning sad over ``turn_s``, sad until ``calm_s``, turning back."""
    face = portrait()
    steps = 8  # strengths warped once each: a warp per frame would cost more than the rest
    looks = [cv2.resize(saddened(face, k / steps), (220, 258), interpolation=cv2.INTER_AREA)
             for k in range(steps + 1)]
    for i in range(round(scene.length_s * fps)):
        t = i / fps
        rising = np.clip((t - scene.sad_s) / scene.turn_s, 0, 1)
        falling = np.clip((t - scene.calm_s) / scene.turn_s, 0, 1)
        look = looks[round((rising - falling) * steps)]
        canvas = np.full((HEIGHT, WIDTH, 3), 110, np.uint8)
        x = 180 + round(60 * np.sin(2 * np.pi * t / scene.length_s))
        canvas[50 : 50 + 258, x : x + 220] = look
        yield canvas


@dataclass(frozen=True)
class SadScene:
    """The sad sample's timeline, seconds: neutral until ``sad_s``, sad from ``sad_s`` +
    ``turn_s`` to ``calm_s``, neutral again ``turn_s`` later; ``length_s`` in all."""

    sad_s: float = 4.0
    turn_s: float = 2.0
    calm_s: float = 30.0
    length_s: float = 36.0


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
