"""Worker messages made durable and visible: the store first, then alerts, hub and metrics.

An event is committed to the store before anything announces it, so an alert or a websocket
message always names a stored event. Its blurred snapshot, when the worker sent one, is
written (and synced) under ``snapshots`` before the event that names it; a snapshot that
cannot be written is logged and the event stored without it. A fall's clip comes later, in
its own message (possibly after the event ended): it is written the same way, then the
event names it and dashboards hear of it (alert senders do not: the event is not new). A
message the store refuses (the camera was deleted meanwhile) is logged and dropped; nothing
here may stop the supervisor.

Exactly once (issue 14): the supervisor hands a message in again when handling it raised,
and the commit may have happened all the same (a lost acknowledgement). So every write is
idempotent in the store: an event by its worker-made key, its end by "still open", counts by
(run, sequence). Alerts are not sent from here: the event's transaction writes them to the
outbox, and the alert dispatcher (alerts.py) sends them and is only woken here. The hub and
the metrics hear of an event's start and end once, after the commit: from the call that
stored or ended it, or from the retry of one that failed not knowing whether it had
committed. A failure after the commit is logged and does not fail the message (handled
again, it would change nothing). An event's snapshot is written once: the retry of an
unsure attempt uses the same file (the row may name it already), and the one written for a
message replayed later is deleted (the row names the first).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Collection
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
        self._clip_due: dict[str, tuple[int, int]] = {}  # likewise, falls whose clip follows
        # Keys whose start or end failed after perhaps committing (a lost acknowledgement):
        # their retry announces what the failed attempt did not. A start keeps its snapshot.
        self._unsure_starts: dict[str, str | None] = {}
        self._unsure_ends: set[str] = set()
        self._live: dict[int, CameraLive] = {}
        self.ready: dict[int, WorkerReady] = {}  # camera id -> its worker's latest hello
        self._forgotten: set[int] = set()  # deleted cameras, until a worker starts for one
        # By the generation of the camera's settings they were made under (messages.py):
        # previews older than a blurring change are dropped; event snapshots and clips older
        # than blurring turned back on too (they may show faces unblurred).
        self._previews_from: dict[int, int] = {}
        self._pictures_from: dict[int, int] = {}

    def handle(self, message: Message) -> None:
        with self._lock:
            if isinstance(message, WorkerReady):
                self._forgotten.discard(message.camera_id)
            elif isinstance(message, Preview) and message.generation < self._previews_from.get(
                    message.camera_id, 0):
                return  # made under the old blur setting
            elif message.camera_id in self._forgotten and isinstance(
                message, StateChanged | Preview | WorkerMetrics
            ):
                return  # late words of a removed camera's worker: nothing to show or store
            if isinstance(message, EventStarted | EventClip) and (
                    message.generation < self._pictures_from.get(message.camera_id, 0)):
                if isinstance(message, EventClip):
                    log.info("camera %s: a clip made before blurring was turned back on is "
                             "not kept", message.camera_id,
                             extra={"camera_id": message.camera_id})
                    self._clip_due.pop(message.key, None)
                    return
                message = replace(message, snapshot=None, clip=False)  # the event, no picture
            try:
                self._handle(message)
            except StoreError as error:
                log.warning("camera %s: %s not stored: %s", message.camera_id,
                            type(message).__name__, error,
                            extra={"camera_id": message.camera_id})

    def end_open(self, camera_id: int, at: datetime, keep: Collection[str] = ()) -> int:
        """End the events a worker opened but can no longer end (it died), except those of
        the kinds in ``keep`` (falls and long lies its successor adopts); returns how many.
        The store says which are open (no second list kept here)."""
        with self._lock:
            keys = [e.key for e in self.store.open_events(camera_id)
                    if e.kind not in {str(k) for k in keep}]
            for key in keys:
                self._end(key, at)
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

    def withdraw_preview(self, camera_id: int, *, generation: int,
                         blurring: bool = False) -> None:
        """The camera's blurring was turned off or on, in settings of ``generation``: its
        newest preview no longer shows what the setting promises, so it is served no more
        (with the live state; the next report brings both back), and previews of older
        generations still on their way are dropped; when blurring was turned back on
        (``blurring``), so are older event snapshots and fall clips."""
        with self._lock:
            self._previews_from[camera_id] = max(generation,
                                                 self._previews_from.get(camera_id, 0))
            if blurring:
                self._pictures_from[camera_id] = max(generation,
                                                     self._pictures_from.get(camera_id, 0))
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
                self._end(message.key, message.ended_at)
            case EventClip():
                self._add_clip(message)
            case MinuteCounts():
                self.store.add_counts(message.camera_id, message.minute, message.counts,
                                      batch=(message.run, message.seq))
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
                self._set_live(message.camera_id, node=message.node)
                log.info("camera %s: worker %s ready with %s", message.camera_id, message.pid,
                         ", ".join(message.models), extra={"camera_id": message.camera_id})
            case WorkerStopped():
                self._drop_due_clips(message.camera_id)  # its run sends nothing more
                level = logging.WARNING if message.error else logging.INFO
                log.log(level, "camera %s: worker stopped%s", message.camera_id,
                        f": {message.error}" if message.error else "",
                        extra={"camera_id": message.camera_id})

    def _start(self, message: EventStarted) -> None:
        unsure = message.key in self._unsure_starts  # this is the retry of a failed attempt
        snapshot = (self._unsure_starts.pop(message.key) if unsure
                    else self._save_snapshot(message))
        try:
            recorded = self.store.record_event_once(
                message.key, message.camera_id, message.kind, message.started_at,
                min(1.0, max(0.0, message.confidence)), track_id=message.track_id,
                snapshot=snapshot, alert=self.alerts is not None, location=message.location)
        except StoreError:  # refused: no row names the picture, retention would never delete it
            self._delete_media(snapshot)
            raise
        except BaseException:  # stored or not (a lost acknowledgement): the retry will tell,
            self._unsure_starts[message.key] = snapshot  # with the picture the row may name
            raise
        event = recorded.event
        if event.snapshot != snapshot:  # handled before: the row names an earlier picture
            self._delete_media(snapshot)
        # Handled again (a retry after a lost commit acknowledgement, a replay): the stored
        # event stays as it was; what the first handling may not have noted is noted now.
        if message.clip and event.clip is None:
            self._clip_due[message.key] = (message.camera_id, event.id)
        if not (recorded.new or unsure):  # announced when it was stored
            log.info("camera %s: event %s (%s) was stored already; nothing new",
                     message.camera_id, event.id, message.key,
                     extra={"camera_id": message.camera_id, "event_id": event.id})
            return
        log.info("camera %s: %s event %s started", message.camera_id, message.kind, event.id,
                 extra={"camera_id": message.camera_id, "event_id": event.id,
                        "kind": message.kind})
        self._announce(event, latency_since=message.observed_at)

    def _delete_media(self, relative: str | None) -> None:
        if relative is not None and self.snapshots is not None:
            (self.snapshots / relative).unlink(missing_ok=True)

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
            else:
                self._after_commit(event, self._publish, event)
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

    def _end(self, key: str, at: datetime) -> None:
        """Ends the event named ``key`` if still open; only then is the end announced (or
        when an attempt that may have ended it failed before announcing it)."""
        unsure = key in self._unsure_ends
        try:
            event = self.store.end_event_once(key, at, alert=self.alerts is not None)
        except StoreError:
            raise
        except BaseException:
            self._unsure_ends.add(key)
            raise
        self._unsure_ends.discard(key)
        if event is None and unsure:
            event = self.store.event_by_key(key)
        if event is not None and event.ended_at is not None:
            self._announce(event)

    def _announce(self, event: Event, latency_since: datetime | None = None) -> None:
        """After the commit that stored or ended ``event``: wake the alert dispatcher (the
        alert is in the outbox), observe the event's latency, tell dashboards."""
        if self.alerts is not None:
            self._after_commit(event, self.alerts.wake)
        if self.metrics is not None and latency_since is not None:
            delay = max(0.0, (datetime.now(UTC) - latency_since).total_seconds())
            latency = self.metrics.event_latency
            self._after_commit(event, lambda: latency.labels(str(event.camera_id)).observe(delay))
        self._after_commit(event, self._publish, event)

    def _publish(self, event: Event) -> None:
        if self.hub is not None:
            self.hub.publish_event(EventOut.model_validate(event).model_dump(mode="json"))

    @staticmethod
    def _after_commit(event: Event, call: Callable[..., object], *args: object) -> None:
        """Runs what follows a commit; a failure is logged, never raised: the supervisor
        would hand the message in again, and the store would (rightly) change nothing."""
        try:
            call(*args)
        except Exception:
            log.exception("camera %s: event %s is stored, but %r failed", event.camera_id,
                          event.id, call, extra={"camera_id": event.camera_id,
                                                 "event_id": event.id})

    def _set_live(self, camera_id: int, **changes: object) -> None:
        now = datetime.now(UTC)
        state = self._live.get(camera_id) or CameraLive(camera_id, False, "starting", 0.0, 0, now)
        state = replace(state, at=now, **changes)  # type: ignore[arg-type]
        self._live[camera_id] = state
        if self.hub is not None:
            self.hub.set_state(state)
