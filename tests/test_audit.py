"""The audit log on both databases: what is recorded (logins and failures, changes, media
views, acknowledgements, exports), that the database refuses edits, that `affectlens audit
verify` names a record changed or deleted behind its back, and that only the auditor reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from authutil import PASSWORD, add_user, bearer, logged_in
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from affectlens.cli import app as cli
from affectlens.security.audit import AuditLog
from affectlens.service.api import create_app
from affectlens.service.hub import Hub
from affectlens.store import Store
from affectlens.store.db import sqlite_url

AFFECTLENS = str(Path(sys.executable).with_name("affectlens"))
HALL = {"name": "hall", "url": "rtsp://cam:s3cret@127.0.0.1:8554/hall", "purpose": "care_safety"}


def actions(store: Store) -> list[tuple[str, str, str]]:
    return [(r.actor, r.action, r.target) for r in AuditLog(store).all_records()]


def drop_guards(store: Store) -> None:
    """What an attacker with the database's owner rights would do first."""
    with store.engine.begin() as connection:
        if store.engine.dialect.name == "postgresql":
            connection.execute(sa.text("DROP TRIGGER audit_log_append_only ON audit_log"))
        else:
            connection.execute(sa.text("DROP TRIGGER audit_log_no_update"))
            connection.execute(sa.text("DROP TRIGGER audit_log_no_delete"))


def test_the_service_records_who_did_what(store: Store) -> None:
    hub = Hub()
    add_user(store, "admin", "ada")
    app = create_app(store, hub)
    client = TestClient(app)
    assert client.post("/api/auth/login", json={"username": "ada",
                                                "password": "wrong guess!!"}).status_code == 401
    logged_in(client, "ada")
    camera = client.post("/api/cameras", json=HALL).json()
    client.patch(f"/api/cameras/{camera['id']}", json={"purpose": "consented_research"})
    client.patch(f"/api/cameras/{camera['id']}", json={"analysis_fps": 2})
    hub.set_preview(camera["id"], b"\xff\xd8 a blurred jpeg")
    for _ in range(3):  # the dashboard refreshes: one record covers the repeats
        assert client.get(f"/api/cameras/{camera['id']}/snapshot.jpg").status_code == 200
    assert client.get(f"/api/cameras/{camera['id']}/preview.mjpeg",
                      params={"frames": 1}).status_code == 200
    event = store.record_event(camera["id"], "distress", datetime.now(UTC), 0.9)
    client.post(f"/api/events/{event.id}/acknowledge", json={"comment": "fine"})
    client.post("/api/users", json={"username": "nurse", "role": "staff", "password": PASSWORD})
    client.delete(f"/api/cameras/{camera['id']}")
    cam = f"camera:{camera['id']}"
    assert actions(store) == [
        ("anonymous@testclient", "login.failed", "user:ada"),
        ("ada", "login.ok", "user:ada"),
        ("ada", "camera.add", cam),
        ("ada", "camera.purpose_change", cam),
        ("ada", "camera.change", cam),
        ("ada", "media.snapshot", cam),
        ("ada", "media.mjpeg", cam),
        ("ada", "event.acknowledge", f"event:{event.id}"),
        ("ada", "user.add", "user:nurse"),
        ("ada", "camera.delete", cam),
    ]
    text = " ".join(r.detail for r in AuditLog(store).all_records())
    assert "s3cret" not in text and "cam:***@" in text  # stream passwords never logged
    assert '"purpose": ["care_safety", "consented_research"]' in text
    assert PASSWORD not in text
    assert AuditLog(store).verify().ok


def test_the_database_refuses_to_change_or_delete_a_record(store: Store) -> None:
    AuditLog(store).append("ada", "login.ok", "user:ada")
    for statement in ("UPDATE audit_log SET actor = 'eve'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), \
                store.engine.begin() as connection:
            connection.execute(sa.text(statement))
    assert actions(store) == [("ada", "login.ok", "user:ada")]


def test_verify_names_a_changed_or_deleted_record(store: Store) -> None:
    log = AuditLog(store)
    for i in range(6):
        log.append("ada", "camera.change", f"camera:{i}")
    clean = log.verify()
    assert clean.ok and clean.records == 6
    drop_guards(store)
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_log SET actor = 'eve' WHERE id = 3"))
    assert log.verify().problems == [
        "record 3 was changed: its contents do not match its hash"]
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_log SET actor = 'ada' WHERE id = 3"))
        connection.execute(sa.text("DELETE FROM audit_log WHERE id = 5"))
    assert log.verify().problems == ["record 5 deleted: record 6 follows record 4"]
    with store.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM audit_log WHERE id = 6"))
    cut = log.verify(expected_head=clean.head)  # the tail is cut: only the head shows it
    assert not cut.ok and "records after 4 were deleted" in cut.problems[0]


def test_a_forger_who_rehashes_a_record_is_named_by_the_next(store: Store) -> None:
    from affectlens.security.audit import record_hash

    log = AuditLog(store)
    for i in range(4):
        log.append("ada", "camera.change", f"camera:{i}")
    drop_guards(store)
    (second,) = log.records(after_id=1, limit=1)
    forged = record_hash(second.prev_hash, 2, second.at, "eve", second.action, second.target,
                         second.detail)
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_log SET actor = 'eve', hash = :h WHERE id = 2"),
                           {"h": forged})
    assert log.verify().problems == [
        "record 2 was changed after record 3 was written (record 3 holds a different hash "
        "for it)"]


def test_affectlens_audit_verify_names_the_record_and_fails(store: Store, tmp_path: Path) -> None:
    """The real command line, as a process, on the test's database."""
    runner = CliRunner()
    made = runner.invoke(cli, ["user", "add", "ada", "--role", "admin", "--password-stdin",
                               "--database", store.url], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    AuditLog(store).append("ada", "media.snapshot", "camera:1")
    ok = subprocess.run([AFFECTLENS, "audit", "verify", "--database", store.url],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "audit log intact" in ok.stdout
    drop_guards(store)
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_log SET target = 'camera:2' WHERE id = 2"))
    bad = subprocess.run([AFFECTLENS, "audit", "verify", "--database", store.url],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "TAMPERED: record 2 was changed" in bad.stdout
    exported = runner.invoke(cli, ["audit", "export", "--database", store.url,
                                   "-o", str(tmp_path / "audit.jsonl")])
    assert exported.exit_code == 0
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [x["action"] for x in lines] == ["user.add", "media.snapshot", "audit.export"]


def test_only_the_auditor_reads_and_exports_the_log(store: Store) -> None:
    app = create_app(store)
    AuditLog(store).append("ada", "camera.add", "camera:1", name="hall")
    for role in ("admin", "staff", "screen"):
        client = TestClient(app, headers=bearer(store, role))
        for path in ("/api/audit", "/api/audit/export", "/api/audit/verify"):
            assert client.get(path).status_code == 403
    auditor = TestClient(app, headers=bearer(store, "auditor"))
    (record,) = auditor.get("/api/audit").json()
    assert record["action"] == "camera.add" and len(record["hash"]) == 64
    assert auditor.get("/api/audit", params={"since": "2026-01-01T00:00:00"}).status_code == 422
    exported = auditor.get("/api/audit/export")
    assert exported.status_code == 200 and "attachment" in exported.headers[
        "content-disposition"]
    assert [json.loads(x)["action"] for x in exported.text.splitlines()] == [
        "camera.add", "audit.export"]
    verdict = auditor.get("/api/audit/verify").json()
    assert verdict["ok"] and verdict["records"] == 2
    assert auditor.get("/api/audit/verify",
                       params={"expected_head": "f" * 64}).json()["ok"] is False


def test_a_view_the_log_could_not_record_is_recorded_at_the_next_view(tmp_path: Path) -> None:
    """A failed write must not count as "already recorded" for the next ten minutes."""
    sqlite_store = Store(sqlite_url(tmp_path / "audit.db"))
    log = AuditLog(sqlite_store)
    with sqlite_store.engine.begin() as connection:  # the database refuses, for real
        connection.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON audit_log "
                                   "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(Exception, match="disk full"):
        log.media_viewed("ada", "snapshot", 1)
    with sqlite_store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER refuse")
    log.media_viewed("ada", "snapshot", 1)
    log.media_viewed("ada", "snapshot", 1)  # within ten minutes: covered by the record
    assert [r.action for r in log.all_records()] == ["media.snapshot"]
