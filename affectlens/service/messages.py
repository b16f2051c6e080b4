"""What a camera worker says to the supervisor: plain, picklable values, one class per kind.

Workers never touch the store, the hub or the alert senders: they send these over a queue,
so a worker can live in another process now and on another machine later. Times are aware
UTC datetimes. Every message that changes the store can be handled twice and change it once
(issue 14): an event is named by a key the worker makes, unique everywhere (its run's random
id, a number, what and who), and minute counts by (run, sequence number).

Messages with pictures (an event's snapshot, a clip, a preview) carry the ``generation`` of
the camera's settings they were made under (issue 14): settings pushed to a running worker
(blurring among them) or a new worker get a higher one, so the service drops a picture made
under a setting no longer in force by one comparison (recorder.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from affectlens.vocabulary import EventKind


@dataclass(frozen=True)
class WorkerReady:
    """The worker loaded its models; ``models`` names them (no expression model when the
    camera's purpose does not allow expression analysis)."""

    camera_id: int
    pid: int
    models: tuple[str, ...]
    node: str = ""  # where it runs: a host name, or a cluster node (set by its launcher)


@dataclass(frozen=True)
class StateChanged:
    camera_id: int
    online: bool
    message: str
    at: datetime


@dataclass(frozen=True)
class EventStarted:
    camera_id: int
    key: str  # the event's name, unique everywhere; EventEnded names the same key
    kind: EventKind
    started_at: datetime
    confidence: float
    track_id: int | None
    observed_at: datetime  # when the frame (or state change) that fired it was read
    snapshot: bytes | None = None  # that frame as a JPEG, every detected face blurred
    clip: bool = False  # an EventClip naming the same key follows (a fall's video)
    generation: int = 0  # of the settings the snapshot was made under
    location: tuple[float, float] | None = None  # where the person lay (falls): frame pixels


@dataclass(frozen=True)
class OpenEvent:
    """A fall or long lie an earlier run of the camera left open, as the store keeps it:
    the supervisor hands these to the camera's next worker (``CameraSpec.adopted``), which
    adopts them (events/book.py), so a restart neither ends nor repeats them (issue 14)."""

    key: str
    kind: EventKind
    track_id: int | None  # in the run that raised it
    started_at: datetime
    confidence: float
    location: tuple[float, float] | None  # where the person lay, frame pixels; None: unknown


@dataclass(frozen=True)
class EventEnded:
    camera_id: int
    key: str
    ended_at: datetime


@dataclass(frozen=True)
class EventClip:
    """The blurred video of the seconds around a fall (affectlens.service.clips), sent once
    it is complete, possibly after the event ended; ``key`` names the event."""

    camera_id: int
    key: str
    video: bytes  # VP8 WebM, every frame blurred as the event's snapshot is
    frames: int
    seconds: float  # from its first frame to its last
    generation: int = 0  # of the settings its first frame was made under


@dataclass(frozen=True)
class MinuteCounts:
    """Counts to add to the camera's row for ``minute`` (several messages may add to one).
    ``(run, seq)`` names this batch: added once, however often it is handed in."""

    camera_id: int
    minute: datetime
    counts: dict[str, int]
    run: str  # the worker run's id
    seq: int  # numbers the run's batches


@dataclass(frozen=True)
class Preview:
    """A JPEG of a recent frame with every detected face already blurred; it may be smaller
    than the analysed frame, whose (width, height) ``frame_size`` gives (zones are drawn in
    the frame's pixels)."""

    camera_id: int
    jpeg: bytes
    at: datetime
    frame_size: tuple[int, int]
    generation: int = 0  # of the settings it was made under


@dataclass(frozen=True)
class WorkerMetrics:
    """Since the previous WorkerMetrics: frame counts as differences, latencies as samples."""

    camera_id: int
    at: datetime
    analysed_fps: float
    faces: int  # in the newest analysed frame
    frames_read: int
    frames_analysed: int
    frames_dropped: int  # analysis slots skipped: a frame replaced before it was analysed
    latencies_s: tuple[float, ...]  # frame read -> its result sent, one per analysed frame


@dataclass(frozen=True)
class WorkerStopped:
    """The last message of a worker run; ``error`` is empty when it was asked to stop."""

    camera_id: int
    error: str


Message = (
    WorkerReady | StateChanged | EventStarted | EventEnded | EventClip | MinuteCounts
    | Preview | WorkerMetrics | WorkerStopped
)
