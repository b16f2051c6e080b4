"""The HTTP API on both databases: cameras, events, acknowledgement, fall clips, and malformed
requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from authutil import as_admin, as_role
from fastapi.testclient import TestClient

from affectlens.security.audit import AuditLog
from affectlens.service.api import create_app
from affectlens.service.clips import ClipFrame, encode_clip
from affectlens.service.messages import EventClip, EventEnded, EventStarted
from affectlens.service.recorder import Recorder
from affectlens.store import Store

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
HALL = {"name": "hall", "url": "rtsp://127.0.0.1:8554/hall", "purpose": "care_safety"}


@pytest.fixture
def client(store: Store) -> TestClient:
    return as_admin(store, create_app(store))


def test_camera_lifecycle(client: TestClient) -> None:
    created = client.post("/api/cameras", json=HALL)
    assert created.status_code == 201, created.text
    camera = created.json()
    assert camera["analysis_fps"] == 5.0 and camera["enabled"] is True
    assert client.get(f"/api/cameras/{camera['id']}").json() == camera
    changed = client.patch(f"/api/cameras/{camera['id']}", json={"enabled": False,
                                                                  "analysis_fps": 2})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert changed.json()["analysis_fps"] == 2 and changed.json()["name"] == "hall"
    assert [c["name"] for c in client.get("/api/cameras").json()] == ["hall"]
    assert client.get("/api/health").json()["cameras"] == 1  # logged in: details
    assert TestClient(client.app).get("/api/health").json() == {"status": "ok"}
    assert client.delete(f"/api/cameras/{camera['id']}").status_code == 204
    assert client.get(f"/api/cameras/{camera['id']}").status_code == 404
    assert client.delete(f"/api/cameras/{camera['id']}").status_code == 404


def test_events_filter_and_acknowledge(client: TestClient, store: Store) -> None:
    hall = client.post("/api/cameras", json=HALL).json()
    lounge = client.post("/api/cameras", json={**HALL, "name": "lounge"}).json()
    store.record_event(hall["id"], "distress", T0, 0.8)
    store.record_event(lounge["id"], "camera_offline", T0 + timedelta(minutes=3), 1.0)
    everything = client.get("/api/events").json()
    assert [e["kind"] for e in everything] == ["camera_offline", "distress"]
    assert len(client.get("/api/events", params={"camera_id": hall["id"]}).json()) == 1
    since = {"since": (T0 + timedelta(minutes=1)).isoformat()}
    assert [e["kind"] for e in client.get("/api/events", params=since).json()] == [
        "camera_offline"
    ]
    event_id = everything[1]["id"]
    done = client.post(f"/api/events/{event_id}/acknowledge",
                       json={"by": "nurse", "comment": "resident comforted"})
    assert done.status_code == 200  # under the account's name, with the name typed beside it
    assert done.json()["acknowledged_by"] == "nurse (token:1:test-admin)"
    assert client.get("/api/events", params={"kind": "distress"}).json()[0]["comment"] == (
        "resident comforted"
    )
    assert client.post("/api/events/999999/acknowledge", json={"by": "x"}).status_code == 404


def test_a_fall_clip_is_stored_then_served_in_ranges_and_audited(store: Store,
                                                                  tmp_path: Path) -> None:
    """The recorder writes a clip arriving after its event ended; the API answers 404 until
    then, then serves it (whole, or the range a <video> asks for) and audits each view."""
    folder = tmp_path / "snapshots"
    camera = store.add_camera("room 12", "rtsp://h/12", "care_safety")
    recorder = Recorder(store, snapshots=folder)
    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))[1].tobytes()
    recorder.handle(EventStarted(camera.id, "run:fall:1", "fall", T0, 0.9, 1, T0, jpeg,
                                 clip=True))
    recorder.handle(EventEnded(camera.id, "run:fall:1", T0 + timedelta(seconds=8)))
    client = as_admin(store, create_app(store, snapshots_dir=folder))
    (event,) = client.get("/api/events").json()
    url = f"/api/events/{event['id']}/clip.webm"
    assert event["clip"] is False and client.get(url).status_code == 404
    video = encode_clip([ClipFrame(i / 10, jpeg) for i in range(10)])
    recorder.handle(EventClip(camera.id, "run:fall:1", video, 10, 0.9))
    recorder.handle(EventClip(camera.id, "run:fall:2", video, 10, 0.9))  # no such event
    (event,) = client.get("/api/events").json()
    assert event["clip"] is True
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == video
    assert whole.headers["content-type"] == "video/webm"
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == video[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(video)}"
    assert sorted(p.suffix for p in folder.rglob("*") if p.is_file()) == [".jpg", ".webm"]
    views = [r for r in AuditLog(store).all_records() if r.action == "media.event_clip"]
    assert [r.target for r in views] == [f"event:{event['id']}"] * 2
    assert client.get("/api/events/999999/clip.webm").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**HALL, "url": "ftp://cam/stream"}, "url"),
        ({**HALL, "url": "rtsp:///no-host"}, "url"),
        ({**HALL, "url": "not a url"}, "url"),
        ({**HALL, "purpose": "staff_monitoring"}, "purpose"),  # not a declared purpose
        ({**HALL, "analysis_fps": 0}, "analysis_fps"),
        ({**HALL, "name": ""}, "name"),
        ({**HALL, "name": "<script>"}, "name"),
        ({**HALL, "race_detection": True}, "race_detection"),  # unknown fields are refused
        ({"name": "hall"}, "url"),
    ],
)
def test_malformed_cameras_are_422_naming_the_field(client: TestClient, body: dict,
                                                    field: str) -> None:
    response = client.post("/api/cameras", json=body)
    assert response.status_code == 422
    assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}


def test_other_bad_requests_are_4xx_and_the_service_lives_on(client: TestClient) -> None:
    assert client.post("/api/cameras", json=HALL).status_code == 201
    duplicate = client.post("/api/cameras", json=HALL)
    assert duplicate.status_code == 409  # the cause in plain words, not the driver's text
    assert duplicate.json()["detail"] == f"camera not created: a camera named {HALL['name']!r} " \
        "exists already"
    other = client.post("/api/cameras", json={**HALL, "name": "other"}).json()
    renamed = client.patch(f"/api/cameras/{other['id']}", json={"name": HALL["name"]})
    assert renamed.status_code == 409 and "exists already" in renamed.json()["detail"]
    assert "UNIQUE" not in renamed.text and "constraint" not in renamed.text.lower()
    assert client.post("/api/cameras", content=b"{not json",
                       headers={"content-type": "application/json"}).status_code == 422
    assert client.get("/api/cameras/abc").status_code == 422
    assert client.patch("/api/cameras/1", json={"purpose": "watchlist"}).status_code == 422
    assert client.patch("/api/cameras/424242", json={"enabled": True}).status_code == 404
    assert client.get("/api/events", params={"since": "2026-11-27T10:00:00"}).status_code == 422
    assert client.get("/api/events", params={"limit": 0}).status_code == 422
    assert client.get("/api/events", params={"kind": "x' OR 1=1 --"}).json() == []
    assert client.post("/api/events/1/acknowledge", json={"by": ""}).status_code == 422
    assert client.get("/api/health").status_code == 200


def test_openapi_has_no_field_for_identity_or_sensitive_attributes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    text = str(schema).lower()
    assert "/api/cameras" in schema["paths"] and "/api/events" in schema["paths"]
    for word in ("race", "ethnic", "identity", "embedding", "danger", "gender"):
        assert word not in text, word


@pytest.mark.parametrize("value", ["0.5", "0", "1732700000", "-1e300", "2026-11-27T10:00:00",
                                   "2026-11-27", "yesterday"])
def test_times_are_iso_8601_with_a_zone_or_a_422_naming_the_field(
    client: TestClient, store: Store, value: str
) -> None:
    """Issue 17 item 6: `?until=0.5` was read as Unix seconds (1970) and answered."""
    for path, role, name in (("/api/events", "admin", "until"), ("/api/events", "admin", "since"),
                             ("/api/audit", "auditor", "since")):
        answer = as_role(store, client.app, role).get(path, params={name: value})
        assert answer.status_code == 422, (path, name, value)
        (error,) = answer.json()["detail"]
        assert error["loc"] == ["query", name] and "time zone" in error["msg"]
    good = client.get("/api/events", params={"until": "2026-11-27T10:00:00+01:00"})
    assert good.status_code == 200
