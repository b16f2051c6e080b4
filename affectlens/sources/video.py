"""Video files decoded with PyAV (FFmpeg), at the analysis rate asked for.

Which frames are analysed is a function of their times alone: the first frame of each
period of ``1 / fps`` seconds (counted from the video's start). So a part of the video read
on its own (a ``Span``, seeking to the keyframe before it: issue 15's segments on a cluster)
gets exactly the frames, indexes and times that reading the whole file gives in that part.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import av

from affectlens.errors import InputError
from affectlens.sources.base import MediaInfo, Span
from affectlens.types import Frame

# Fewer decoded frames than this share of the container's count means the file is cut short
# (headers often overstate by a few frames: no_face.mp4 says 98 and holds 95).
TRUNCATED_SHARE = 0.9
EPSILON_S = 1e-6  # frame times are rounded; a frame this close to a period's start is in it


class VideoSource:
    def __init__(self, path: Path, fps: float | None, span: Span | None = None) -> None:
        """``span``: only the frames whose times fall in it (None: the whole file)."""
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
        self._span = span
        self._stream = stream
        self._expected_frames = stream.frames or None

    def frames(self) -> Iterator[Frame]:
        """Frames at the analysis rate; a decoding error ends the stream, kept as a warning."""
        path, span = self.info.path, self._span
        period = 1.0 / self._fps if self._fps else 0.0
        last_period: int | None = None  # the period of the frame decoded before this one
        index = decoded = -1
        try:
            if span is not None:
                self._seek(span.start_s - period - 1.0)  # a frame before it: its period
            for decoded, frame in enumerate(self._container.decode(self._stream)):
                index = decoded if span is None else self._index_of(frame)
                time = self._time_of(frame, index)
                this_period = math.floor((time + EPSILON_S) / period) if period else index
                first = last_period is None or this_period > last_period
                last_period = this_period
                if span is not None and time + EPSILON_S < span.start_s:
                    continue
                if span is not None and span.stop_s is not None and (
                        time + EPSILON_S >= span.stop_s):
                    break
                if first:
                    yield Frame(frame.to_ndarray(format="bgr24"), index, time, str(path))
        except av.error.FFmpegError as exc:
            self.info.warnings.append(
                f"{path}: decoding stopped after frame {index} ({_reason(exc)}); "
                "the frames before it were analysed"
            )
        finally:
            self._container.close()
        if decoded < 0:
            raise InputError(f"{path}: no frame could be decoded (corrupt or truncated video)")
        expected = self._expected_frames
        if (span is None and expected and index + 1 < TRUNCATED_SHARE * expected
                and not self.info.warnings):
            # Threaded decoding ends a truncated stream quietly; the container's frame count
            # still tells.
            self.info.warnings.append(
                f"{path}: only {index + 1} of {expected} frames could be decoded (truncated?); "
                "the frames decoded were analysed"
            )

    def _seek(self, time_s: float) -> None:
        """To the keyframe at or before ``time_s`` (the start when it is before the first)."""
        if time_s > 0 and self._stream.time_base:
            target = int(time_s / self._stream.time_base) + (self._stream.start_time or 0)
            self._container.seek(target, stream=self._stream, backward=True)

    def _index_of(self, frame: av.VideoFrame) -> int:
        """A frame's number in the file, from its time (what counting from the start gives
        in a file of constant frame rate, the kind a camera records)."""
        rate = self.info.native_fps or 25.0
        return round(self._time_of(frame, 0) * rate) if frame.time is not None else 0

    def _time_of(self, frame: av.VideoFrame, index: int) -> float:
        if frame.time is not None:
            return float(frame.time) - self._start_offset()
        return index / (self.info.native_fps or 25.0)

    def _start_offset(self) -> float:
        start = self._stream.start_time
        return float(start * self._stream.time_base) if start is not None else 0.0


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]
