"""Migrations keep the data, both ways, on both databases: SQLite alters a table by rebuilding
it, and with foreign keys on that used to cascade-delete every event, health record, count
and login session of the rebuilt cameras and users tables."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from affectlens.security.accounts import Accounts
from affectlens.store import Store, migrate
from affectlens.store.db import MIGRATIONS, make_engine

TABLES = ("cameras", "events", "camera_health", "minute_stats", "dead_letters", "users",
          "login_sessions")


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        found = {t: connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                 for t in TABLES}
        found["dead letters naming an event"] = connection.execute(sa.text(
            "SELECT count(*) FROM dead_letters WHERE event_id IS NOT NULL")).scalar()
    engine.dispose()
    return found


def test_downgrade_and_upgrade_keep_every_row(url: str) -> None:
    store = Store(url)
    camera = store.add_camera("hall", "rtsp://h/s", "care_safety")
    at = datetime(2026, 11, 27, 9, tzinfo=UTC)
    event = store.record_event(camera.id, "distress", at, 0.8)
    store.record_health(camera.id, True, "receiving frames")
    store.add_counts(camera.id, at, {"faces": 3, "people": 2})
    store.add_dead_letter("webhook", "https://x", event.id, "{}", 1, "timeout")
    accounts = Accounts(store)
    user = accounts.add_user("nurse", "staff", "a long enough password")
    cookie, _ = accounts.open_session(user)
    store.engine.dispose()
    before = counts(url)
    assert all(before.values()), before
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.downgrade(config, "0004")  # through every table rebuild since
    assert counts(url) == before
    migrate(url)
    assert counts(url) == before
    again = Store(url)
    assert [e.id for e in again.events()] == [event.id]
    assert Accounts(again).session_principal(cookie) is not None  # still logged in
