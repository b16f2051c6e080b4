"""The few value objects every stage speaks: frames, face detections, per-frame analyses."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, ClassVar, Protocol, TypeVar

import numpy as np
from pydantic import Field

EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
UNCERTAIN = "uncertain"
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("0-12", 0, 13),
    ("13-19", 13, 20),
    ("20-34", 20, 35),
    ("35-49", 35, 50),
    ("50-64", 50, 65),
    ("65+", 65, float("inf")),
)


def age_band(age: float) -> str:
    """The band an age estimate falls in (bands are half-open: 13.0 is a teenager)."""
    for name, low, high in AGE_BANDS:
        if low <= age < high:
            return name
    return AGE_BANDS[0][0] if age < 0 else AGE_BANDS[-1][0]


TIME_EPSILON_S = 1e-6  # frame times are rounded (sources/video.py): this close is on the mark


def period_of(timestamp: float, every_s: float) -> int:
    """Which period of ``every_s`` seconds of video time, counted from the video's start, a
    frame at ``timestamp`` is in. The face search and the pose model run in full on each
    period's first analysed frame, so the segments of a video decide as one pass does."""
    return math.floor((timestamp + TIME_EPSILON_S) / every_s)


@dataclass(frozen=True)
class Frame:
    """One decoded picture: BGR uint8 pixels, its index in the source and its time in seconds."""

    image: np.ndarray
    index: int
    timestamp: float
    source: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]


D = TypeVar("D", bound="Detections")


@dataclass(frozen=True)
class Detections:
    """Things a detector found in one frame (faces, people), as parallel arrays: row i is
    thing i. One value object for both, so that selecting, tracking and blurring handle them
    alike; a subclass says only what its keypoints are (``KEYPOINTS_SHAPE``).

    boxes: (N, 4) float32 x1, y1, x2, y2 in pixels; scores: (N,) float32 in [0, 1];
    keypoints: (N, *KEYPOINTS_SHAPE) float32, pixels first.
    """

    KEYPOINTS_SHAPE: ClassVar[tuple[int, ...]] = (0, 2)

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,):
            raise ValueError(f"inconsistent shapes {self.boxes.shape}, {self.scores.shape}")
        if self.keypoints.shape != (n, *self.KEYPOINTS_SHAPE):
            raise ValueError(f"keypoints must be {(n, *self.KEYPOINTS_SHAPE)}, got "
                             f"{self.keypoints.shape}")

    @classmethod
    def empty(cls: type[D]) -> D:
        zeros = np.zeros
        return cls(zeros((0, 4), np.float32), zeros(0, np.float32),
                   zeros((0, *cls.KEYPOINTS_SHAPE), np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self: D, index: np.ndarray) -> D:
        """A new value of the same kind with the rows a boolean mask or index array picks."""
        return type(self)(self.boxes[index], self.scores[index], self.keypoints[index])


@dataclass(frozen=True)
class FaceDetections(Detections):
    """Faces found in one frame. keypoints: (N, 6, 2) pixels, BlazeFace order (right eye,
    left eye, nose tip, mouth centre, right ear tragion, left ear tragion; "right" is the
    person's right)."""

    KEYPOINTS_SHAPE: ClassVar[tuple[int, ...]] = (6, 2)

    @property
    def widths(self) -> np.ndarray:
        return self.boxes[:, 2] - self.boxes[:, 0]


@dataclass(frozen=True)
class FaceAnalysis:
    """Everything the pipeline knows about the faces of one frame, row i = face i.

    expression_probs are the model's per-frame probabilities; smoothed_probs the track's
    temporally smoothed ones; dominant the track's stable label (or "uncertain").
    """

    frame_index: int
    timestamp: float
    faces: FaceDetections
    track_ids: np.ndarray
    expression_probs: np.ndarray
    smoothed_probs: np.ndarray
    dominant: tuple[str, ...]
    ages: np.ndarray

    def __len__(self) -> int:
        return len(self.faces)


def plural(count: int, noun: str) -> str:
    """'1 face', '2 faces', '1 camera': a count with its (regular) noun in the right number."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def doubled(values: Iterable[str]) -> list[str]:
    """The values given more than once, sorted: names that must be unique (zones, cameras,
    alert rules) are refused naming these."""
    seen = list(values)
    return sorted({v for v in seen if seen.count(v) > 1})


class _Named(Protocol):
    @property
    def name(self) -> str: ...


NamedT = TypeVar("NamedT", bound=_Named)


def names_unique(what: str) -> Callable[[tuple[NamedT, ...]], tuple[NamedT, ...]]:
    """A pydantic after-validator for one camera's polygons (zones, privacy masks): events,
    timers and the dashboard name them, so two of one name would be mixed up."""

    def check(items: tuple[NamedT, ...]) -> tuple[NamedT, ...]:
        twice = doubled(item.name for item in items)
        if twice:
            raise ValueError(f"{what} names must be unique: {', '.join(twice)}")
        return items

    return check


MAX_COORDINATE = 65_535.0
# A polygon corner (zones, privacy masks), in pixels of a camera's frame.
Coordinate = Annotated[float, Field(ge=0, le=MAX_COORDINATE, allow_inf_nan=False)]
