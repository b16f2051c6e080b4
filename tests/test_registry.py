"""One camera registry (issue 14 part 1): every camera's settings, falls and distress
included, live in its row under a slug that never changes, whoever made the camera.

Before it, the worker looked its falls up in the site config by the camera's display name:
a camera renamed through the API restarted without fall detection, the next start added the
file's camera again (two workers on one stream), and a camera made through the API could
never watch for falls. Each test here failed then."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from authutil import as_role
from fastapi.testclient import TestClient
from test_migrations import alembic_config

from affectlens.security.audit import AuditLog
from affectlens.service import runtime
from affectlens.service.camera_audit import FALLS_CHANGE
from affectlens.service.registry import sync_cameras
from affectlens.service.site import CameraConfig, SiteConfig
from affectlens.store import Store, migrate
from affectlens.store.db import make_engine

ROOM = {"name": "room 12", "url": "rtsp://127.0.0.1/12", "purpose": "care_safety",
        "falls": {"long_lie_s": 45, "zones": [
            {"name": "bed", "kind": "bed", "points": [[0, 200], [300, 200], [300, 360]]}]},
        "distress": {"threshold": 0.7}}


@pytest.fixture
def start(url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """``start(cameras)``: the service as ``affectlens serve`` builds it from a site config
    with these cameras (a start: migrate, sync the file's cameras); its workers are not
    started. Calling it again is a restart on the same database."""
    monkeypatch.setattr(runtime, "setup_logging", lambda *_: None)
    services: list[runtime.Service] = []

    def make(cameras: list[dict]) -> runtime.Service:
        site = SiteConfig.model_validate({"database_url": url, "snapshots_dir": str(tmp_path),
                                          "cameras": cameras})
        services.append(runtime.Service(site))
        return services[-1]

    yield make
    for service in services:
        service.store.engine.dispose()


def admin_of(service: runtime.Service) -> TestClient:
    return as_role(service.store, service.app, "admin")


def test_a_rename_through_the_api_keeps_falls_and_a_restart_adds_no_camera(start) -> None:
    service = start([ROOM])
    (room,) = service.store.cameras()
    assert room.slug == "room-12"
    renamed = admin_of(service).patch(f"/api/cameras/{room.id}", json={"name": "Room 12 east"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["slug"] == "room-12" and renamed.json()["falls"]["long_lie_s"] == 45
    spec = service.spec_for(service.store.camera(room.id))  # what its new worker is given
    assert spec.falls is not None and spec.falls.long_lie_s == 45
    assert [z.name for z in spec.falls.zones] == ["bed"] and spec.distress.threshold == 0.7
    again = start([ROOM])  # `serve` restarted with the same site config
    (camera,) = again.store.cameras()  # no second camera for the same stream
    assert (camera.id, camera.name) == (room.id, "Room 12 east")  # the API's change stays
    assert again.spec_for(camera).falls.long_lie_s == 45


def test_a_camera_made_through_the_api_watches_for_falls(start) -> None:
    service = start([])
    admin = admin_of(service)
    made = admin.post("/api/cameras", json={
        "name": "lounge", "url": "rtsp://127.0.0.1/l", "purpose": "care_safety",
        "falls": {"long_lie_s": 30}, "distress": {"hold_s": 20}})
    assert made.status_code == 201, made.text
    assert made.json()["falls"]["long_lie_s"] == 30 and made.json()["slug"] == "lounge"
    assert made.json()["analysis_fps"] == 10  # the rate a fall camera defaults to, as in files
    spec = service.spec_for(service.store.camera(made.json()["id"]))
    assert spec.falls is not None and spec.falls.long_lie_s == 30
    assert spec.distress.hold_s == 20
    plain = admin.post("/api/cameras", json={"name": "hall", "url": "rtsp://127.0.0.1/h",
                                             "purpose": "care_safety"}).json()
    # The slug is the camera's for good: given once (or made from the name), never changed.
    assert plain["slug"] == "hall"
    taken = admin.post("/api/cameras", json={"name": "Hall 2", "slug": "hall",
                                             "url": "rtsp://127.0.0.1/h2",
                                             "purpose": "care_safety"})
    assert taken.status_code == 409 and "slug 'hall' exists already" in taken.text
    assert admin.patch(f"/api/cameras/{plain['id']}", json={"slug": "x"}).status_code == 422
    assert admin.post("/api/cameras", json={"name": "x", "slug": "Not A Slug", "url":
                                            "rtsp://127.0.0.1/x", "purpose": "care_safety"}
                      ).status_code == 422
    assert plain["falls"] is None and service.spec_for(service.store.camera(plain["id"])
                                                       ).falls is None
    # Turned on later, by an admin only, audited; null turns it off again.
    path = f"/api/cameras/{plain['id']}"
    assert as_role(service.store, service.app, "staff").patch(
        path, json={"falls": {}}).status_code == 403
    on = admin.patch(path, json={"falls": {"long_lie_s": 90}})
    assert on.status_code == 200, on.text
    assert service.spec_for(service.store.camera(plain["id"])).falls.long_lie_s == 90
    assert admin.patch(path, json={"falls": {"long_lie_s": 0}}).status_code == 422
    assert admin.patch(path, json={"name": "hall 2"}).json()["falls"]["long_lie_s"] == 90
    assert admin.patch(path, json={"falls": None}).json()["falls"] is None
    assert service.spec_for(service.store.camera(plain["id"])).falls is None
    changes = [json.loads(r.detail)["changes"]["falls"]
               for r in AuditLog(service.store).records(action=FALLS_CHANGE)]
    assert changes == [[None, {"long_lie_s": 90}], [{"long_lie_s": 90}, None]]


def test_the_last_change_wins_between_the_file_and_the_api(start) -> None:
    """A start sets what the file changed since it last set it; what the API changed since
    stays until the file's own value for it changes."""
    service = start([ROOM])
    (room,) = service.store.cameras()
    admin_of(service).patch(f"/api/cameras/{room.id}", json={
        "url": "rtsp://127.0.0.1/12b", "falls": {"long_lie_s": 120}})
    again = start([ROOM])  # the file unchanged: the API's url and falls stay
    camera = again.store.camera(room.id)
    assert camera.url == "rtsp://127.0.0.1/12b"
    assert again.spec_for(camera).falls.long_lie_s == 120
    edited = {**ROOM, "falls": {"long_lie_s": 50}, "analysis_fps": 8}
    third = start([edited])  # the file changed falls and the rate: those are applied
    camera = third.store.camera(room.id)
    assert third.spec_for(camera).falls.long_lie_s == 50 and camera.analysis_fps == 8
    assert camera.url == "rtsp://127.0.0.1/12b"  # the file still says what it said
    # A slug set in the file keeps the camera through a rename made in the file.
    fourth = start([{**edited, "slug": "room-12", "name": "Zimmer 12"}])
    assert [(c.id, c.name) for c in fourth.store.cameras()] == [(room.id, "Zimmer 12")]


def test_file_settings_are_validated_once_and_defaults_stay_in_the_models(store: Store
                                                                          ) -> None:
    """Only the keys someone set are stored: a default is the settings model's alone."""
    sync_cameras(store, [CameraConfig.model_validate(ROOM)])
    (camera,) = store.cameras()
    assert json.loads(camera.falls).keys() == {"long_lie_s", "zones"}
    assert json.loads(camera.distress) == {"threshold": 0.7}
    sync_cameras(store, [CameraConfig.model_validate({**ROOM, "falls": {}, "distress": {}})])
    camera = store.camera(camera.id)
    assert (camera.falls, camera.distress) == ("{}", None)  # falls on, all defaults


def test_cameras_of_todays_schema_come_into_the_registry(url: str) -> None:
    """A database of 0009's schema (before the registry): its cameras get slugs (two names
    making one slug get -2), keep their ids, drawn zones, events and health; the first start
    after the upgrade writes the file's falls and distress into the rows of the file's
    cameras, found by the slug of their name, before any worker starts."""
    migrate(url, "0009")
    at = datetime(2026, 12, 4, 9, tzinfo=UTC)
    engine = make_engine(url)
    zones = json.dumps([{"name": "chair", "kind": "chair",
                         "points": [[0, 0], [10, 0], [10, 10]]}])
    with engine.begin() as connection:
        for name in ("room 12", "Room-12", "hall"):
            connection.execute(sa.text(
                "INSERT INTO cameras (name, url, purpose, analysis_fps, enabled, created_at, "
                "blur_faces, zones) VALUES (:name, 'rtsp://h/s', 'care_safety', 5, true, :at, "
                "true, :zones)"), {"name": name, "at": at,
                                   "zones": zones if name == "room 12" else None})
        ids = dict(connection.execute(sa.text("SELECT name, id FROM cameras")).all())
        connection.execute(sa.text(
            "INSERT INTO events (key, camera_id, kind, started_at, confidence) VALUES "
            "('legacy:1', :camera, 'fall', :at, 0.9)"), {"camera": ids["room 12"], "at": at})
        connection.execute(sa.text(
            "INSERT INTO camera_health (camera_id, at, online, message) VALUES "
            "(:camera, :at, true, 'frames')"), {"camera": ids["room 12"], "at": at})
    engine.dispose()
    store = Store(url)  # migrates to the head
    slugs = {c.name: (c.id, c.slug) for c in store.cameras()}
    assert slugs == {"room 12": (ids["room 12"], "room-12"),
                     "Room-12": (ids["Room-12"], "room-12-2"), "hall": (ids["hall"], "hall")}
    room = store.camera(ids["room 12"])
    assert room.zones == zones and room.falls is None and room.site_seed is None
    sync_cameras(store, [CameraConfig.model_validate(ROOM)])  # the first start
    assert len(store.cameras()) == 3
    room = store.camera(ids["room 12"])
    assert json.loads(room.falls)["long_lie_s"] == 45 and room.zones == zones
    assert [(e.camera_id, e.key) for e in store.events()] == [(room.id, "legacy:1")]
    assert len(store.health(room.id)) == 1
    store.engine.dispose()
    command.downgrade(alembic_config(url), "0009")  # every row stays
    engine = make_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM cameras")).scalar() == 3
        assert connection.execute(sa.text("SELECT count(*) FROM events")).scalar() == 1
    engine.dispose()
    migrate(url)
    again = Store(url)
    assert {c.slug for c in again.cameras()} == {"room-12", "room-12-2", "hall"}
    again.engine.dispose()


def test_a_file_camera_whose_name_another_camera_took_is_logged_and_the_rest_start(
    start, caplog: pytest.LogCaptureFixture
) -> None:
    """Names stay unique: the API renamed a camera to a name the file then gives a new
    camera. That camera is not added (the error names it); the file's others are."""
    service = start([ROOM])
    (room,) = service.store.cameras()
    admin_of(service).patch(f"/api/cameras/{room.id}", json={"name": "hall"})
    hall = {"name": "hall", "url": "rtsp://127.0.0.1/hall", "purpose": "care_safety"}
    lounge = {"name": "lounge", "url": "rtsp://127.0.0.1/l", "purpose": "care_safety"}
    again = start([ROOM, hall, lounge])
    assert sorted((c.slug, c.name) for c in again.store.cameras()) == [
        ("lounge", "lounge"), ("room-12", "hall")]
    assert "camera hall of the site config not synced" in caplog.text


def test_a_rename_in_the_file_without_a_slug_is_pointed_out(
    start, caplog: pytest.LogCaptureFixture
) -> None:
    """Renamed in the file with no slug, a camera is a new one (its slug is made from the
    new name); the log names the old camera on the same stream and the slug that keeps it."""
    service = start([ROOM])
    (room,) = service.store.cameras()
    start([{**ROOM, "name": "Room 12 east"}])
    assert f"camera {room.id} (slug room-12), which the file does not declare" in caplog.text
    assert "slug: room-12" in caplog.text
    caplog.clear()
    start([{**ROOM, "name": "Room 12 west", "slug": "room-12"}])  # the way to rename
    assert "does not declare" not in caplog.text
