"""Retention with a clock the test moves (issue 6), on both databases: data older than each
camera's policy is gone (events, their snapshots' and clips' files, health, per-minute
statistics),
newer data and open events stay, each run is in the audit log, and deleting a camera
through the API deletes its media."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from authutil import bearer
from fastapi.testclient import TestClient
from waiting import wait_until

from affectlens.privacy.retention import (
    Retention,
    RetentionJob,
    RetentionPolicy,
    apply_retention,
)
from affectlens.security.audit import AuditLog
from affectlens.service.api import create_app
from affectlens.store import Store
from affectlens.store.dead_letters import DeadLetters

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def snapshot(folder: Path, camera_id: int, name: str) -> str:
    path = folder / str(camera_id) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 blurred")
    return f"{camera_id}/{name}"


def test_old_data_goes_new_data_and_open_events_stay(store: Store, tmp_path: Path) -> None:
    hall = store.add_camera("hall", "rtsp://h/hall", "care_safety")
    door = store.add_camera("door", "rtsp://h/door", "anonymous_statistics")
    kept = {}
    for camera in (hall, door):
        for age in (1, 20, 40, 100):
            kept[camera.id, age] = store.record_event(
                camera.id, "fall", days_ago(age), 0.9, ended_at=days_ago(age) + timedelta(
                    minutes=2), snapshot=snapshot(tmp_path, camera.id, f"{age}.jpg"))
            store.set_clip(kept[camera.id, age].id, snapshot(tmp_path, camera.id, f"{age}.webm"))
            store.add_counts(camera.id, days_ago(age), {"faces": 3, "people": 1})
    ongoing = store.record_event(hall.id, "distress", days_ago(200), 0.9)  # never ended
    policy = RetentionPolicy(Retention(events_days=90, snapshots_days=30, stats_days=35),
                             cameras={"door": Retention(events_days=10, snapshots_days=5,
                                                        stats_days=400)})
    run = apply_retention(store, policy, tmp_path, clock=lambda: NOW)
    assert sorted((e.camera_id, e.id) for e in store.events(limit=100)) == sorted(
        [(hall.id, kept[hall.id, a].id) for a in (1, 20, 40)] + [(door.id, kept[door.id, 1].id)]
        + [(hall.id, ongoing.id)])
    media = {e.id: (e.snapshot, e.clip) for e in store.events(limit=100)}
    assert media[kept[hall.id, 1].id] == (f"{hall.id}/1.jpg", f"{hall.id}/1.webm")
    assert media[kept[hall.id, 40].id] == (None, None)  # the event stays, its media went
    assert sorted(p.name for p in (tmp_path / str(hall.id)).iterdir()) == [
        "1.jpg", "1.webm", "20.jpg", "20.webm"]
    assert sorted(p.name for p in (tmp_path / str(door.id)).iterdir()) == ["1.jpg", "1.webm"]
    hall_minutes = store.minute_stats(hall.id, days_ago(1000), NOW)
    door_minutes = store.minute_stats(door.id, days_ago(1000), NOW)
    assert len(hall_minutes) == 2 and len(door_minutes) == 4  # 35 days; door keeps 400
    assert (run.events, run.snapshots, run.clips, run.stats) == (4, 5, 5, 2)
    (record,) = [r for r in AuditLog(store).all_records() if r.action == "retention.run"]
    assert record.actor == "system:retention" and '"events": 4' in record.detail
    again = apply_retention(store, policy, tmp_path, clock=lambda: NOW)  # nothing left to do
    assert (again.events, again.snapshots, again.clips, again.stats) == (0, 0, 0, 0)


def test_a_renamed_camera_keeps_its_retention_exception(store: Store) -> None:
    """Issue 14: exceptions are written by camera name in the site config; a camera renamed
    through the API is still found, by the slug its old name made."""
    room = store.add_camera("room 12", "rtsp://h/12", "care_safety")
    short = Retention(events_days=1, snapshots_days=1, stats_days=1)
    store.record_event(room.id, "fall", days_ago(2), 0.9, ended_at=days_ago(2))
    store.update_camera(room.id, name="Room 12 east")
    policy = RetentionPolicy(cameras={"room 12": short})
    assert policy.of("Room 12 east", "room-12") == short
    assert RetentionPolicy(cameras={"room-12": short}).of("Room 12 east", "room-12") == short
    assert policy.of("hall", "hall") == Retention()
    assert apply_retention(store, policy, clock=lambda: NOW).events == 1


def test_the_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="events_days"):
        Retention(events_days=0)


def _refuse_deletes(store: Store, refuse: bool) -> None:
    """The database itself refuses to delete events (a trigger): a failure for real."""
    postgres = store.engine.dialect.name == "postgresql"
    with store.engine.begin() as connection:
        if refuse and postgres:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
                "'disk full'; END $$ LANGUAGE plpgsql")
            connection.exec_driver_sql("CREATE TRIGGER refuse BEFORE DELETE ON events FOR EACH "
                                       "ROW EXECUTE FUNCTION refuse()")
        elif refuse:
            connection.exec_driver_sql("CREATE TRIGGER refuse BEFORE DELETE ON events BEGIN "
                                       "SELECT RAISE(ABORT, 'disk full'); END")
        elif postgres:
            connection.exec_driver_sql("DROP TRIGGER refuse ON events")
            connection.exec_driver_sql("DROP FUNCTION refuse()")
        else:
            connection.exec_driver_sql("DROP TRIGGER refuse")


def test_the_job_runs_on_its_schedule_and_survives_a_failure(store: Store, tmp_path: Path,
                                                             caplog) -> None:
    hall = store.add_camera("hall", "rtsp://h/hall", "care_safety")
    store.record_event(hall.id, "distress", days_ago(100), 0.9, ended_at=days_ago(99))
    clock = [NOW]
    job = RetentionJob(store, RetentionPolicy(), tmp_path, every_s=0.2, clock=lambda: clock[0])
    _refuse_deletes(store, True)
    job.start()
    try:
        wait_until(lambda: "retention run failed" in caplog.text, 10, "a failed run")
        assert job.runs == [] and len(store.events()) == 1  # nothing went, nothing half-done
        _refuse_deletes(store, False)
        wait_until(lambda: len(job.runs) >= 2, 10, "runs again after the failure")
    finally:
        job.stop()
    assert job.runs[0].events == 1 and job.runs[1].events == 0
    assert store.events() == []


def test_deleting_a_camera_deletes_its_media(store: Store, tmp_path: Path) -> None:
    client = TestClient(create_app(store, snapshots_dir=tmp_path), headers=bearer(store, "admin"))
    hall = client.post("/api/cameras", json={"name": "hall", "url": "rtsp://h/x",
                                             "purpose": "care_safety"}).json()
    door = client.post("/api/cameras", json={"name": "door", "url": "rtsp://h/y",
                                             "purpose": "care_safety"}).json()
    snapshot(tmp_path, hall["id"], "2026-11-27/a.jpg")
    snapshot(tmp_path, hall["id"], "2026-11-27/a.webm")  # a fall's clip
    snapshot(tmp_path, door["id"], "b.jpg")
    assert client.delete(f"/api/cameras/{hall['id']}").status_code == 204
    assert not (tmp_path / str(hall["id"])).exists()
    assert (tmp_path / str(door["id"]) / "b.jpg").is_file()  # other cameras' stay
    (record,) = [r for r in AuditLog(store).all_records() if r.action == "camera.delete"]
    assert '"media_files": 2' in record.detail


def test_finished_alerts_go_with_the_default_event_retention(store: Store) -> None:
    """Dead letters delivered or given up, and sent outbox rows, are kept as long as events
    are (the site default), then deleted; a letter still being retried and an alert not yet
    sent stay however old (they used to be kept for ever)."""
    hall = store.add_camera("hall", "rtsp://h/hall", "care_safety")
    recorded = store.record_event_once("run:1:fall:1", hall.id, "fall", days_ago(1), 0.9,
                                       alert=True)
    (sent,) = store.outbox()
    store.finish_alert(sent.id)
    queued = store.record_event_once("run:1:fall:2", hall.id, "fall", days_ago(1), 0.9,
                                     alert=True)
    letters = DeadLetters(store)
    done, failed, retrying = (store.add_dead_letter("webhook", "https://x", recorded.event.id,
                                                    "{}", 5, "timeout") for _ in range(3))
    letters.delivered(done)
    letters.give_up(failed, "too long")
    keep = RetentionPolicy(Retention(events_days=90))
    finished = datetime.now(UTC)  # the store stamps done_at with the real clock
    soon = apply_retention(store, keep, clock=lambda: finished + timedelta(days=80))
    assert soon.alerts == 0
    run = apply_retention(store, keep, clock=lambda: finished + timedelta(days=91))
    assert run.alerts == 3  # two letters and one sent alert
    assert [letter.id for letter in store.dead_letters()] == [retrying.id]
    assert [row.event_id for row in store.outbox()] == [queued.event.id]
