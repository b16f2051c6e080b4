"""Tables. No column holds an identity, a face crop, an embedding or a sensitive attribute:
events point at blurred snapshots, statistics are counts per minute."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from affectlens.types import AGE_BANDS, EXPRESSIONS, UNCERTAIN
from affectlens.vocabulary import Purpose, values

SLUG_MAX = 64
PURPOSES = values(Purpose)  # plain strings: the CHECK constraint spells them
EXPRESSION_COUNT_COLUMNS = tuple(f"n_{name}" for name in (*EXPRESSIONS, UNCERTAIN))
AGE_BAND_COLUMNS = tuple(
    "n_age_" + name.replace("-", "_").replace("+", "_plus") for name, _, _ in AGE_BANDS
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) and
    PostgreSQL alike. A naive datetime is refused: its zone would be a guess."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}  # noqa: RUF012 (SQLAlchemy's class hook)


# A camera's analysed frames per second where nobody set it, and on a camera that watches
# for falls (URFD, cross-validated by recording: 15 of 16 falls at 10 fps, 14 at 5;
# benchmarks/falls.py). Spelled here, in the camera registry, once: the settings models (the
# site config's and the API's) take their defaults from these, as does every worker.
DEFAULT_FPS = 5.0
FALLS_DEFAULT_FPS = 10.0


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = (
        CheckConstraint(f"purpose IN {PURPOSES!r}", name="purpose_known"),
        CheckConstraint("analysis_fps > 0", name="analysis_fps_positive"),
        UniqueConstraint("slug", name="uq_cameras_slug"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The camera's key, never changed once made: the site config finds its cameras by it,
    # so a new display name (``name``) loses nothing (issue 14).
    slug: Mapped[str] = mapped_column(String(SLUG_MAX))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    purpose: Mapped[str] = mapped_column(String(32))
    analysis_fps: Mapped[float] = mapped_column(Float, default=DEFAULT_FPS)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()
    # Faces blurred in every picture that leaves a worker; only an admin turns it off, and
    # then every served frame carries a "FACES NOT BLURRED" banner (issue 6).
    blur_faces: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Fall zones drawn in the dashboard: a JSON list of falls.Zone; None: none drawn, the
    # site config's zones apply (issue 5).
    zones: Mapped[str | None] = mapped_column(Text)
    # Fall and distress settings, as JSON of the keys someone set (the service's pydantic
    # models validate them and hold the defaults). falls None: falls off; distress None: the
    # defaults. Set by the site config or the API (issue 14).
    falls: Mapped[str | None] = mapped_column(Text)
    distress: Mapped[str | None] = mapped_column(Text)
    # What the site config last set on this camera (JSON); None: never declared there. A
    # start applies only what the file changed since, so a change made through the API is
    # not undone by a file that still says what it said before.
    site_seed: Mapped[str | None] = mapped_column(Text)


class CameraHealth(Base):
    """Each change of a camera's state (online, offline, and why)."""

    __tablename__ = "camera_health"
    __table_args__ = (Index("ix_camera_health_camera_at", "camera_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column()
    online: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(String(500), default="")


class Event(Base):
    """Something staff may need to see: sustained distress, a camera going offline, a fall.

    ``key`` is the name the camera worker gave the event (its run id, a number, what and who:
    unique everywhere); a message stored again under the same key is not a second event
    (issue 14). Events stored before keys existed are ``legacy:<id>``."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_camera_started", "camera_id", "started_at"),
        Index("ix_events_kind_started", "kind", "started_at"),
        Index("ix_events_started", "started_at", "id"),  # the feed, newest first (0011)
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_is_probability"),
        UniqueConstraint("key", name="uq_events_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    confidence: Mapped[float] = mapped_column(Float)
    track_id: Mapped[int | None] = mapped_column(Integer)
    snapshot: Mapped[str | None] = mapped_column(String(500))  # a blurred JPEG's relative path
    clip: Mapped[str | None] = mapped_column(String(500))  # blurred video around a fall, ditto
    # Where a fall's person lay, frame pixels (0012): a restarted worker holds them there.
    x: Mapped[float | None] = mapped_column(Float)
    y: Mapped[float | None] = mapped_column(Float)
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)


DEAD_LETTER_STATUSES = ("retrying", "delivered", "failed")


class DeadLetter(Base):
    """An alert one target (a webhook, the MQTT broker) did not take after its last attempt.

    The alert dispatcher retries it with growing waits (``status`` ``retrying``, next at
    ``next_attempt_at``; empty: its first retry waits from ``created_at``) until it is
    ``delivered`` or, after the site's ``alerts.retry_for_s``, ``failed``; an admin may
    replay it by hand (``replayed_at``), which starts the retries over. Never deleted by the
    dispatcher: staff see what was and was not delivered (issue 17)."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column()
    channel: Mapped[str] = mapped_column(String(16))  # webhook, mqtt
    target: Mapped[str] = mapped_column(String(2000))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="retrying",
                                        server_default="retrying")
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_at: Mapped[datetime | None] = mapped_column()
    replayed_at: Mapped[datetime | None] = mapped_column()


class AlertOutbox(Base):
    """Alerts to send, written in the transaction that stores (or ends) their event, and sent
    by the alert dispatcher (service/alerts.py), which then sets ``done_at``.

    ``key`` (``<event key>/started`` or ``<event key>/ended``) is unique, so an event stored
    or ended again queues nothing, and every sender hands it to receivers as an idempotency
    key. ``payload`` is the event as it was then (a start alert sent late still says the event
    had not ended). ``outcome``: ``sent`` (handed to every sender; what one could not deliver
    is a dead letter) or ``expired`` (still unsent when too old to be worth sending)."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_alert_outbox_key"),
        Index("ix_alert_outbox_done", "done_at"),
        Index("ix_alert_outbox_event", "event_id"),  # retention deletes events in bulk
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(220))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column()
    payload: Mapped[str] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(16))


class CountBatch(Base):
    """The minute counts already added, by (worker run, sequence number): a batch handed in
    again adds nothing. Kept a day (``Store.add_counts``): replays come within seconds."""

    __tablename__ = "count_batches"
    __table_args__ = (
        PrimaryKeyConstraint("run", "seq"),
        Index("ix_count_batches_stored", "stored_at"),
    )

    run: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    stored_at: Mapped[datetime] = mapped_column()


class MinuteStats(Base):
    """Counts per camera and minute: the time series and the /screen page.

    ``faces`` counts face observations (one per face per analysed frame); ``people`` counts
    distinct tracks seen in that minute, so a person standing still for a minute is one person.
    """

    __tablename__ = "minute_stats"

    camera_id: Mapped[int] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    faces: Mapped[int] = mapped_column(Integer, default=0)
    people: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


for _column in (*EXPRESSION_COUNT_COLUMNS, *AGE_BAND_COLUMNS):
    setattr(MinuteStats, _column, mapped_column(_column, Integer, default=0, nullable=False))
