"""One camera's analysis loop: live frames -> the engine -> messages.

``CameraLoop`` joins a LiveCamera (frames, health) and a session of the engine that offline
``analyze`` uses too (affectlens.engine: faces, tracks, smoothing, body pose, every rule), and
says what happens as messages (``affectlens.service.messages``): state changes, events
starting and ending, per-minute counts, blurred previews and metrics. It never writes to the
store itself.

Where it runs: ``run_process`` is the entry point of a worker process started by the
supervisor (one process per camera, so the GIL never serialises cameras); ``CameraWorker``
runs the same loop in a thread of the calling process and hands the messages straight to a
Recorder, for tests and single-camera tools.

The purpose gate is the engine's: a camera whose purpose is ``anonymous_statistics`` gets no
expression model, no distress rule and no body path (faces, tracks, age bands only).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from affectlens.config import AnalysisConfig
from affectlens.counting import Bucket
from affectlens.engine import Engine, FrameResult, SourceSession
from affectlens.events.distress import DistressSettings
from affectlens.events.event import Event
from affectlens.events.fall_settings import FallSettings
from affectlens.models.runtime import OnnxModel, Opener
from affectlens.pipeline import Models, Pipeline
from affectlens.privacy.blur import outgoing_picture
from affectlens.privacy.masks import Mask, black_out
from affectlens.privacy.policy import expression_allowed
from affectlens.service.alerts import AlertDispatcher
from affectlens.service.camera import BACKOFF_S, CameraState, LiveCamera, LiveFrame
from affectlens.service.clips import ClipBuffer
from affectlens.service.hub import Hub
from affectlens.service.logs import setup_logging
from affectlens.service.messages import (
    EventEnded,
    EventStarted,
    Message,
    MinuteCounts,
    OpenEvent,
    Preview,
    StateChanged,
    WorkerMetrics,
    WorkerReady,
    WorkerStopped,
)
from affectlens.service.recorder import Recorder
from affectlens.store import Store
from affectlens.store.schema import AGE_BAND_COLUMNS, DEFAULT_FPS
from affectlens.types import AGE_BANDS, FaceAnalysis, Frame
from affectlens.vocabulary import DOWN_KINDS, EventKind, Purpose

log = logging.getLogger(__name__)

_BAND_COLUMN = {name: column for (name, _, _), column in zip(AGE_BANDS, AGE_BAND_COLUMNS)}
PREVIEW_WIDTH = 640

Emit = Callable[[Message], None]
Updates = Callable[[], "HotSettings | None"]  # settings pushed since last asked, or None


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


def _wall(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _minute(seconds: float) -> datetime:
    return _wall(seconds).replace(second=0, microsecond=0)


@dataclass(frozen=True)
class CameraSpec:
    """Everything a worker needs to run one camera; picklable, so it can cross to a process."""

    camera_id: int
    url: str
    purpose: Purpose
    analysis_fps: float = DEFAULT_FPS
    distress: DistressSettings = field(default_factory=DistressSettings)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    io_timeout_s: float = 5.0
    backoff_s: tuple[float, ...] = BACKOFF_S
    preview_fps: float = 2.0  # 0: no previews
    counts_every_s: float = 10.0  # partial minute counts are sent this often
    metrics_every_s: float = 1.0
    log_format: str = "text"
    log_level: str = "INFO"
    falls: FallSettings | None = None  # None: no pose model, no fall events
    blur_faces: bool = True  # False (an admin's choice): pictures unblurred, with a banner
    generation: int = 0  # of these settings; the supervisor numbers them per camera
    # False: a file:// recording read once as fast as it is analysed, no frame dropped, on
    # its own time line (LiveCamera's unpaced mode: tests and replays, never a camera).
    paced: bool = True
    masks: tuple[Mask, ...] = ()  # privacy masks: black in every frame before analysis
    # Falls and long lies the camera's earlier run left open, for this run to adopt (issue
    # 14): given by the supervisor at each start, never a setting (not compared).
    adopted: tuple[OpenEvent, ...] = field(default=(), compare=False)

    @property
    def watches_falls(self) -> bool:
        """Whether this camera's worker runs the fall rule: falls asked for, and a purpose
        that lets it watch bodies (the engine's purpose gate)."""
        return self.falls is not None and expression_allowed(self.purpose)

    def hot(self) -> HotSettings:
        return HotSettings(self.blur_faces, self.distress, self.falls, self.generation)

    def with_hot(self, hot: HotSettings) -> CameraSpec:
        return replace(self, blur_faces=hot.blur_faces, distress=hot.distress,
                       falls=hot.falls, generation=hot.generation)


@dataclass(frozen=True)
class HotSettings:
    """The settings a running worker takes without a restart (issue 14): face blurring,
    distress thresholds, and fall thresholds and zones. Its open events, the people its fall
    rule holds and their clocks (a long lie under way) go on."""

    blur_faces: bool
    distress: DistressSettings
    falls: FallSettings | None
    generation: int


# Fall settings that size the clip buffer (how far back and ahead a clip reaches): a change
# needs a new worker, like turning falls on or off (the pose model is loaded or not).
CLIP_SIZING = ("clip_before_s", "clip_after_s", "confirm_s", "lost_s")


def needs_new_worker(running: CameraSpec, wanted: CameraSpec) -> bool:
    """Whether ``wanted`` differs from ``running`` in more than settings a worker takes while
    it runs (HotSettings): the stream, purpose, rate, models, falls on or off, clip sizes."""
    def cold(spec: CameraSpec) -> tuple[object, ...]:
        falls = spec.falls
        sizes = None if falls is None else tuple(getattr(falls, k) for k in CLIP_SIZING)
        return (replace(spec, blur_faces=True, distress=DistressSettings(), falls=None,
                        generation=0), sizes)

    return cold(running) != cold(wanted)


def make_session(spec: CameraSpec, pipeline: Pipeline | None = None,
                 opener: Opener = OnnxModel) -> SourceSession:
    """The engine's session for one run of the camera: faces (the purpose gate: an
    ``anonymous_statistics`` camera never loads or calls the expression model), the distress
    rule, and the body path (pose, person tracks, falls) when the camera asks for falls and
    its purpose lets it watch bodies. ``pipeline`` lends already loaded models; else they are
    loaded with ``opener`` (a node's batching actor on a cluster: cluster/batching.py)."""
    config = (spec.analysis if pipeline is None else pipeline.config).model_copy(
        update={"purpose": spec.purpose})
    models = pipeline.models if pipeline else Models.load(config, opener)
    engine = Engine(Pipeline(config, models), spec.falls, spec.distress)
    return engine.open(spec.analysis_fps)


def make_clips(spec: CameraSpec, emit: Emit) -> ClipBuffer | None:
    """The fall clips' frame buffer, unless the camera's fall settings ask for no clips."""
    falls = spec.falls
    if falls is None or falls.clip_before_s + falls.clip_after_s <= 0:
        return None
    # A fall fires confirm_s after its first floor frame, or up to lost_s later still when
    # the person was lost on the way down (FallRule._unseen).
    return ClipBuffer(spec.camera_id, falls.clip_before_s, falls.clip_after_s,
                      spec.analysis_fps, emit, latest_s=falls.confirm_s + falls.lost_s)


def blurred_jpeg(live: LiveFrame, analysis: FaceAnalysis,
                 heads: np.ndarray | None = None, blur: bool = True) -> bytes | None:
    """The frame with every detected face (and ``heads``: other boxes to blur) blurred, at most
    PREVIEW_WIDTH wide, as JPEG: the only form in which pixels leave a worker. With
    ``blur=False`` (the camera's admin turned blurring off) faces stay as they are and a
    "FACES NOT BLURRED" banner covers the top of the picture instead."""
    image = outgoing_picture(np.asarray(live.image), analysis, heads, blur, PREVIEW_WIDTH)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return jpeg.tobytes() if ok else None


class _Tally:
    """The current minute's counts (affectlens.counting: people are face tracks, each once
    in the minute, in the band of its median age). Faces and expressions go out as they come
    (``take``); people and their age bands when the minute is over or the run ends
    (``take(final=True)``), since a track's median age is known only then."""

    def __init__(self) -> None:
        self.minute: datetime | None = None
        self.bucket = Bucket()
        self._sent = Counter[str]()  # faces and expressions sent for this minute
        self._closed = False  # its people sent

    def count(self, analysis: FaceAnalysis, minute: datetime) -> None:
        """Adds one analysed frame; send what there is (``take(final=True)``) before a new
        minute."""
        if minute != self.minute:
            self.minute, self.bucket, self._sent, self._closed = minute, Bucket(), Counter(), False
        self.bucket.add(analysis)

    def take(self, final: bool = False) -> tuple[datetime, dict[str, int]] | None:
        """What is not yet sent, if anything."""
        if self.minute is None:
            return None
        bucket = self.bucket
        total = Counter({"faces": bucket.faces} | {
            f"n_{label}": n for label, n in bucket.expressions.items()})
        counts = total - self._sent  # what came since the last take
        self._sent = total
        if final and not self._closed:
            self._closed = True
            counts["people"] = bucket.people
            counts.update({_BAND_COLUMN[band]: n for band, n in bucket.bands().items()})
        sent = {column: n for column, n in counts.items() if n}
        return (self.minute, sent) if sent else None


class CameraLoop:
    """Runs one camera until told to stop; every outcome leaves through ``emit``.

    The live sink of the engine (affectlens.engine): ``session`` analyses each frame and
    runs every rule; this loop keeps what is live only: the camera and its pacing (a slow
    loop drops frames, counted), previews, fall clips, messages with their keys and
    generations, per-minute counts, metrics, and hot settings handed to the session."""

    def __init__(self, spec: CameraSpec, session: SourceSession, emit: Emit) -> None:
        self.spec = spec
        self.session = session
        self.emit = emit
        self._clips = (make_clips(spec, self._stamped(spec.generation))
                       if session.watches_bodies else None)
        self.camera = LiveCamera(spec.url, spec.analysis_fps, on_state=self._on_state,
                                 io_timeout_s=spec.io_timeout_s, backoff_s=spec.backoff_s,
                                 paced=spec.paced)
        # Keys of events and count batches: the run's random id, then a number, so they are
        # unique everywhere (the store refuses a key twice: a message handled again), even
        # when one track is distressed twice or the camera goes offline twice in a run.
        self._run_id = uuid.uuid4().hex
        # Which events are open, and their numbers: the session's book (events/book.py).
        self._batches = itertools.count(1)
        self._tally = _Tally()
        self._started = 0.0
        self._last_counts = self._last_metrics = self._last_preview = time.monotonic()
        self._latencies: list[float] = []
        self._analysed = 0
        self._faces = 0
        self._seen = {"read": 0, "dropped": 0}

    def run(self, stop: StopFlag, updates: Updates | None = None) -> None:
        """Analyse frames until ``stop`` is set, then end open events and send the counts.
        ``updates`` gives the settings pushed since it was last asked, if any (apply)."""
        self.emit(WorkerReady(self.spec.camera_id, os.getpid(), self.session.engine.models))
        self.camera.start()
        error = ""
        try:
            while not stop.is_set():
                while updates is not None and (hot := updates()) is not None:
                    self.apply(hot)
                self.step(self.camera.next_frame(timeout=0.25))
        except Exception as exc:  # reported to the supervisor, which restarts the worker
            log.exception("camera %s: worker failed", self.spec.camera_id)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.finish(error)

    def apply(self, hot: HotSettings) -> None:
        """Settings pushed while running (issue 14): the next frame is analysed and its
        pictures made under them. Open events, the people the fall rule holds and their
        clocks stay. Blurring turned back on drops the frames kept for clips (they were not
        blurred); clips under way then have none."""
        before, self.spec = self.spec, self.spec.with_hot(hot)
        self.session.apply(hot.falls, hot.distress)
        if hot.blur_faces and not before.blur_faces and self._clips is not None:
            self._clips = make_clips(self.spec, self._stamped(hot.generation))
        log.info("camera %s: settings of generation %d applied", self.spec.camera_id,
                 hot.generation, extra={"camera_id": self.spec.camera_id})

    def _stamped(self, generation: int) -> Emit:
        """Sends a clip stamped with the generation its buffer's first frame was made under."""
        return lambda message: self.emit(replace(message, generation=generation))

    def step(self, live: LiveFrame | None) -> None:
        """One turn of the loop: the frame the camera gave, if any, then what is periodic.

        A fall's clip ends by the frames' own clock: on a busy machine a frame is analysed a
        while after it was taken, and one taken before the clip's end belongs in it however
        late it comes. Only while no frame comes (the camera stalled or went offline after the
        fall) does the wall clock end a clip that is due."""
        if live is not None:
            self.analyse(live)
        elif self._clips is not None and self._started:
            self._clips.flush(time.time() - self._started)
        self._periodic()

    def analyse(self, live: LiveFrame) -> None:
        """One frame (``step`` calls it; a test may too, with frames on its own clock)."""
        # Privacy masks first: nothing below, and no picture made from the frame, sees them.
        live = replace(live, image=black_out(live.image, self.spec.masks))
        if not self._started:
            self._started = live.timestamp
            self._adopt()
        frame = Frame(live.image, live.index, live.timestamp - self._started, self.spec.url)
        result = self.session.step(frame)
        minute = _minute(live.timestamp)
        if self._tally.minute is not None and minute != self._tally.minute:
            self._send_counts(final=True)
        self._tally.count(result.faces, minute)
        # This frame blurred as JPEG, made once for clip, snapshots and preview.
        blurred = (blurred_jpeg(live, result.faces, result.extra_regions, self.spec.blur_faces)
                   if self._clips is not None or any(e.ended_s is None for e in result.events)
                   else None)
        if self._clips is not None:
            self._clips.add(frame.timestamp, blurred)
        for event in result.events:
            self._event(event, live.timestamp, blurred)
        self._preview(live, result, blurred)
        self._analysed += 1
        self._faces = len(result.faces)
        self._latencies.append(time.time() - live.timestamp)

    def _adopt(self) -> None:
        """At the run's first frame, when its clock starts: the falls and long lies an
        earlier run left open go on in this one (SourceSession.adopt), under their keys."""
        if not self.spec.adopted:
            return
        events = [Event(o.kind, o.track_id, o.started_at.timestamp() - self._started,
                        o.started_at.timestamp() - self._started, o.confidence,
                        location=o.location, key=o.key) for o in self.spec.adopted]
        adopted = self.session.adopt(events, 0.0)
        log.info("camera %s: %d open falls and long lies of an earlier run adopted",
                 self.spec.camera_id, len(adopted), extra={"camera_id": self.spec.camera_id})

    def _key(self, event: Event) -> str:
        """An event's key: the run, the book's number for it, whose it is and when; an
        adopted event keeps the one it was stored under."""
        if event.key is not None:
            return event.key
        slot = (f"{event.kind}:{event.who}:{event.started_s:.3f}"
                if event.who is not None else str(event.kind))
        return f"{self._run_id}:{event.number}:{slot}"

    def _event(self, event: Event, observed: float, snapshot: bytes | None = None) -> None:
        """An event the book opened or closed; a fall also gets a clip, unless the camera's
        settings ask for none."""
        key = self._key(event)
        if event.ended_s is None:
            clips = self._clips if event.kind == EventKind.FALL else None
            # Track ids below 1: a person adopted from an earlier run, of no track here.
            track = event.track_id if event.track_id is not None and event.track_id > 0 \
                else None
            self.emit(EventStarted(self.spec.camera_id, key, event.kind,
                                   _wall(self._started + event.started_s), event.confidence,
                                   track, _wall(observed), snapshot, clip=clips is not None,
                                   generation=self.spec.generation, location=event.location))
            if clips is not None:
                clips.start(key, event.started_s)
        else:
            self.emit(EventEnded(self.spec.camera_id, key, _wall(self._started + event.ended_s)))

    def _on_state(self, state: CameraState) -> None:
        """Runs in the camera's reader thread. An outage is an event of the session's book
        like any other, on the same clock (seconds since the first frame)."""
        camera_id, book = self.spec.camera_id, self.session.book
        self.emit(StateChanged(camera_id, state.online, state.message, _wall(state.at)))
        at = state.at - self._started
        outage = book.open_event(EventKind.CAMERA_OFFLINE)
        if not state.online and outage is None:
            for event in book.note([Event(EventKind.CAMERA_OFFLINE, None, at, at, 1.0)]):
                self.emit(EventStarted(camera_id, self._key(event), event.kind,
                                       _wall(state.at), 1.0, None, _wall(state.at)))
        elif state.online and outage is not None:
            outage.ended_s = at
            for event in book.note([outage]):
                self.emit(EventEnded(camera_id, self._key(event), _wall(state.at)))

    def _preview(self, live: LiveFrame, result: FrameResult, blurred: bytes | None = None
                 ) -> None:
        """``blurred``: the frame already blurred for a clip or snapshot, reused; else it is
        made here, blurring what the engine says besides faces."""
        period = 1.0 / self.spec.preview_fps if self.spec.preview_fps > 0 else None
        now = time.monotonic()
        if period is None or now - self._last_preview < period:
            return
        self._last_preview = now
        jpeg = blurred or blurred_jpeg(live, result.faces, result.extra_regions,
                                       blur=self.spec.blur_faces)
        if jpeg is not None:
            height, width = live.image.shape[:2]
            self.emit(Preview(self.spec.camera_id, jpeg, _wall(live.timestamp), (width, height),
                              self.spec.generation))

    def _periodic(self) -> None:
        now = time.monotonic()
        passed = self._minute_passed()
        if now - self._last_counts >= self.spec.counts_every_s or passed:
            self._last_counts = now
            self._send_counts(final=passed)
        if now - self._last_metrics >= self.spec.metrics_every_s:
            self._send_metrics(now - self._last_metrics)
            self._last_metrics = now

    def _minute_passed(self) -> bool:
        minute = self._tally.minute
        return minute is not None and _minute(time.time()) > minute

    def _send_counts(self, final: bool = False) -> None:
        taken = self._tally.take(final)
        if taken is not None:
            self.emit(MinuteCounts(self.spec.camera_id, *taken, self._run_id,
                                   next(self._batches)))

    def _send_metrics(self, seconds: float) -> None:
        stats = self.camera.stats
        read, dropped = stats.frames_read, stats.frames_dropped
        self.emit(WorkerMetrics(
            self.spec.camera_id, datetime.now(UTC), self._analysed / max(seconds, 1e-6),
            self._faces, read - self._seen["read"], self._analysed,
            dropped - self._seen["dropped"], tuple(self._latencies),
        ))
        self._seen = {"read": read, "dropped": dropped}
        self._analysed, self._latencies = 0, []

    def finish(self, error: str = "") -> None:
        """The run's end: open events end, counts and metrics go, then WorkerStopped. Falls
        and long lies do not end: the person is still presumed on the floor, and the
        camera's next run adopts them (the supervisor ends them when none will come)."""
        self.camera.stop()
        ended = time.time()
        for event in self.session.finish():
            if event.kind not in DOWN_KINDS:
                self._event(event, ended)
        if self._clips is not None:
            self._clips.finish()  # before the worker's last message, with what there is
        # A camera still offline: its outage ends with us.
        for event in self.session.book.close_all(ended - self._started):
            self.emit(EventEnded(self.spec.camera_id, self._key(event), _wall(ended)))
        self._send_counts(final=True)
        self._send_metrics(max(time.monotonic() - self._last_metrics, 1e-3))
        self.emit(WorkerStopped(self.spec.camera_id, error))


# --- in a process ----------------------------------------------------------------------------


class _ParentWatch:
    """Set when asked to stop or when the supervisor's process is gone (killed with SIGKILL):
    an orphaned worker must not go on reading a camera."""

    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop
        self.parent = multiprocessing.parent_process()

    def orphaned(self) -> bool:
        return self.parent is not None and not self.parent.is_alive()

    def is_set(self) -> bool:
        return self.stop.is_set() or self.orphaned()


def run_process(spec: CameraSpec, messages: multiprocessing.Queue, stop: StopFlag,
                settings: multiprocessing.Queue | None = None) -> None:
    """Entry point of a worker process (spawned: it imports and loads its own models);
    ``settings`` brings HotSettings pushed by the supervisor."""
    # Ctrl-C, `timeout` and systemd signal the whole process group: the supervisor alone
    # decides when a worker stops, so that it can end its events and send its counts first.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    setup_logging(spec.log_format, spec.log_level)
    watch = _ParentWatch(stop)
    emit = queue_sender(messages, socket.gethostname(), waiting=lambda: not watch.orphaned())
    try:
        CameraLoop(spec, make_session(spec), emit).run(
            watch, None if settings is None else lambda: pushed(settings))
    finally:
        if watch.orphaned():  # nobody will read what is buffered: do not wait to flush it
            messages.cancel_join_thread()


class _Queue(Protocol):
    def put(self, item: Message, timeout: float) -> None: ...
    def put_nowait(self, item: Message) -> None: ...


def queue_sender(messages: _Queue, node: str,
                 waiting: Callable[[], bool] = lambda: True) -> Emit:
    """How a worker sends, whatever carries its messages (a process queue, a Ray queue):
    observations may be dropped when the service lags; anything that changes the store
    waits for room while ``waiting()`` (a worker whose service died stops waiting)."""

    def emit(message: Message) -> None:
        message = located(message, node)
        if isinstance(message, Preview | WorkerMetrics):
            with contextlib.suppress(queue.Full):  # Ray's Full is a queue.Full too
                messages.put_nowait(message)
            return
        while waiting():
            with contextlib.suppress(queue.Full):
                messages.put(message, timeout=1.0)
                return

    return emit


def located(message: Message, node: str) -> Message:
    """The worker's hello says which node it runs on (the loop itself does not know)."""
    return replace(message, node=node) if isinstance(message, WorkerReady) else message


def pushed(settings: multiprocessing.Queue | queue.Queue) -> HotSettings | None:
    try:
        return settings.get_nowait()
    except queue.Empty:
        return None


# --- in a thread -----------------------------------------------------------------------------


class CameraWorker:
    """The loop in a thread of this process, its messages handled by a Recorder at once."""

    def __init__(
        self, camera_id: int, url: str, store: Store, pipeline: Pipeline,
        analysis_fps: float = DEFAULT_FPS, distress: DistressSettings | None = None,
        io_timeout_s: float = 5.0, backoff_s: tuple[float, ...] | None = None,
        alerts: AlertDispatcher | None = None, purpose: Purpose = Purpose.CARE_SAFETY,
        hub: Hub | None = None, falls: FallSettings | None = None,
        snapshots: Path | None = None, blur_faces: bool = True,
    ) -> None:
        self.recorder = Recorder(store, hub=hub, alerts=alerts, snapshots=snapshots)
        spec = CameraSpec(camera_id, url, purpose, analysis_fps,
                          distress or DistressSettings(), pipeline.config, io_timeout_s,
                          backoff_s or BACKOFF_S, falls=falls, blur_faces=blur_faces)
        self.loop = CameraLoop(spec, make_session(spec, pipeline), self.recorder.handle)
        self._stop = threading.Event()
        self._settings: queue.Queue[HotSettings] = queue.Queue()
        self._thread = threading.Thread(target=self.loop.run,
                                        args=(self._stop, lambda: pushed(self._settings)),
                                        name=f"worker {camera_id}", daemon=True)

    def apply(self, hot: HotSettings) -> None:
        """Push settings to the running loop; it takes them before its next frame."""
        self._settings.put(hot)

    def start(self) -> CameraWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
