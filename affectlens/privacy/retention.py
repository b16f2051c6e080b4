"""Retention (issue 6): data older than the site's policy is deleted by a job that runs on a
schedule, and each run is written to the audit log.

Per camera: events are kept ``events_days`` (their health records too), event snapshots and
fall clips ``snapshots_days`` (the JPEG or video is deleted and the event forgets its path),
per-minute statistics ``stats_days``. An event still open is never deleted. Site-wide, by the
default policy's ``events_days``: dead letters once finished (delivered or given up; one still
being retried stays) and sent alerts in the outbox, whose payloads describe events. The clock is
passed in, so the tests move time instead of waiting for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update

from affectlens.security.audit import AuditLog
from affectlens.store import Store
from affectlens.store.db import now, slugify
from affectlens.store.dead_letters import DELIVERED, FAILED
from affectlens.store.schema import (
    AlertOutbox,
    Camera,
    CameraHealth,
    DeadLetter,
    Event,
    MinuteStats,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Retention:
    """How long one camera's data is kept, in days."""

    events_days: float = 90.0
    snapshots_days: float = 30.0
    stats_days: float = 365.0

    def __post_init__(self) -> None:
        for name in ("events_days", "snapshots_days", "stats_days"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be more than 0 days")


@dataclass(frozen=True)
class RetentionPolicy:
    """The site's default and per-camera exceptions, by a camera's slug or name; a name is
    also read as the slug made from it, so a camera renamed through the API keeps its
    exception (issue 14)."""

    default: Retention = field(default_factory=Retention)
    cameras: Mapping[str, Retention] = field(default_factory=dict)

    def of(self, camera_name: str, slug: str | None = None) -> Retention:
        if slug is not None:
            for key in (slug, camera_name):
                if key in self.cameras:
                    return self.cameras[key]
            return next((kept for key, kept in self.cameras.items() if slugify(key) == slug),
                        self.default)
        return self.cameras.get(camera_name, self.default)


@dataclass(frozen=True)
class RetentionRun:
    at: datetime
    events: int
    snapshots: int
    clips: int
    stats: int
    health: int
    alerts: int = 0  # finished dead letters and sent outbox rows


def remove_camera_media(snapshots_dir: Path | None, camera_id: int) -> int:
    """Deletes a camera's snapshot folder, clips included (a deleted camera's media go with
    it); returns how many files went."""
    if snapshots_dir is None:
        return 0
    root = snapshots_dir.resolve()
    folder = (root / str(int(camera_id))).resolve()
    if folder.parent != root or not folder.is_dir() or folder.is_symlink():
        return 0
    files = [p for p in folder.rglob("*") if p.is_file() or p.is_symlink()]
    for path in files:
        path.unlink()
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        sub.rmdir()
    folder.rmdir()
    return len(files)


def _delete_snapshot_file(snapshots_dir: Path | None, relative: str) -> bool:
    if snapshots_dir is None:
        return False
    root = snapshots_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return False
    path.unlink()
    return True


def apply_retention(store: Store, policy: RetentionPolicy, snapshots_dir: Path | None = None,
                    clock: Clock = now, audit: AuditLog | None = None) -> RetentionRun:
    """One run over every camera; returns what went and records it in the audit log."""
    at = clock()
    counts = {"events": 0, "snapshots": 0, "clips": 0, "stats": 0, "health": 0}
    for camera in store.cameras():
        keep = policy.of(camera.name, camera.slug)
        counts = _one_camera(store, camera, keep, at, snapshots_dir, counts)
    counts["alerts"] = _finished_alerts(store, at - timedelta(days=policy.default.events_days))
    run = RetentionRun(at, **counts)
    (audit or AuditLog(store, clock)).append("system:retention", "retention.run", "store",
                                             **counts)
    log.info("retention: deleted %s", ", ".join(f"{v} {k}" for k, v in counts.items()))
    return run


def _one_camera(store: Store, camera: Camera, keep: Retention, at: datetime,
                snapshots_dir: Path | None, counts: dict[str, int]) -> dict[str, int]:
    event_cutoff = at - timedelta(days=keep.events_days)
    snapshot_cutoff = at - timedelta(days=min(keep.snapshots_days, keep.events_days))
    ours = Event.camera_id == camera.id
    with store.session() as session:
        for media, column in (("snapshots", Event.snapshot), ("clips", Event.clip)):
            stale = list(session.execute(select(Event.id, column).where(
                ours, column.is_not(None), Event.started_at < snapshot_cutoff)))
            # Files first, rows after: if the commit fails, the rows name missing files and
            # the next run clears them. The other order could leave pictures past their
            # retention that no row names, which no run would ever find again.
            for _, relative in stale:
                counts[media] += _delete_snapshot_file(snapshots_dir, relative)
            if stale:
                session.execute(update(Event).where(Event.id.in_([i for i, _ in stale]))
                                .values({column: None}))
        counts["events"] += session.execute(delete(Event).where(
            ours, Event.ended_at.is_not(None), Event.ended_at < event_cutoff)).rowcount
        counts["health"] += session.execute(delete(CameraHealth).where(
            CameraHealth.camera_id == camera.id, CameraHealth.at < event_cutoff)).rowcount
        counts["stats"] += session.execute(delete(MinuteStats).where(
            MinuteStats.camera_id == camera.id,
            MinuteStats.minute < at - timedelta(days=keep.stats_days))).rowcount
    return counts


def _finished_alerts(store: Store, cutoff: datetime) -> int:
    """Dead letters delivered or given up, and outbox rows sent, before ``cutoff``: what
    became of them is kept as long as events are, then they go."""
    with store.session() as session:
        letters = session.execute(delete(DeadLetter).where(
            DeadLetter.status.in_((DELIVERED, FAILED)), DeadLetter.done_at.is_not(None),
            DeadLetter.done_at < cutoff)).rowcount
        sent = session.execute(delete(AlertOutbox).where(
            AlertOutbox.done_at.is_not(None), AlertOutbox.done_at < cutoff)).rowcount
    return letters + sent


class RetentionJob:
    """Runs ``apply_retention`` every ``every_s`` seconds in a thread until ``stop()``; a
    failed run is logged and retried at the next tick, never fatal."""

    def __init__(self, store: Store, policy: RetentionPolicy, snapshots_dir: Path | None = None,
                 every_s: float = 3600.0, clock: Clock = now) -> None:
        self.store, self.policy, self.snapshots_dir = store, policy, snapshots_dir
        self.every_s, self.clock = every_s, clock
        self.runs: list[RetentionRun] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        audit = AuditLog(self.store, self.clock)
        while not self._stop.is_set():
            try:
                self.runs.append(apply_retention(self.store, self.policy, self.snapshots_dir,
                                                 self.clock, audit))
            except Exception:
                log.exception("retention run failed; trying again in %s s", self.every_s)
            self._stop.wait(self.every_s)
