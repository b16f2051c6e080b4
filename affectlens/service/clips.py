"""The blurred video of the seconds around a fall (issue 5).

A camera worker watching for falls keeps its recent analysed frames in a ``ClipBuffer``, each
already blurred exactly as its event snapshots are (``worker.blurred_jpeg``: faces and pose
heads, or the "FACES NOT BLURRED" banner), so no unblurred pixel is ever kept for a clip.
When a fall starts, the frames from ``clip_before_s`` before its first floor frame are taken,
frames keep being added until ``clip_after_s`` after it, and the clip is encoded in a thread
of its own (analysis goes on meanwhile) and sent as an ``EventClip``. A worker that stops
first sends what it has.

Memory is bounded by time: the buffer holds ``clip_before_s + clip_after_s`` seconds of
frames (a fall detected later than that finds its whole clip already there), as blurred JPEGs
at most 640 wide rather than decoded images. Measured on URFD fall-01 frames: 10 KB a 320x240
frame, 22 KB at 640x480, against 225 KB and 900 KB raw; at 10 analysed frames a second and
5 + 5 s, about 2.3 MB (4.6 MB at the buffer's cap) instead of 90 MB (``benchmarks/falls.py``,
part 5). Making the JPEG of every analysed frame costs 0.2 ms at 320x240, 0.6 ms at 640x480.

The format is VP8 in WebM. Debian's Chromium (156) plays both it and H.264 MP4
(``canPlayType`` "probably" for each; readyState 4 and the right duration after loading
either), but Chromium built without proprietary codecs (Playwright's own build, several
distributions) plays only the former, VP8 is royalty-free, and WebM needs no second pass
(MP4's ``+faststart`` rewrites the file to move its index to the front).
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import cv2
import numpy as np

from affectlens.service.messages import EventClip

log = logging.getLogger(__name__)

CLIP_SUFFIX = ".webm"
CLIP_MEDIA_TYPE = "video/webm"
MILLISECOND = Fraction(1, 1000)
# VP8 at constant quality 30, capped at 1 Mbit/s, fastest preset, one thread (the worker's
# cores belong to analysis). 10 s of URFD frames at 10 fps: 293 KB encoded in 0.14 s at
# 320x240, 412 KB in 0.43 s at 640x480; several analysed frames' time, hence a thread.
VP8_OPTIONS = {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "1M", "threads": "1"}


@dataclass(frozen=True)
class ClipFrame:
    """One analysed frame, blurred, as JPEG; ``at`` on the worker's frame clock (seconds)."""

    at: float
    jpeg: bytes


@dataclass
class _Pending:
    """A clip still collecting the frames after its fall."""

    key: str
    until: float
    frames: list[ClipFrame] = field(default_factory=list)


def encode_clip(frames: Sequence[ClipFrame]) -> bytes:
    """The frames as a VP8 WebM, each shown at its own time (a dropped frame leaves the one
    before on screen a little longer, so the clip plays in real time). Odd sizes lose their
    last row or column: 4:2:0 chroma needs even ones."""
    first = cv2.imdecode(np.frombuffer(frames[0].jpeg, np.uint8), cv2.IMREAD_COLOR)
    if first is None:
        raise ValueError("the clip's first frame is no JPEG")
    height, width = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as output:
        stream = output.add_stream("libvpx", options=VP8_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = MILLISECOND
        last_pts = -1
        for frame in frames:
            image = cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR)
            pts = round((frame.at - frames[0].at) * 1000)
            if image is None or image.shape[:2] != first.shape[:2] or pts <= last_pts:
                continue  # resolution changed mid-clip, or two frames in one millisecond
            picture = av.VideoFrame.from_ndarray(image[:height, :width], format="bgr24")
            picture.pts, picture.time_base, last_pts = pts, MILLISECOND, pts
            output.mux(stream.encode(picture))
        output.mux(stream.encode(None))
    return buffer.getvalue()


class ClipBuffer:
    """Recent blurred frames of one camera, and the fall clips being made from them."""

    def __init__(self, camera_id: int, before_s: float, after_s: float, fps: float,
                 send: Callable[[EventClip], None], latest_s: float = 0.0) -> None:
        """latest_s: how long after its first floor frame a fall can fire at most; the frames
        ``before_s`` before that frame must still be here then, even with a short after_s."""
        self.camera_id = camera_id
        self.before_s, self.after_s = before_s, after_s
        self.send = send
        self._horizon = before_s + max(after_s, latest_s)
        # Twice the nominal count: a source running ahead of its rate loses no frame, and
        # the bound above at most doubles.
        self._frames: deque[ClipFrame] = deque(maxlen=2 * math.ceil(self._horizon * fps) + 1)
        self._pending: list[_Pending] = []
        self._encoders: list[threading.Thread] = []

    def add(self, at: float, jpeg: bytes | None) -> None:
        """A new analysed frame; clips whose last second has passed are encoded and sent."""
        if jpeg is not None:
            frame = ClipFrame(at, jpeg)
            self._frames.append(frame)
            for pending in self._pending:
                # Capped like the buffer: a wall clock stepped back cannot make it grow.
                if at < pending.until and len(pending.frames) < (self._frames.maxlen or 0):
                    pending.frames.append(frame)
        while self._frames and self._frames[0].at < at - self._horizon:
            self._frames.popleft()
        self.flush(at)

    def flush(self, now: float) -> None:
        """Clips whose last second has passed by ``now`` (the frame clock) are encoded and
        sent, also when no frame came since (the camera went offline after the fall)."""
        done = [p for p in self._pending if now >= p.until]
        self._pending = [p for p in self._pending if now < p.until]
        for pending in done:
            self._encode(pending)

    def start(self, key: str, fall_s: float) -> None:
        """A fall (event ``key``) whose first floor frame was at ``fall_s`` fired in the
        newest frame added: its clip takes the buffered frames from ``before_s`` before."""
        pending = _Pending(key, fall_s + self.after_s,
                           [f for f in self._frames if fall_s - self.before_s <= f.at
                            < fall_s + self.after_s])
        if self._frames and self._frames[-1].at >= pending.until:
            self._encode(pending)
        else:
            self._pending.append(pending)

    def finish(self, timeout_s: float = 30.0) -> None:
        """The worker stops: clips still collecting are sent with what they have, and every
        encoding is waited for, so that its EventClip precedes the worker's last words."""
        pending, self._pending = self._pending, []
        for clip in pending:
            self._encode(clip)
        deadline = time.monotonic() + timeout_s
        for thread in self._encoders:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._encoders = []

    def _encode(self, pending: _Pending) -> None:
        self._encoders = [t for t in self._encoders if t.is_alive()]
        if not pending.frames:
            log.warning("camera %s: no frames for the clip of %s", self.camera_id, pending.key)
            return
        thread = threading.Thread(target=self._encode_and_send, args=(pending,),
                                  name=f"clip {self.camera_id}", daemon=True)
        thread.start()
        self._encoders.append(thread)

    def _encode_and_send(self, pending: _Pending) -> None:
        """In its own thread; a clip that cannot be made is logged, the event keeps its
        snapshot."""
        started = time.perf_counter()
        try:
            video = encode_clip(pending.frames)
        except (av.FFmpegError, ValueError, cv2.error):
            log.exception("camera %s: clip of %s not encoded", self.camera_id, pending.key)
            return
        frames = pending.frames
        log.info("camera %s: clip of %s, %d frames, %d bytes, encoded in %.2f s",
                 self.camera_id, pending.key, len(frames), len(video),
                 time.perf_counter() - started, extra={"camera_id": self.camera_id})
        self.send(EventClip(self.camera_id, pending.key, video, len(frames),
                            frames[-1].at - frames[0].at))
