"""Opening the store, migrating it, and the queries the service needs.

Every write is one short transaction, committed before the call returns: an event the API
has returned is on disk (SQLite in WAL mode survives a killed process at every commit).

Writes of worker messages are idempotent (issue 14), so that a message handled again (the
supervisor retries one whose commit may or may not have happened) changes nothing: events by
their worker-made key (``INSERT ... ON CONFLICT DO NOTHING``), their ends by "still open",
minute counts by (worker run, sequence number). An event's alerts are written in the same
transaction, to the outbox that the alert dispatcher sends from.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import unicodedata
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, delete, event, func, make_url, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from affectlens.errors import AffectlensError
from affectlens.store.schema import (
    AGE_BAND_COLUMNS,
    DEFAULT_FPS,
    EXPRESSION_COUNT_COLUMNS,
    SLUG_MAX,
    AlertOutbox,
    Camera,
    CameraHealth,
    CountBatch,
    DeadLetter,
    Event,
    MinuteStats,
)
from affectlens.vocabulary import EventKind, Purpose

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
COUNT_COLUMNS = ("faces", "people", *EXPRESSION_COUNT_COLUMNS, *AGE_BAND_COLUMNS)
COUNT_BATCHES_KEPT = timedelta(days=1)  # a batch handed in again later is added again
PRUNE_EVERY_S = 3600.0

Phase = Literal["started", "ended"]
# Alerts the service sends about an event still open and unacknowledged (service/reminders.py):
# a reminder (its key ends "/reminder-<n>") to the usual targets, and once, an escalation to
# the second contact (its key ends "/escalated").
REMINDER, ESCALATED = "reminder", "escalated"


class StoreError(AffectlensError):
    """The database cannot be reached, or a write breaks a rule (unknown camera, bad value)."""


def slugify(name: str) -> str:
    """A camera name as a key: lower-case ASCII letters, digits and ``-``
    (``Room 12 (east)`` -> ``room-12-east``); ``camera`` when nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:SLUG_MAX - 4]
    return slug.strip("-") or "camera"


def unique_slug(slug: str, taken: set[str]) -> str:
    """``slug``, or ``slug-2``, ``slug-3``... whichever is not taken."""
    n, candidate = 1, slug
    while candidate in taken:
        n += 1
        candidate = f"{slug}-{n}"
    return candidate


def sqlite_url(path: Path) -> str:
    return f"sqlite+pysqlite:///{Path(path).resolve()}"


# Connections kept open per engine. The API answers requests on up to 40 threads (AnyIO's
# default): with SQLAlchemy's default of 5, every request past the fifth opened a connection
# and closed it again (for SQLite with its pragmas), which under 50 clients cost more CPU
# than the query (benchmarks/api_load.py). Overflow past it still works, as before.
POOL_SIZE = 20
POOL_OVERFLOW = 30


def make_engine(url: str, foreign_keys: bool = True) -> Engine:
    """An engine; SQLite gets WAL, foreign keys and a busy timeout for concurrent workers.

    ``foreign_keys=False`` is for migrations only: SQLite rebuilds a table to alter it (copy,
    drop, rename), and with foreign keys on, dropping ``cameras`` deletes every event, health
    record and count that refers to it, by cascade, silently.
    """
    if url.startswith("sqlite"):
        memory = make_url(url).database in (None, "", ":memory:")  # one connection, shared
        pool = {} if memory else {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
        engine = create_engine(url, connect_args={"timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON" if foreign_keys else "PRAGMA foreign_keys=OFF")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE,
                         max_overflow=POOL_OVERFLOW)


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` to ``revision`` with Alembic."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    try:
        command.upgrade(config, revision)
    except OperationalError as error:
        raise StoreError(f"cannot open the database: {error.orig}") from error
    except CommandError as error:
        # The database names a revision this code does not have: a newer affectlens upgraded
        # it. Nothing was changed; downgrading would need that newer version's migrations.
        raise StoreError(
            f"the database was upgraded by a newer affectlens than this one ({error}); "
            "install that version again, or restore the backup taken before the upgrade"
        ) from error


def now() -> datetime:
    return datetime.now(UTC)


def _minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def event_payload(event: Event) -> dict[str, Any]:
    """An event as alerts carry it (JSON-ready)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": event.id, "camera_id": event.camera_id, "kind": event.kind,
        "started_at": iso(event.started_at), "ended_at": iso(event.ended_at),
        "confidence": round(event.confidence, 4), "track_id": event.track_id,
    }


@dataclass(frozen=True)
class Alert:
    """One alert to send: an event's start or end, as the outbox holds it.

    ``key`` is the idempotency key every sender passes on (``<event key>/<phase>``): the same
    alert sent again (after a crash between sending and marking it sent) carries the same key,
    so a receiver can drop the copy. ``event`` is the event's payload when it was queued."""

    key: str
    event_id: int
    camera_id: int
    kind: str
    event: dict[str, Any]
    created_at: datetime
    id: int | None = None  # its outbox row; None: made by ``Alert.of`` and never queued

    @classmethod
    def of(cls, event: Event, phase: str = "started") -> Alert:
        """The alert for an event's start or end (``Phase``), or a reminder or escalation
        (``Store.queue_reminders``), as the event is now."""
        return cls(f"{event.key}/{phase}", event.id, event.camera_id, event.kind,
                   event_payload(event), now())

    @property
    def phase(self) -> str:
        """``started``, ``ended``, ``reminder`` or ``escalated``, from the key's last part."""
        last = self.key.rsplit("/", 1)[-1]
        return REMINDER if last.startswith(f"{REMINDER}-") else last

    @property
    def reminder(self) -> int | None:
        """A reminder's number (1, 2, ...); None for any other alert."""
        last = self.key.rsplit("/", 1)[-1]
        return int(last.split("-", 1)[1]) if self.phase == REMINDER else None

    def body(self) -> dict[str, Any]:
        """What webhooks POST and MQTT publishes. A reminder or an escalation also says
        what it is (``phase``) and, for a reminder, which one."""
        body: dict[str, Any] = {"event": self.event, "idempotency_key": self.key}
        if self.phase in (REMINDER, ESCALATED):
            body["phase"] = self.phase
            if self.reminder is not None:
                body["reminder"] = self.reminder
        return body


@dataclass(frozen=True)
class Recorded:
    """An event as stored; ``new`` is False when its key was stored before (the message was
    handled again): nothing about it should be announced again."""

    event: Event
    new: bool


WROTE = "affectlens_wrote"  # a session's info key: it wrote something not yet committed


def _flushed(session: Session, _context: object) -> None:
    session.info[WROTE] = True  # objects added, changed or deleted


def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True  # a statement that writes (upserts, bulk deletes)


def _rolled_back(session: Session) -> None:
    session.info.pop(WROTE, None)


class Store:
    """The service's view of the database. ``Store(url)`` migrates it first.

    ``generation`` counts the committed transactions that wrote through this Store (events,
    acknowledgements, retention's deletions, tokens, logins: every table): whatever is cached
    from the database is keyed by it, and so is never served after a write of this process.
    Writes by another process (the command line, another service) do not move it; caches
    bound their age for those."""

    def __init__(self, url: str, migrate_first: bool = True) -> None:
        if migrate_first:
            migrate(url)
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        postgres = self.engine.dialect.name == "postgresql"
        self._insert = postgres_insert if postgres else sqlite_insert
        self._pruned = 0.0  # monotonic time count_batches were last pruned
        self._generation = itertools.count(1)
        self.generation = 0
        event.listen(self._sessions, "after_flush", _flushed)
        event.listen(self._sessions, "do_orm_execute", _executed)
        event.listen(self._sessions, "after_commit", self._committed)
        event.listen(self._sessions, "after_rollback", _rolled_back)

    def _committed(self, session: Session) -> None:
        """A transaction that wrote is committed: the generation moves on, so what was read
        before it (the API's cached answers, cached logins) is not used again. It moves only
        after the commit, so nothing read under the new generation can predate the write."""
        if session.info.pop(WROTE, False):
            self.generation = next(self._generation)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except IntegrityError as error:
                session.rollback()
                raise StoreError(f"refused by the database: {error.orig}") from error

    # cameras -------------------------------------------------------------------------------

    def add_camera(self, name: str, url: str, purpose: Purpose | str,
                   analysis_fps: float = DEFAULT_FPS, blur_faces: bool = True, *,
                   slug: str | None = None, falls: str | None = None,
                   distress: str | None = None, site_seed: str | None = None) -> Camera:
        """Add a camera under ``slug``, its key for good; without one, a slug made from the
        name (``-2``, ``-3``... when taken). ``falls`` and ``distress`` are JSON checked by the
        caller (the store does not know the settings models)."""
        with self.session() as session:
            taken = set(session.scalars(select(Camera.slug)))
            camera = Camera(slug=slug or unique_slug(slugify(name), taken), name=name,
                            url=url, purpose=str(purpose), analysis_fps=analysis_fps,
                            enabled=True, created_at=now(), blur_faces=blur_faces,
                            falls=falls, distress=distress, site_seed=site_seed)
            session.add(camera)
        return camera

    def camera(self, camera_id: int) -> Camera | None:
        with self.session() as session:
            return session.get(Camera, camera_id)

    def update_camera(self, camera_id: int, **changes: object) -> Camera | None:
        """Change a camera's name, url, purpose, analysis_fps, enabled, blur_faces, falls,
        distress or site_seed; None if absent. The slug never changes. Who may turn blurring
        off is the caller's to check (admins, audited)."""
        allowed = {"name", "url", "purpose", "analysis_fps", "enabled", "blur_faces", "falls",
                   "distress", "site_seed"}
        if set(changes) - allowed:
            raise StoreError(f"cannot change {', '.join(sorted(set(changes) - allowed))}")
        with self.session() as session:
            camera = session.get(Camera, camera_id)
            if camera is None:
                return None
            for key, value in changes.items():  # a Purpose is stored as its plain string
                setattr(camera, key, str(value) if key == "purpose" else value)
        return camera

    def set_zones(self, camera_id: int, zones: str | None) -> Camera | None:
        """Store the fall zones drawn in the dashboard (JSON text, checked by the caller:
        the store does not know the zone model); None: none drawn. None if no camera."""
        with self.session() as session:
            camera = session.get(Camera, camera_id)
            if camera is not None:
                camera.zones = zones
        return camera

    def cameras(self) -> list[Camera]:
        with self.session() as session:
            return list(session.scalars(select(Camera).order_by(Camera.id)))

    def delete_camera(self, camera_id: int) -> bool:
        with self.session() as session:
            camera = session.get(Camera, camera_id)
            if camera is None:
                return False
            session.delete(camera)
        return True

    def record_health(self, camera_id: int, online: bool, message: str = "") -> None:
        with self.session() as session:
            session.add(CameraHealth(camera_id=camera_id, at=now(), online=online,
                                     message=message[:500]))

    def health(self, camera_id: int) -> list[CameraHealth]:
        with self.session() as session:
            query = select(CameraHealth).where(CameraHealth.camera_id == camera_id)
            return list(session.scalars(query.order_by(CameraHealth.at, CameraHealth.id)))

    # events --------------------------------------------------------------------------------

    def record_event(
        self, camera_id: int, kind: EventKind | str, started_at: datetime, confidence: float,
        ended_at: datetime | None = None, track_id: int | None = None,
        snapshot: str | None = None, key: str | None = None,
    ) -> Event:
        """Write an event and commit it before returning; no alert is queued. Without a
        ``key`` it gets a new one (``store:<uuid>``). Worker messages go through
        ``record_event_once``."""
        item = Event(key=key or f"store:{uuid.uuid4().hex}", camera_id=camera_id, kind=str(kind),
                     started_at=started_at, ended_at=ended_at, confidence=confidence,
                     track_id=track_id, snapshot=snapshot)
        with self.session() as session:
            session.add(item)
        return item

    def record_event_once(
        self, key: str, camera_id: int, kind: EventKind | str, started_at: datetime,
        confidence: float, track_id: int | None = None, snapshot: str | None = None,
        alert: bool = False, location: tuple[float, float] | None = None,
    ) -> Recorded:
        """Store the event named ``key`` unless it is stored already, in one transaction with
        its start alert in the outbox (``alert``). Handed in again, even after a commit whose
        acknowledgement was lost, it stores and queues nothing and returns the stored row
        (``new`` False; its snapshot is the first one's)."""
        x, y = location if location is not None else (None, None)
        values = {"key": key, "camera_id": camera_id, "kind": str(kind), "started_at": started_at,
                  "confidence": confidence, "track_id": track_id, "snapshot": snapshot,
                  "x": x, "y": y}
        statement = self._insert(Event).values(**values).on_conflict_do_nothing(
            index_elements=["key"]).returning(Event.id)  # no row: it was there already
        with self.session() as session:
            new = session.execute(statement).first() is not None
            event = session.scalars(select(Event).where(Event.key == key)).one()
            if new and alert:
                self._queue_alert(session, event, "started")
        return Recorded(event, new)

    def end_event_once(self, key: str, ended_at: datetime, alert: bool = False) -> Event | None:
        """End the event named ``key`` if it is still open, in one transaction with its end
        alert in the outbox (``alert``); returns it, or None when there is no such event or it
        had ended (an end handed in again changes nothing)."""
        statement = (update(Event).where(Event.key == key, Event.ended_at.is_(None))
                     .values(ended_at=ended_at).returning(Event.id)
                     .execution_options(synchronize_session=False))
        with self.session() as session:
            if session.execute(statement).first() is None:
                return None
            event = session.scalars(select(Event).where(Event.key == key)).one()
            if alert:
                self._queue_alert(session, event, "ended")
        return event

    def _queue_alert(self, session: Session, event: Event, phase: str) -> bool:
        """Queue the event's alert of ``phase`` unless that key was queued before; returns
        whether it was queued now."""
        alert = Alert.of(event, phase)
        return session.execute(self._insert(AlertOutbox).values(
            key=alert.key, event_id=event.id, created_at=alert.created_at,
            payload=json.dumps(alert.event, separators=(",", ":")),
        ).on_conflict_do_nothing(index_elements=["key"]).returning(AlertOutbox.id)
        ).first() is not None

    def queue_reminders(self, at: datetime, kinds: tuple[str, ...],
                        remind_after_s: float = 0.0, escalate_after_s: float = 0.0) -> int:
        """Events of ``kinds`` still open and unacknowledged at ``at``: the reminder due
        (number ``n`` once ``n * remind_after_s`` has passed since the event started; the
        latest only, not every one missed while the service was down) and, once
        ``escalate_after_s`` has passed, the escalation; 0: none of that kind. Each is an
        outbox row with its own key, queued once (ON CONFLICT): a restart resends nothing
        already queued. Returns how many were queued now."""
        if remind_after_s <= 0 and escalate_after_s <= 0:
            return 0
        query = select(Event).where(Event.ended_at.is_(None), Event.acknowledged_at.is_(None),
                                    Event.kind.in_(kinds))
        queued = 0
        with self.session() as session:
            for event in session.scalars(query.order_by(Event.started_at, Event.id)):
                open_s = (at - event.started_at).total_seconds()
                if remind_after_s > 0 and (n := int(open_s // remind_after_s)) >= 1:
                    queued += self._queue_alert(session, event, f"{REMINDER}-{n}")
                if 0 < escalate_after_s <= open_s:
                    queued += self._queue_alert(session, event, ESCALATED)
        return queued


    def event(self, event_id: int) -> Event | None:
        with self.session() as session:
            return session.get(Event, event_id)

    def event_by_key(self, key: str) -> Event | None:
        with self.session() as session:
            return session.scalars(select(Event).where(Event.key == key)).one_or_none()

    def set_clip(self, event_id: int, clip: str) -> Event | None:
        """Name a fall's clip (written and synced already); None if the event is gone."""
        return self._change_event(event_id, clip=clip)

    def end_event(self, event_id: int, ended_at: datetime) -> Event | None:
        return self._change_event(event_id, ended_at=ended_at)

    def _change_event(self, event_id: int, **values: object) -> Event | None:
        with self.session() as session:
            item = session.get(Event, event_id)
            if item is not None:
                for column, value in values.items():
                    setattr(item, column, value)
        return item

    def open_events(self, camera_id: int | None = None,
                    kinds: Collection[str] | None = None) -> list[Event]:
        """Events not yet ended (of ``kinds``; None: any), oldest first."""
        query = select(Event).where(Event.ended_at.is_(None))
        if camera_id is not None:
            query = query.where(Event.camera_id == camera_id)
        if kinds is not None:
            query = query.where(Event.kind.in_([str(k) for k in kinds]))
        with self.session() as session:
            return list(session.scalars(query.order_by(Event.started_at, Event.id)))

    def end_open_events(self, ended_at: datetime, camera_id: int | None = None,
                        keep: Collection[str] = ()) -> int:
        """End every event still open, except those of the kinds in ``keep`` (a worker that
        died cannot end its own; falls and long lies go on in the camera's next run);
        returns how many. An event never ends before it started."""
        query = update(Event).where(Event.ended_at.is_(None))
        if camera_id is not None:
            query = query.where(Event.camera_id == camera_id)
        if keep:
            query = query.where(Event.kind.not_in([str(k) for k in keep]))
        with self.session() as session:
            result = session.execute(
                query.where(Event.started_at <= ended_at).values(ended_at=ended_at)
            )
            later = session.execute(
                query.where(Event.started_at > ended_at).values(ended_at=Event.started_at)
            )
            return result.rowcount + later.rowcount

    def acknowledge(self, event_id: int, by: str, comment: str | None = None) -> Event | None:
        with self.session() as session:
            item = session.get(Event, event_id)
            if item is None:
                return None
            item.acknowledged_at = now()
            item.acknowledged_by = by
            if comment is not None:
                item.comment = comment
        return item

    def events(
        self, camera_id: int | None = None, kind: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    ) -> list[Event]:
        """Newest first; every filter is a bound parameter."""
        query = select(Event)
        if camera_id is not None:
            query = query.where(Event.camera_id == camera_id)
        if kind is not None:
            query = query.where(Event.kind == kind)
        if since is not None:
            query = query.where(Event.started_at >= since)
        if until is not None:
            query = query.where(Event.started_at < until)
        with self.session() as session:
            return list(session.scalars(
                query.order_by(Event.started_at.desc(), Event.id.desc()).limit(limit)
            ))

    # alerts --------------------------------------------------------------------------------

    def add_dead_letter(self, channel: str, target: str, event_id: int | None, payload: str,
                        attempts: int, last_error: str) -> DeadLetter:
        letter = DeadLetter(created_at=now(), channel=channel, target=target, event_id=event_id,
                            payload=payload, attempts=attempts, last_error=last_error[:500])
        with self.session() as session:
            session.add(letter)
        return letter

    def dead_letters(self) -> list[DeadLetter]:
        with self.session() as session:
            return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))

    def pending_alerts(self, limit: int = 100) -> list[Alert]:
        """Alerts in the outbox not yet sent, oldest first."""
        query = (select(AlertOutbox, Event.camera_id, Event.kind)
                 .join(Event, AlertOutbox.event_id == Event.id)
                 .where(AlertOutbox.done_at.is_(None)).order_by(AlertOutbox.id).limit(limit))
        with self.session() as session:
            return [Alert(row.key, row.event_id, camera_id, kind, json.loads(row.payload),
                          row.created_at, row.id)
                    for row, camera_id, kind in session.execute(query)]

    def finish_alert(self, alert_id: int, outcome: Literal["sent", "expired"] = "sent") -> None:
        """The dispatcher is done with an outbox row: ``sent`` or ``expired``."""
        with self.session() as session:
            session.execute(update(AlertOutbox).where(AlertOutbox.id == alert_id)
                            .values(done_at=now(), outcome=outcome)
                            .execution_options(synchronize_session=False))

    def outbox(self) -> list[AlertOutbox]:
        """Every outbox row, oldest first (for tests and tools)."""
        with self.session() as session:
            return list(session.scalars(select(AlertOutbox).order_by(AlertOutbox.id)))

    # statistics ----------------------------------------------------------------------------

    def add_counts(self, camera_id: int, at: datetime, counts: Mapping[str, int],
                   batch: tuple[str, int] | None = None) -> bool:
        """Add counts into the camera's row for the minute of ``at`` (created if absent).

        ``batch`` (worker run, sequence number) makes it idempotent: a batch already added
        (within ``COUNT_BATCHES_KEPT``) adds nothing. Returns whether the counts were added."""
        unknown = set(counts) - set(COUNT_COLUMNS)
        if unknown:
            raise StoreError(f"unknown statistics columns: {', '.join(sorted(unknown))}")
        values = {"camera_id": camera_id, "minute": _minute(at)}
        values |= {column: int(counts.get(column, 0)) for column in COUNT_COLUMNS}
        statement = self._insert(MinuteStats).values(**values)
        table = MinuteStats.__table__
        statement = statement.on_conflict_do_update(
            index_elements=["camera_id", "minute"],
            set_={c: table.c[c] + statement.excluded[c] for c in COUNT_COLUMNS},
        )
        with self.session() as session:
            if batch is not None:
                run, seq = batch
                if self._prune_due():
                    session.execute(delete(CountBatch).where(
                        CountBatch.stored_at < now() - COUNT_BATCHES_KEPT))
                first = self._insert(CountBatch).values(
                    run=run, seq=seq, camera_id=camera_id, stored_at=now(),
                ).on_conflict_do_nothing(index_elements=["run", "seq"]).returning(CountBatch.seq)
                if session.execute(first).first() is None:
                    return False  # added before
            session.execute(statement)
        return True

    def _prune_due(self) -> bool:
        if self._pruned and time.monotonic() - self._pruned < PRUNE_EVERY_S:
            return False
        self._pruned = time.monotonic()
        return True

    def minute_stats(self, camera_id: int, since: datetime, until: datetime) -> list[MinuteStats]:
        query = (
            select(MinuteStats)
            .where(MinuteStats.camera_id == camera_id, MinuteStats.minute >= since,
                   MinuteStats.minute < until)
            .order_by(MinuteStats.minute)
        )
        with self.session() as session:
            return list(session.scalars(query))

    def totals(
        self, since: datetime, until: datetime | None = None, camera_id: int | None = None
    ) -> dict[str, int]:
        """Every count column summed over the minutes that overlap [since, until), over all
        cameras or one: faces, people, n_<expression>, n_uncertain, n_age_<band>. Zeros when
        there is nothing. ``people`` sums per-minute distinct tracks: one person seen over
        three minutes counts three times (tracks are not followed across minutes)."""
        query = select(*(func.coalesce(func.sum(MinuteStats.__table__.c[c]), 0)
                         for c in COUNT_COLUMNS)).where(MinuteStats.minute >= _minute(since))
        if until is not None:
            query = query.where(MinuteStats.minute < until)
        if camera_id is not None:
            query = query.where(MinuteStats.camera_id == camera_id)
        with self.session() as session:
            row = session.execute(query).one()
        return {column: int(value) for column, value in zip(COUNT_COLUMNS, row)}
