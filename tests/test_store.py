"""The event store on a real SQLite file and a real PostgreSQL server (fixtures `url` and
`store` in conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from affectlens.store import Store, migrate
from affectlens.store.db import StoreError, make_engine, sqlite_url
from affectlens.store.schema import Base

T0 = datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC)


def test_migrations_build_exactly_the_declared_schema(url: str) -> None:
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        tables = set(sa.inspect(connection).get_table_names())
    engine.dispose()
    assert differences == []
    assert {"cameras", "camera_health", "events", "minute_stats", "alembic_version"} <= tables
    migrate(url)  # a second upgrade is a no-op


def test_events_round_trip_filter_and_acknowledge(store: Store) -> None:
    hall = store.add_camera("hall", "rtsp://10.0.0.5/stream", "care_safety")
    lounge = store.add_camera("lounge", "rtsp://10.0.0.6/stream", "care_safety", 2.0)
    for minutes, camera, kind in ((0, hall, "distress"), (5, lounge, "distress"),
                                  (10, hall, "camera_offline")):
        store.record_event(camera.id, kind, T0 + timedelta(minutes=minutes), 0.9)
    assert [e.kind for e in store.events()] == ["camera_offline", "distress", "distress"]
    assert [e.camera_id for e in store.events(camera_id=hall.id)] == [hall.id, hall.id]
    assert len(store.events(kind="distress", since=T0 + timedelta(minutes=1))) == 1
    assert len(store.events(until=T0 + timedelta(minutes=1))) == 1
    first = store.events(camera_id=hall.id, kind="distress")[0]
    assert first.started_at == T0 and first.started_at.tzinfo is not None
    done = store.acknowledge(first.id, "nurse-station", "checked, all well")
    assert done.acknowledged_by == "nurse-station" and done.acknowledged_at is not None
    assert store.events(kind="distress", camera_id=hall.id)[0].comment == "checked, all well"
    assert store.acknowledge(99999, "x") is None


def test_filters_are_parameters_not_sql(store: Store) -> None:
    camera = store.add_camera("hall", "rtsp://h/s", "care_safety")
    store.record_event(camera.id, "distress", T0, 0.5)
    assert store.events(kind="distress' OR '1'='1") == []
    assert len(store.events()) == 1


def test_minute_counts_add_up(store: Store) -> None:
    camera = store.add_camera("hall", "rtsp://h/s", "anonymous_statistics")
    store.add_counts(camera.id, T0, {"faces": 3, "n_happy": 2, "n_age_65_plus": 1})
    store.add_counts(camera.id, T0 + timedelta(seconds=20), {"faces": 1, "n_happy": 1})
    store.add_counts(camera.id, T0 + timedelta(minutes=1), {"faces": 4})
    rows = store.minute_stats(camera.id, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [(r.minute.minute, r.faces, r.n_happy, r.n_age_65_plus) for r in rows] == [
        (0, 4, 3, 1), (1, 4, 0, 0)
    ]
    with pytest.raises(StoreError, match="unknown statistics columns: n_race"):
        store.add_counts(camera.id, T0, {"n_race": 1})


def test_rules_are_enforced_by_the_database(store: Store) -> None:
    with pytest.raises(StoreError, match="refused"):
        store.add_camera("x", "rtsp://x/s", "staff_monitoring")  # not a declared purpose
    store.add_camera("hall", "rtsp://h/s", "care_safety")
    with pytest.raises(StoreError, match="refused"):
        store.add_camera("hall", "rtsp://other/s", "care_safety")  # names are unique
    with pytest.raises(StoreError, match="refused"):
        store.record_event(12345, "distress", T0, 0.5)  # no such camera
    with pytest.raises(StoreError, match="refused"):
        store.record_event(store.cameras()[0].id, "distress", T0, 1.5)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.record_event(store.cameras()[0].id, "distress", datetime(2026, 1, 1), 0.5)


def test_deleting_a_camera_deletes_its_rows(store: Store) -> None:
    camera = store.add_camera("hall", "rtsp://h/s", "care_safety")
    store.record_event(camera.id, "distress", T0, 0.7)
    store.record_health(camera.id, False, "connection refused")
    store.add_counts(camera.id, T0, {"faces": 1})
    assert store.delete_camera(camera.id) and not store.delete_camera(camera.id)
    assert store.events() == [] and store.health(camera.id) == []
    assert store.minute_stats(camera.id, T0 - timedelta(days=1), T0 + timedelta(days=1)) == []


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the database"):
        Store(sqlite_url(tmp_path / "no" / "such" / "folder" / "x.db"))


WRITER = """
import sys
from datetime import UTC, datetime
from affectlens.store import Store
store = Store(sys.argv[1])
camera = store.add_camera("hall", "rtsp://h/s", "care_safety")
for i in range(100000):
    store.record_event(camera.id, "distress", datetime.now(UTC), 0.5)
    print(i, flush=True)
"""


def test_killed_writer_loses_no_committed_event(url: str) -> None:
    """SIGKILL mid-run: every event whose write returned is in the store afterwards."""
    migrate(url)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE,
                              text=True)
    returned = -1
    for line in writer.stdout:
        returned = int(line)
        if returned >= 50:
            writer.kill()
            break
    writer.wait()
    store = Store(url)
    assert len(store.events(limit=1_000_000)) >= returned + 1
    store.engine.dispose()


def test_totals_sum_minutes_per_camera_and_over_all(store: Store) -> None:
    hall = store.add_camera("hall", "rtsp://h/s", "anonymous_statistics")
    door = store.add_camera("door", "rtsp://d/s", "anonymous_statistics")
    store.add_counts(hall.id, T0, {"faces": 10, "people": 2, "n_happy": 4, "n_age_20_34": 10})
    store.add_counts(hall.id, T0 + timedelta(minutes=1), {"faces": 5, "people": 1})
    store.add_counts(door.id, T0, {"faces": 3, "people": 3, "n_sad": 3})
    store.add_counts(door.id, T0 + timedelta(hours=2), {"faces": 100, "people": 9})
    everything = store.totals(T0 - timedelta(hours=1))
    assert everything["faces"] == 118 and everything["people"] == 15
    hour = store.totals(T0, T0 + timedelta(hours=1))
    assert (hour["faces"], hour["people"], hour["n_happy"], hour["n_sad"]) == (18, 6, 4, 3)
    assert hour["n_age_20_34"] == 10 and hour["n_age_65_plus"] == 0
    assert store.totals(T0, camera_id=hall.id)["people"] == 3
    # The minute that contains ``since`` counts; the one that starts at ``until`` does not.
    assert store.totals(T0 + timedelta(seconds=20), T0 + timedelta(seconds=30))["faces"] == 13
    empty = store.totals(T0 + timedelta(days=1))
    assert set(empty.values()) == {0} and "n_uncertain" in empty and "n_race" not in empty


def test_open_events_are_ended_after_a_crash(store: Store) -> None:
    camera = store.add_camera("hall", "rtsp://h/s", "care_safety")
    done = store.record_event(camera.id, "distress", T0, 0.7, ended_at=T0 + timedelta(seconds=5))
    store.record_event(camera.id, "distress", T0 + timedelta(minutes=1), 0.8)
    store.record_event(camera.id, "camera_offline", T0 + timedelta(minutes=9), 1.0)
    assert len(store.open_events()) == 2
    restart = T0 + timedelta(minutes=5)  # before the offline event began: clamped to its start
    assert store.end_open_events(restart) == 2
    assert store.open_events() == []
    ended = {e.kind: e for e in store.events() if e.id != done.id}
    assert ended["distress"].ended_at == restart
    assert ended["camera_offline"].ended_at == ended["camera_offline"].started_at
    assert store.events(kind="distress")[-1].ended_at == T0 + timedelta(seconds=5)
