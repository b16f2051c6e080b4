"""Opening the store, migrating it, and the queries the service needs.

Every write is one short transaction, committed before the call returns: an event the API
has returned is on disk (SQLite in WAL mode survives a killed process at every commit).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from affectlens.errors import AffectlensError
from affectlens.store.schema import (
    AGE_BAND_COLUMNS,
    EXPRESSION_COUNT_COLUMNS,
    Camera,
    CameraHealth,
    DeadLetter,
    Event,
    MinuteStats,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
COUNT_COLUMNS = ("faces", "people", *EXPRESSION_COUNT_COLUMNS, *AGE_BAND_COLUMNS)


class StoreError(AffectlensError):
    """The database cannot be reached, or a write breaks a rule (unknown camera, bad value)."""


def sqlite_url(path: Path) -> str:
    return f"sqlite+pysqlite:///{Path(path).resolve()}"


def make_engine(url: str, foreign_keys: bool = True) -> Engine:
    """An engine; SQLite gets WAL, foreign keys and a busy timeout for concurrent workers.

    ``foreign_keys=False`` is for migrations only: SQLite rebuilds a table to alter it (copy,
    drop, rename), and with foreign keys on, dropping ``cameras`` deletes every event, health
    record and count that refers to it, by cascade, silently.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON" if foreign_keys else "PRAGMA foreign_keys=OFF")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` to ``revision`` with Alembic."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    try:
        command.upgrade(config, revision)
    except OperationalError as error:
        raise StoreError(f"cannot open the database: {error.orig}") from error


def now() -> datetime:
    return datetime.now(UTC)


def _minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


class Store:
    """The service's view of the database. ``Store(url)`` migrates it first."""

    def __init__(self, url: str, migrate_first: bool = True) -> None:
        if migrate_first:
            migrate(url)
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

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

    def add_camera(self, name: str, url: str, purpose: str, analysis_fps: float = 5.0,
                   blur_faces: bool = True) -> Camera:
        camera = Camera(name=name, url=url, purpose=purpose, analysis_fps=analysis_fps,
                        enabled=True, created_at=now(), blur_faces=blur_faces)
        with self.session() as session:
            session.add(camera)
        return camera

    def camera(self, camera_id: int) -> Camera | None:
        with self.session() as session:
            return session.get(Camera, camera_id)

    def update_camera(self, camera_id: int, **changes: object) -> Camera | None:
        """Change a camera's name, url, purpose, analysis_fps, enabled or blur_faces; None if
        absent. Who may turn blurring off is the caller's to check (admins, audited)."""
        allowed = {"name", "url", "purpose", "analysis_fps", "enabled", "blur_faces"}
        if set(changes) - allowed:
            raise StoreError(f"cannot change {', '.join(sorted(set(changes) - allowed))}")
        with self.session() as session:
            camera = session.get(Camera, camera_id)
            if camera is None:
                return None
            for key, value in changes.items():
                setattr(camera, key, value)
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
        self, camera_id: int, kind: str, started_at: datetime, confidence: float,
        ended_at: datetime | None = None, track_id: int | None = None,
        snapshot: str | None = None,
    ) -> Event:
        """Write an event and commit it before returning."""
        item = Event(camera_id=camera_id, kind=kind, started_at=started_at, ended_at=ended_at,
                     confidence=confidence, track_id=track_id, snapshot=snapshot)
        with self.session() as session:
            session.add(item)
        return item

    def event(self, event_id: int) -> Event | None:
        with self.session() as session:
            return session.get(Event, event_id)

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

    def open_events(self, camera_id: int | None = None) -> list[Event]:
        """Events not yet ended, oldest first."""
        query = select(Event).where(Event.ended_at.is_(None))
        if camera_id is not None:
            query = query.where(Event.camera_id == camera_id)
        with self.session() as session:
            return list(session.scalars(query.order_by(Event.started_at, Event.id)))

    def end_open_events(self, ended_at: datetime, camera_id: int | None = None) -> int:
        """End every event still open (a worker that died cannot end its own); returns how
        many. An event never ends before it started."""
        query = update(Event).where(Event.ended_at.is_(None))
        if camera_id is not None:
            query = query.where(Event.camera_id == camera_id)
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

    # statistics ----------------------------------------------------------------------------

    def add_counts(self, camera_id: int, at: datetime, counts: Mapping[str, int]) -> None:
        """Add counts into the camera's row for the minute of ``at`` (created if absent)."""
        unknown = set(counts) - set(COUNT_COLUMNS)
        if unknown:
            raise StoreError(f"unknown statistics columns: {', '.join(sorted(unknown))}")
        values = {"camera_id": camera_id, "minute": _minute(at)}
        values |= {column: int(counts.get(column, 0)) for column in COUNT_COLUMNS}
        insert = postgres_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(MinuteStats).values(**values)
        table = MinuteStats.__table__
        statement = statement.on_conflict_do_update(
            index_elements=["camera_id", "minute"],
            set_={c: table.c[c] + statement.excluded[c] for c in COUNT_COLUMNS},
        )
        with self.session() as session:
            session.execute(statement)

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
