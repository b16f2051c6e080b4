"""Migrations keep the data, both ways, on both databases: SQLite alters a table by rebuilding
it, and with foreign keys on that used to cascade-delete every event, health record, count
and login session of the rebuilt cameras and users tables. 0008 (issue 14) is also checked
from a database filled by today's (0007) schema: every event gets a key and stays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from affectlens.security.accounts import Accounts
from affectlens.store import Store, migrate
from affectlens.store.db import COUNT_COLUMNS, MIGRATIONS, StoreError, make_engine
from affectlens.store.dead_letters import DeadLetters

TABLES = ("cameras", "events", "camera_health", "minute_stats", "dead_letters", "users",
          "login_sessions")


def counts(url: str, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        found = {t: connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                 for t in tables}
        found["dead letters naming an event"] = connection.execute(sa.text(
            "SELECT count(*) FROM dead_letters WHERE event_id IS NOT NULL")).scalar()
    engine.dispose()
    return found


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def test_downgrade_and_upgrade_keep_every_row(url: str) -> None:
    store = Store(url)
    camera = store.add_camera("hall", "rtsp://h/s", "care_safety")
    at = datetime(2026, 11, 27, 9, tzinfo=UTC)
    event = store.record_event_once("run:1:distress:2", camera.id, "distress", at, 0.8,
                                    alert=True).event  # an outbox row refers to it
    store.record_health(camera.id, True, "receiving frames")
    store.add_counts(camera.id, at, {"faces": 3, "people": 2}, batch=("run", 1))
    store.add_dead_letter("webhook", "https://x", event.id, "{}", 1, "timeout")
    accounts = Accounts(store)
    user = accounts.add_user("nurse", "staff", "a long enough password")
    cookie, _ = accounts.open_session(user)
    store.engine.dispose()
    before = counts(url)
    assert all(before.values()), before
    command.downgrade(alembic_config(url), "0004")  # through every table rebuild since
    assert counts(url) == before
    migrate(url)
    assert counts(url) == before
    again = Store(url)
    # Down and up again, the worker's key is gone (0008's downgrade drops the column).
    assert [(e.id, e.key) for e in again.events()] == [(event.id, f"legacy:{event.id}")]
    assert Accounts(again).session_principal(cookie) is not None  # still logged in


def test_0008_gives_every_event_of_todays_schema_a_key(url: str) -> None:
    """A database filled by 0007's schema (as written here, in SQL: today's models have the
    new column) upgraded: every row stays, events get ``legacy:<id>`` keys, which are unique,
    and the new writes work beside them."""
    migrate(url, "0007")
    at = datetime(2026, 11, 27, 9, tzinfo=UTC)
    engine = make_engine(url)
    with engine.begin() as connection:
        def insert(table: str, **values: object) -> int:
            columns = ", ".join(values)
            connection.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES "
                                       f"({', '.join(':' + c for c in values)})"), values)
            return connection.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar()

        camera = insert("cameras", name="hall", url="rtsp://h/s", purpose="care_safety",
                        analysis_fps=5.0, enabled=True, created_at=at, blur_faces=True)
        ids = [insert("events", camera_id=camera, kind="fall", started_at=at, confidence=0.9,
                      ended_at=at if i < 2 else None) for i in range(3)]
        insert("camera_health", camera_id=camera, at=at, online=True, message="frames")
        connection.execute(sa.text(
            "INSERT INTO minute_stats (camera_id, minute, faces, people, "
            + ", ".join(COUNT_COLUMNS[2:]) + ") VALUES (:camera, :at, 3, 2"
            + ", 0" * len(COUNT_COLUMNS[2:]) + ")"), {"camera": camera, "at": at})
        insert("dead_letters", created_at=at, channel="webhook", target="https://x",
               event_id=ids[1], payload="{}", attempts=4, last_error="HTTP 500")
    engine.dispose()
    before = counts(url, TABLES[:5])
    assert all(before.values()), before
    migrate(url)
    assert counts(url, TABLES[:5]) == before
    store = Store(url)
    assert sorted((e.id, e.key) for e in store.events()) == [(i, f"legacy:{i}") for i in ids]
    still_open = f"legacy:{ids[2]}"
    assert store.end_event_once(still_open, at, alert=True).ended_at == at
    assert not store.record_event_once(f"legacy:{ids[0]}", camera, "fall", at, 0.9).new
    assert store.record_event_once("run:1:fall:1", camera, "fall", at, 0.9, alert=True).new
    assert [a.key for a in store.pending_alerts()] == [f"{still_open}/ended",
                                                       "run:1:fall:1/started"]
    with pytest.raises(StoreError, match="refused"):  # the key is unique
        store.record_event(camera, "fall", at, 0.9, key=f"legacy:{ids[1]}")
    store.engine.dispose()


def test_0009_keeps_dead_letters_of_before_and_retries_them(url: str) -> None:
    """Issue 17: a dead letter kept by 0008's schema (never sent again then) is retried after
    the upgrade, like a new one; downgrading keeps the row."""
    migrate(url, "0008")
    at = datetime(2026, 12, 4, 9, tzinfo=UTC)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO dead_letters (created_at, channel, target, payload, attempts, "
            "last_error) VALUES (:at, 'webhook', 'https://x', '{}', 5, 'HTTP 500')"), {"at": at})
    engine.dispose()
    store = Store(url)
    (letter,) = DeadLetters(store).due(first_wait_s=30)
    assert (letter.status, letter.retries, letter.attempts) == ("retrying", 0, 5)
    store.engine.dispose()
    command.downgrade(alembic_config(url), "0008")
    assert counts(url, ("dead_letters",))["dead_letters"] == 1
    migrate(url)


def test_a_database_a_newer_affectlens_upgraded_is_refused_in_one_line(url: str) -> None:
    """Started against a database that names a revision this code lacks (an older affectlens
    after an upgrade), the store says so plainly and changes nothing (it used to end in
    Alembic's traceback, and `serve` with it)."""
    store = Store(url)
    store.add_camera("hall", "rtsp://h/s", "care_safety")
    store.engine.dispose()
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    before = counts(url, ("cameras",))
    with pytest.raises(StoreError, match=r"upgraded by a newer affectlens.*9999"):
        Store(url)
    assert counts(url, ("cameras",)) == before
