"""What care-home cameras do to pose sequences, simulated on the sequences we have.

Each augmentation maps one frame's bodies (11, 3: x, y pixels, score) to what another camera,
or a worse view, would have given: a camera pitched further down (a pure rotation of the
camera: the exact homography for an ideal lens), rolled, further away, part of the body out of
frame, joints lost or jittered. Random ones draw from a seed made of the frame's own content,
so overlapping windows of one recording are changed alike and still stitch back together.
Frame-rate changes are a step over the frames (eval.falls.resampled).
"""

from __future__ import annotations

import dataclasses
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from affectlens.eval.fall_datasets import FallDataset
from affectlens.eval.falls import PoseSequence

FrameFn = Callable[[np.ndarray, np.random.Generator, tuple[float, float]], np.ndarray]


@dataclass(frozen=True)
class Augmentation:
    name: str
    frame: FrameFn | None = None  # per frame, given (width, height)
    step: int = 1  # keep every step-th frame (a slower camera)


def _torso(body: np.ndarray) -> float:
    return float(np.hypot(*(body[1:3, :2].mean(0) - body[3:5, :2].mean(0))))


def pitch(degrees: float) -> FrameFn:
    """The camera turned ``degrees`` further down about its horizontal axis (focal length =
    image width, about a 53-degree lens): a high wall camera's view of the same scene."""
    a = np.radians(degrees)

    def fn(body: np.ndarray, rng: np.random.Generator, size: tuple[float, float]) -> np.ndarray:
        f = size[0]
        u, v = body[:, 0] - size[0] / 2, body[:, 1] - size[1] / 2
        depth = v * np.sin(a) + f * np.cos(a)
        body[:, 0] = f * u / depth + size[0] / 2
        body[:, 1] = f * (v * np.cos(a) - f * np.sin(a)) / depth + size[1] / 2
        return body
    return fn


def roll(degrees: float) -> FrameFn:
    a = np.radians(degrees)
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    def fn(body: np.ndarray, rng: np.random.Generator, size: tuple[float, float]) -> np.ndarray:
        centre = np.asarray(size) / 2
        body[:, :2] = (body[:, :2] - centre) @ turn.T + centre
        return body
    return fn


def scale(factor: float) -> FrameFn:
    """The person ``factor`` times as large (further away below 1), about the image centre."""
    def fn(body: np.ndarray, rng: np.random.Generator, size: tuple[float, float]) -> np.ndarray:
        centre = np.asarray(size) / 2
        body[:, :2] = (body[:, :2] - centre) * factor + centre
        return body
    return fn


def crop(top: float = 0.0, bottom: float = 0.0) -> FrameFn:
    """Joints in the top or bottom share of the frame are out of view (score 0)."""
    def fn(body: np.ndarray, rng: np.random.Generator, size: tuple[float, float]) -> np.ndarray:
        out = (body[:, 1] < top * size[1]) | (body[:, 1] > (1 - bottom) * size[1])
        body[out, 2] = 0.0
        return body
    return fn


def lose(share: float) -> FrameFn:
    def fn(body: np.ndarray, rng: np.random.Generator, size: tuple[float, float]) -> np.ndarray:
        body[rng.random(len(body)) < share, 2] = 0.0
        return body
    return fn


def jitter(share_of_torso: float) -> FrameFn:
    def fn(body: np.ndarray, rng: np.random.Generator, size: tuple[float, float]) -> np.ndarray:
        body[:, :2] += rng.normal(0, share_of_torso * _torso(body), (len(body), 2))
        return body
    return fn


# Joint index pairs swapped by a mirror image (FALL_JOINTS: shoulders, hips, knees, ankles,
# wrists), for training-time flips.
MIRROR = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9])


def _torsos(bodies: np.ndarray) -> np.ndarray:
    """(T,) torso length per frame of (T, 11, 3) bodies (NaN where not seen)."""
    seen = bodies[..., 2:] > 0
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a frame with neither joint: NaN
        s = np.nanmean(np.where(seen[:, 1:3], bodies[:, 1:3, :2], np.nan), 1)
        h = np.nanmean(np.where(seen[:, 3:5], bodies[:, 3:5, :2], np.nan), 1)
    return np.hypot(*(s - h).T)


def random_camera(seq: PoseSequence, size: tuple[float, float], rng: np.random.Generator
                  ) -> PoseSequence:
    """One random draw of what another camera, and another body's pace, would have recorded:
    a mirror image, pitch -10 to 30 degrees, roll up to 15, the person 0.4-1.3 times the size,
    the top or bottom 10-30% of the frame out of view, up to 30% of joints lost, jitter up to
    8% of the torso, the whole 0.85-1.2 times as slow. For training (the temporal model's every
    epoch; benchmarks/falls_tried.py's classifier fitted on such copies); the fixed
    AUGMENTATIONS above are what the evaluation scores."""
    bodies = seq.bodies.copy()
    if rng.random() < 0.5:  # a mirror image: left and right swap
        bodies[..., 0] = size[0] - bodies[..., 0]
        bodies = bodies[:, MIRROR]
    flat = bodies.reshape(-1, 3)
    changes = [(0.5, lambda: pitch(rng.uniform(-10, 30))),
               (0.5, lambda: roll(rng.uniform(-15, 15))),
               (0.5, lambda: scale(rng.uniform(0.4, 1.3))),
               (0.15, lambda: crop(bottom=rng.uniform(0.1, 0.3))),
               (0.15, lambda: crop(top=rng.uniform(0.1, 0.3))),
               (0.5, lambda: lose(rng.uniform(0.0, 0.3)))]
    for chance, make in changes:
        if rng.random() < chance:
            flat = make()(flat, rng, size)
    bodies = flat.reshape(bodies.shape)
    if rng.random() < 0.5:  # joints jittered by up to 8% of the torso, frame by frame
        torso = np.nan_to_num(_torsos(bodies), nan=0.0)
        share = rng.uniform(0.0, 0.08)
        bodies[..., :2] += rng.normal(0, 1, bodies[..., :2].shape) * (share * torso)[:, None,
                                                                                       None]
    times = seq.times * rng.uniform(0.85, 1.2)  # a slower or quicker body
    return PoseSequence(seq.name, seq.label, times, bodies)


AUGMENTATIONS: tuple[Augmentation, ...] = (
    Augmentation("as recorded"),
    Augmentation("camera pitched 20 deg further down", pitch(20.0)),
    Augmentation("camera rolled 10 deg", roll(10.0)),
    Augmentation("person half the size (further away)", scale(0.5)),
    Augmentation("ankles out of frame (bottom 20% cut)", crop(bottom=0.2)),
    Augmentation("head out of frame (top 20% cut)", crop(top=0.2)),
    Augmentation("25% of joints lost", lose(0.25)),
    Augmentation("joints jittered by 6% of the torso", jitter(0.06)),
    Augmentation("10 frames a second", step=3),
    Augmentation("5 frames a second", step=6),
)


def augmented(dataset: FallDataset, augmentation: Augmentation) -> FallDataset:
    """The dataset as the augmentation's camera would have recorded it (frame geometry only:
    the frame-rate step is taken after windows are stitched, see fall_lodo.score)."""
    sequences = []
    for seq in dataset.sequences:
        bodies = seq.bodies
        if augmentation.frame is not None:
            bodies = np.array([augmentation.frame(
                b.copy(), np.random.default_rng(zlib.crc32(np.round(b[:, :2], 1).tobytes())),
                dataset.size) for b in bodies])
        sequences.append(PoseSequence(seq.name, seq.label, seq.times, bodies))
    return dataclasses.replace(dataset, sequences=sequences)


# -- whole images: night and low light, for the video path (pose model included) ------------


def grey(image: np.ndarray) -> np.ndarray:
    """One channel copied to three: what an infrared night camera sends."""
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def dim(image: np.ndarray) -> np.ndarray:
    """A dim room: gamma 2.2 and 60% of the light."""
    return np.clip((image.astype(np.float32) / 255) ** 2.2 * 255 * 0.6, 0, 255).astype(np.uint8)


def night(image: np.ndarray) -> np.ndarray:
    """Grey, dim and noisy (sensor noise of 8 grey levels; seeded by the frame's content)."""
    dark = dim(grey(image)).astype(np.float32)
    rng = np.random.default_rng(zlib.crc32(image.tobytes()))
    return np.clip(dark + rng.normal(0, 8, dark.shape), 0, 255).astype(np.uint8)


IMAGE_AUGMENTATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "grey (an infrared camera)": grey, "dim (gamma 2.2, 60% light)": dim,
    "grey, dim and noisy (night)": night,
}
