"""What every source offers: its description and a stream of frames."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from affectlens.types import Frame

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


@dataclass
class MediaInfo:
    path: Path
    kind: Literal["video", "image"]
    width: int
    height: int
    native_fps: float | None
    frame_count: int | None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Span:
    """A part of a video, in seconds from its start: ``stop_s`` None, to its end."""

    start_s: float
    stop_s: float | None = None


class MediaSource(Protocol):
    info: MediaInfo

    def frames(self) -> Iterator[Frame]: ...
