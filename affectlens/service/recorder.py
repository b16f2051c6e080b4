"""Worker messages made durable and visible: the store first, then alerts, hub and metrics.

An event is committed to the store before anything announces it, so an alert or a websocket
message always names a stored event. Its blurred snapshot, when the worker sent one, is
written (and synced) under ``snapshots`` before the event that names it; a snapshot that
cannot be written is logged and the event stored without it. A fall's clip comes later, in
its own message (possibly after the event ended): it is written the same way, then the
event names it and dashboards hear of it (alert senders do not: the event is not new). A
message the store refuses (the camera was deleted meanwhile) is logged and dropped; nothing
here may stop the supervisor.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from affectlens.service.alerts import AlertDispatcher
from affectlens.service.clips import CLIP_SUFFIX
from affectlens.service.hub import CameraLive, Hub
from affectlens.service.messages import (
    EventClip,
    EventEnded,
    EventStarted,
    Message,
    MinuteCounts,
    Preview,
    StateChanged,
    WorkerMetrics,
    WorkerReady,
    WorkerStopped,
)
from affectlens.service.metrics import ServiceMetrics
from affectlens.service.schemas import EventOut
from affectlens.store import Store
from affectlens.store.db import StoreError
from affectlens.store.schema import Event

log = logging.getLogger(__name__)


class Recorder:
    """Handles messages from any number of workers; safe to call from several threads."""

    def __init__(self, store: Store, hub: Hub | None = None,
                 alerts: AlertDispatcher | None = None,
                 metrics: ServiceMetrics | None = None,
                 snapshots: Path | None = None) -> None:
        self.store = store
        self.snapshots = snapshots
        self.hub = hub
        self.alerts = alerts
        self.metrics = metrics
        self._lock = threading.Lock()
        self._open: dict[str, tuple[int, int]] = {}  # worker's key -> (camera id, event id)
        self._clip_due: dict[str, tuple[int, int]] = {}  # likewise, falls whose clip follows
        self._live: dict[int, CameraLive] = {}
        self.ready: dict[int, WorkerReady] = {}  # camera id -> its worker's latest hello
        self._forgotten: set[int] = set()  # deleted cameras, until a worker starts for one
        self._withdrawn: set[int] = set()  # blurring changed: no preview until a new worker
        # Blurring turned back on: the old worker's unblurred pictures (an event snapshot, a
        # fall clip still being made) are not kept either, until the new worker is ready.
        self._reblurred: set[int] = set()

    def handle(self, message: Message) -> None:
        with self._lock:
            if isinstance(message, WorkerReady):
                self._forgotten.discard(message.camera_id)
                self._withdrawn.discard(message.camera_id)
                self._reblurred.discard(message.camera_id)
            elif message.camera_id in self._withdrawn and isinstance(message, Preview):
                return  # made by the old worker under the old blur setting
            elif message.camera_id in self._reblurred and isinstance(message, EventClip):
                log.info("camera %s: a clip made before blurring was turned back on is "
                         "not kept", message.camera_id, extra={"camera_id": message.camera_id})
                self._clip_due.pop(message.key, None)
                return
            elif message.camera_id in self._forgotten and isinstance(
                message, StateChanged | Preview | WorkerMetrics
            ):
                return  # late words of a removed camera's worker: nothing to show or store
            if message.camera_id in self._reblurred and isinstance(message, EventStarted):
                message = replace(message, snapshot=None, clip=False)  # the event, no picture
            try:
                self._handle(message)
            except StoreError as error:
                log.warning("camera %s: %s not stored: %s", message.camera_id,
                            type(message).__name__, error,
                            extra={"camera_id": message.camera_id})

    def end_open(self, camera_id: int, at: datetime) -> int:
        """End the events a worker opened but can no longer end (it died); returns how many."""
        with self._lock:
            keys = [k for k, (camera, _) in self._open.items() if camera == camera_id]
            for key in keys:
                self._end(self._open.pop(key)[1], at)
            # Due clips are kept: a worker that failed may still have one in the queue; its
            # WorkerStopped, which follows it there, forgets the rest.
            return len(keys)

    def forget(self, camera_id: int) -> None:
        """A deleted or disabled camera: its live state, preview and metrics go. Its worker's
        last event ends and counts, possibly still on their way, are stored all the same."""
        with self._lock:
            self._forgotten.add(camera_id)
            self._live.pop(camera_id, None)
            self.ready.pop(camera_id, None)
        if self.hub is not None:
            self.hub.forget(camera_id)
        if self.metrics is not None:
            self.metrics.forget(camera_id)

    def withdraw_preview(self, camera_id: int, blurring: bool = False) -> None:
        """The camera's blurring was turned off or on: its newest preview no longer shows
        what the setting promises, so it is served no more (with the live state; the next
        report brings both back). The old worker's previews still on their way are dropped
        until the new worker says it is ready (the old one has ended by then); when blurring
        was turned back on (``blurring``), so are its event snapshots and fall clips."""
        with self._lock:
            self._withdrawn.add(camera_id)
            if blurring:
                self._reblurred.add(camera_id)
        if self.hub is not None:
            self.hub.forget(camera_id)

    def set_live(self, camera_id: int, online: bool, message: str) -> None:
        """Show a state the supervisor knows of (starting, crashed) on the dashboard."""
        with self._lock:
            self._set_live(camera_id, online=online, message=message)

    # ---------------------------------------------------------------------------------------

    def _handle(self, message: Message) -> None:
        match message:
            case EventStarted():
                self._start(message)
            case EventEnded():
                opened = self._open.pop(message.key, None)
                if opened is not None:
                    self._end(opened[1], message.ended_at)
            case EventClip():
                self._add_clip(message)
            case MinuteCounts():
                self.store.add_counts(message.camera_id, message.minute, message.counts)
            case StateChanged():
                self.store.record_health(message.camera_id, message.online, message.message)
                self._set_live(message.camera_id, online=message.online,
                               message="" if message.online else message.message)
                if self.metrics is not None:
                    self.metrics.online.labels(str(message.camera_id)).set(int(message.online))
            case Preview():
                if self.hub is not None:
                    self.hub.set_preview(message.camera_id, message.jpeg, message.frame_size)
            case WorkerMetrics():
                if self.metrics is not None:
                    self.metrics.observe(message)
                self._set_live(message.camera_id, analysed_fps=round(message.analysed_fps, 2),
                               faces=message.faces)
            case WorkerReady():
                self.ready[message.camera_id] = message
                log.info("camera %s: worker %s ready with %s", message.camera_id, message.pid,
                         ", ".join(message.models), extra={"camera_id": message.camera_id})
            case WorkerStopped():
                self._drop_due_clips(message.camera_id)  # its run sends nothing more
                level = logging.WARNING if message.error else logging.INFO
                log.log(level, "camera %s: worker stopped%s", message.camera_id,
                        f": {message.error}" if message.error else "",
                        extra={"camera_id": message.camera_id})

    def _start(self, message: EventStarted) -> None:
        snapshot = self._save_snapshot(message)
        try:
            event = self.store.record_event(message.camera_id, message.kind, message.started_at,
                                            min(1.0, max(0.0, message.confidence)),
                                            track_id=message.track_id, snapshot=snapshot)
        except BaseException:  # no row names the picture: retention would never delete it
            if snapshot is not None and self.snapshots is not None:
                (self.snapshots / snapshot).unlink(missing_ok=True)
            raise
        self._open[message.key] = (message.camera_id, event.id)
        if message.clip:
            self._clip_due[message.key] = (message.camera_id, event.id)
        if self.metrics is not None:
            delay = (datetime.now(UTC) - message.observed_at).total_seconds()
            self.metrics.event_latency.labels(str(message.camera_id)).observe(max(0.0, delay))
        log.info("camera %s: %s event %s started", message.camera_id, message.kind, event.id,
                 extra={"camera_id": message.camera_id, "event_id": event.id,
                        "kind": message.kind})
        self._announce(event)

    def _save_snapshot(self, message: EventStarted) -> str | None:
        """Writes the event's blurred JPEG; returns its path relative to ``snapshots``."""
        if message.snapshot is None:
            return None
        return self._write_media(message.camera_id, message.started_at, message.kind,
                                 message.snapshot, ".jpg", "snapshot")

    def _add_clip(self, message: EventClip) -> None:
        """Writes a fall's clip, then the event names it. When the store fails the file goes
        and the error rises (the supervisor retries the message); a clip whose event is
        unknown or deleted is not kept."""
        due = self._clip_due.get(message.key)
        event = self.store.event(due[1]) if due is not None else None
        relative = None if event is None else self._write_media(
            message.camera_id, event.started_at, event.kind, message.video, CLIP_SUFFIX, "clip")
        if event is not None and relative is not None and self.snapshots is not None:
            path = self.snapshots / relative
            try:
                event = self.store.set_clip(event.id, relative)
            except Exception:
                path.unlink(missing_ok=True)
                raise
            if event is None:  # deleted meanwhile
                path.unlink(missing_ok=True)
            elif self.hub is not None:
                self.hub.publish_event(EventOut.model_validate(event).model_dump(mode="json"))
        if event is None:
            log.info("camera %s: a clip for an unknown or deleted event dropped",
                     message.camera_id, extra={"camera_id": message.camera_id})
        self._clip_due.pop(message.key, None)

    def _drop_due_clips(self, camera_id: int) -> None:
        """A worker run ended: clips it promised and did not send never will come."""
        for key in [k for k, (camera, _) in self._clip_due.items() if camera == camera_id]:
            del self._clip_due[key]

    def _write_media(self, camera_id: int, at: datetime, kind: str, data: bytes, suffix: str,
                     what: str) -> str | None:
        """Writes and syncs an event's blurred picture or clip under ``snapshots``, before
        any row names it; returns its relative path, or None when it cannot be written."""
        if self.snapshots is None:
            return None
        relative = Path(str(camera_id), f"{at:%Y-%m-%d}",
                        f"{at:%H%M%S}-{kind}-{uuid.uuid4().hex[:12]}{suffix}")
        path = self.snapshots / relative
        part = path.with_suffix(".part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with part.open("wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            part.replace(path)
        except OSError as error:
            part.unlink(missing_ok=True)  # a disk that filled up mid-write keeps no half file
            log.error("camera %s: event %s not written (%s); the event is stored without it",
                      camera_id, what, error, extra={"camera_id": camera_id})
            return None
        return relative.as_posix()

    def _end(self, event_id: int, at: datetime) -> None:
        event = self.store.end_event(event_id, at)
        if event is not None:
            self._announce(event)

    def _announce(self, event: Event) -> None:
        if self.alerts is not None:
            self.alerts.notify(event)
        if self.hub is not None:
            self.hub.publish_event(EventOut.model_validate(event).model_dump(mode="json"))

    def _set_live(self, camera_id: int, **changes: object) -> None:
        now = datetime.now(UTC)
        state = self._live.get(camera_id) or CameraLive(camera_id, False, "starting", 0.0, 0, now)
        state = replace(state, at=now, **changes)  # type: ignore[arg-type]
        self._live[camera_id] = state
        if self.hub is not None:
            self.hub.set_state(state)
