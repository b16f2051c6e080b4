"""Video files decoded with PyAV (FFmpeg), at the analysis rate asked for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from affectlens.errors import InputError
from affectlens.sources.base import MediaInfo
from affectlens.types import Frame

# Fewer decoded frames than this share of the container's count means the file is cut short
# (headers often overstate by a few frames: no_face.mp4 says 98 and holds 95).
TRUNCATED_SHARE = 0.9


class VideoSource:
    def __init__(self, path: Path, fps: float | None) -> None:
        try:
            self._container = av.open(str(path))
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: not a readable video ({_reason(exc)})") from exc
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{path}: contains no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate) if stream.average_rate else None
        self.info = MediaInfo(
            path, "video", stream.width, stream.height, rate, stream.frames or None
        )
        if fps is not None and self.info.frame_count and rate:
            self.info.frame_count = max(1, int(self.info.frame_count * min(fps, rate) / rate))
        self._fps = fps
        self._stream = stream
        self._expected_frames = stream.frames or None

    def frames(self) -> Iterator[Frame]:
        """Frames at the analysis rate; a decoding error ends the stream, kept as a warning."""
        path = self.info.path
        period = 1.0 / self._fps if self._fps else 0.0
        next_due = 0.0
        index = -1
        try:
            for index, frame in enumerate(self._container.decode(self._stream)):
                time = self._time_of(frame, index)
                if time + 1e-6 < next_due:
                    continue
                next_due = max(next_due + period, time) if period else 0.0
                yield Frame(frame.to_ndarray(format="bgr24"), index, time, str(path))
        except av.error.FFmpegError as exc:
            self.info.warnings.append(
                f"{path}: decoding stopped after frame {index} ({_reason(exc)}); "
                "the frames before it were analysed"
            )
        finally:
            self._container.close()
        if index < 0:
            raise InputError(f"{path}: no frame could be decoded (corrupt or truncated video)")
        expected = self._expected_frames
        if expected and index + 1 < TRUNCATED_SHARE * expected and not self.info.warnings:
            # Threaded decoding ends a truncated stream quietly; the container's frame count
            # still tells.
            self.info.warnings.append(
                f"{path}: only {index + 1} of {expected} frames could be decoded (truncated?); "
                "the frames decoded were analysed"
            )

    def _time_of(self, frame: av.VideoFrame, index: int) -> float:
        if frame.time is not None:
            return float(frame.time) - self._start_offset()
        return index / (self.info.native_fps or 25.0)

    def _start_offset(self) -> float:
        start = self._stream.start_time
        return float(start * self._stream.time_base) if start is not None else 0.0


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]
