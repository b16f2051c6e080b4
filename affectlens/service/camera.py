"""One live camera read in its own thread: frames at the analysis rate, health, reconnects.

Sources, by URL: ``rtsp://`` / ``rtsps://`` (TCP; ``?transport=udp`` for UDP), ``http(s)://``
(MJPEG), ``device:///dev/video0`` (V4L2) and ``file:///path`` (played at real time in a loop,
for demos and tests). All are decoded by PyAV (FFmpeg), which releases the GIL while it waits
and decodes. A stream that fails to open, errors, ends or stalls past ``io_timeout_s`` marks the
camera offline and is retried with growing waits; the first frame after that marks it online.

Only the newest frame is kept: a slow consumer makes frames drop (counted), never queue up.
Unpaced (``paced=False``, file:// only) a recording is read once as fast as it is analysed
instead: each frame waits until the one before was taken (none dropped), and carries the
recording's own time line (the first frame's wall time plus its time in the file), so the
live path can be compared with offline ``analyze`` frame for frame (tests/test_engine.py).
Tested here: file loops, files that appear late, garbage files, refused RTSP connections, and
real RTSP (TCP and UDP) and HTTP MJPEG streams killed and restarted. The V4L2 (USB) path is
written but untested: this machine has no video device.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import av

from affectlens.privacy.policy import redact_url
from affectlens.service.schemas import check_stream_url
from affectlens.store.schema import DEFAULT_FPS

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraState:
    online: bool
    message: str
    at: float  # wall-clock seconds


@dataclass(frozen=True)
class LiveFrame:
    image: object  # BGR uint8 ndarray
    index: int  # frames delivered since start
    timestamp: float  # wall-clock seconds when read


@dataclass
class CameraStats:
    frames_read: int = 0
    frames_delivered: int = 0
    frames_dropped: int = 0  # delivered but replaced before anyone took them
    connects: int = 0
    failures: int = 0


class _StreamEnded(Exception):
    pass


@dataclass
class _Mailbox:
    """The newest frame, and a condition to wait for the next one."""

    frame: LiveFrame | None = None
    taken: bool = True
    condition: threading.Condition = field(default_factory=threading.Condition)


class LiveCamera:
    def __init__(
        self,
        url: str,
        analysis_fps: float = DEFAULT_FPS,
        on_state: Callable[[CameraState], None] | None = None,
        io_timeout_s: float = 5.0,
        backoff_s: tuple[float, ...] = BACKOFF_S,
        paced: bool = True,
    ) -> None:
        self.url = check_stream_url(url)
        if not paced and urlsplit(url).scheme != "file":
            raise ValueError("only a file:// source can be read unpaced")
        self.paced = paced
        self.period = 1.0 / analysis_fps
        self.on_state = on_state
        self.io_timeout_s = io_timeout_s
        self.backoff_s = backoff_s
        self.stats = CameraStats()
        self.state: CameraState | None = None
        self._stop = threading.Event()
        self._mailbox = _Mailbox()
        self._origin: float | None = None  # unpaced: wall time of the file's first frame
        self._read_through = False  # unpaced: the file was read to its end
        self._thread = threading.Thread(target=self._run, name=f"camera {url}", daemon=True)

    # control -------------------------------------------------------------------------------

    def start(self) -> LiveCamera:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._mailbox.condition:
            self._mailbox.condition.notify_all()
        if self._thread.ident is not None:  # started (a loop fed by hand never starts it)
            self._thread.join(timeout)

    def next_frame(self, timeout: float) -> LiveFrame | None:
        """The newest frame not yet taken; waits up to ``timeout`` seconds for one."""
        box = self._mailbox
        with box.condition:
            if box.taken and not box.condition.wait_for(
                lambda: not box.taken or self._stop.is_set(), timeout
            ):
                return None
            if box.taken:
                return None
            box.taken = True
            box.condition.notify_all()  # an unpaced reader waits for this
            return box.frame

    @property
    def exhausted(self) -> bool:
        """Unpaced: the file was read to its end and its last frame taken."""
        with self._mailbox.condition:
            return self._read_through and self._mailbox.taken

    # the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        failures_in_a_row = 0
        while not self._stop.is_set():
            try:
                for image, media_s in self._decode():
                    if self.state is None or not self.state.online:
                        self._set_state(True, "receiving frames")
                        failures_in_a_row = 0
                    self._offer(image, media_s)
                    if self._stop.is_set():
                        return
                if not self.paced:  # read once, to its end: nothing to retry
                    with self._mailbox.condition:
                        self._read_through = True
                    return
            except (av.error.FFmpegError, OSError, _StreamEnded) as error:
                self.stats.failures += 1
                self._set_state(False, _reason(error))
            except Exception as error:  # a bug or an odd frame: offline and retried, not dead
                log.exception("camera reader failed on %s", redact_url(self.url))
                self.stats.failures += 1
                self._set_state(False, f"reader failed: {type(error).__name__}: {error}")
            if not self._stop.is_set():
                wait = self.backoff_s[min(failures_in_a_row, len(self.backoff_s) - 1)]
                failures_in_a_row += 1
                self._stop.wait(wait)

    def _decode(self) -> Iterator[tuple[object, float | None]]:
        """Frames of one connection, at most one per analysis period, each with its time in
        the file when unpaced (else None); raises when it ends (returns, unpaced)."""
        parts = urlsplit(self.url)
        looping = parts.scheme == "file" and self.paced
        options = {}
        target, fmt = self.url, None
        if parts.scheme in ("rtsp", "rtsps"):
            transport = parse_qs(parts.query).get("transport", ["tcp"])[0]
            options = {"rtsp_transport": transport, "timeout": str(int(self.io_timeout_s * 1e6))}
            target = parts._replace(query="").geturl()
        elif parts.scheme in ("http", "https"):
            options = {"timeout": str(int(self.io_timeout_s * 1e6))}
        elif parts.scheme == "device":
            target, fmt = parts.path, "v4l2"
        else:
            target = parts.path
            if not Path(target).is_file():
                raise _StreamEnded(f"no such file: {target}")
        with av.open(target, format=fmt, options=options, timeout=self.io_timeout_s) as container:
            if not container.streams.video:
                raise _StreamEnded("the stream has no video")
            self.stats.connects += 1
            stream = container.streams.video[0]
            frame_s = 1.0 / float(stream.average_rate or 25)
            first_s = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
            started, next_due, offset = time.monotonic(), 0.0, 0.0
            while True:
                media_s = offset
                for frame in container.decode(stream):
                    self.stats.frames_read += 1
                    if looping:  # real time: wait for the frame's moment in the loop
                        media_s = offset + float(frame.time or 0.0)
                        wait = media_s - (time.monotonic() - started)
                        if wait > 0 and self._stop.wait(wait):
                            return
                    # Unpaced, the analysis slots are the file's own (as sources/video.py's).
                    now = (time.monotonic() - started if self.paced
                           else float(frame.time or 0.0) - first_s)
                    if now + 1e-3 < next_due:
                        continue
                    next_due = max(next_due + self.period, now)
                    yield frame.to_ndarray(format="bgr24"), None if self.paced else now
                if not self.paced:
                    return
                if not looping:
                    raise _StreamEnded("the stream ended")
                offset = media_s + frame_s
                container.seek(0)

    def _offer(self, image: object, media_s: float | None = None) -> None:
        box = self._mailbox
        with box.condition:
            if not self.paced:  # no frame dropped: wait for the one before to be taken
                box.condition.wait_for(lambda: box.taken or self._stop.is_set())
            if not box.taken:
                self.stats.frames_dropped += 1
            at = time.time()
            if media_s is not None:
                self._origin = at if self._origin is None else self._origin
                at = self._origin + media_s
            box.frame = LiveFrame(image, self.stats.frames_delivered, at)
            box.taken = False
            self.stats.frames_delivered += 1
            box.condition.notify_all()

    def _set_state(self, online: bool, message: str) -> None:
        """A change of state, or of the reason while offline (a refused connection that
        becomes a refused password); ``at`` stays when the camera went offline."""
        previous = self.state
        if previous is not None and (previous.online, previous.message) == (online, message):
            return
        if previous is not None and previous.online and online:
            return  # online is online, whatever the message
        same = previous is not None and previous.online == online
        self.state = CameraState(online, message, previous.at if same else time.time())
        if self.on_state:
            self.on_state(self.state)


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text.strip()
