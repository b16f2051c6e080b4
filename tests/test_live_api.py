"""The live routes on both databases: camera state, blurred snapshots and MJPEG from a real
Hub, connection tests on real files and refused ports, per-minute statistics, the entrance
screen's k-anonymity, and the websocket through Starlette's test client."""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from authutil import as_admin
from fastapi.testclient import TestClient
from liveserver import blurred_jpeg, faces_in_jpeg
from netutil import free_port
from waiting import now_clear_of_the_hour

from affectlens.samples import write_sample_video
from affectlens.security.audit import AuditLog
from affectlens.security.guard import SecuritySettings
from affectlens.service.api import create_app
from affectlens.service.hub import CameraLive, Hub
from affectlens.service.messages import StateChanged, WorkerReady
from affectlens.service.recorder import Recorder
from affectlens.service.routers.live import TEST_FAILED
from affectlens.store import Store

HALL = {"name": "hall", "url": "rtsp://127.0.0.1:8554/hall", "purpose": "care_safety"}


def live(camera_id: int, online: bool, message: str = "") -> CameraLive:
    return CameraLive(camera_id, online, message, 4.8, 1, datetime.now(UTC))


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def client(store: Store, hub: Hub) -> TestClient:
    return as_admin(store, create_app(store, hub, screen_min_people=5))


@pytest.fixture
def hall(client: TestClient) -> int:
    return client.post("/api/cameras", json=HALL).json()["id"]


def test_live_state_follows_the_hub(client: TestClient, hub: Hub, hall: int) -> None:
    (unknown,) = client.get("/api/live").json()
    assert unknown["online"] is None and unknown["name"] == "hall" and unknown["at"] is None
    hub.set_state(live(hall, False, "connection refused"))
    state = client.get(f"/api/cameras/{hall}/live").json()
    assert state["online"] is False and state["message"] == "connection refused"
    hub.set_state(live(hall, True))
    assert client.get("/api/live").json()[0]["online"] is True
    assert client.get("/api/live").json()[0]["node"] is None  # no worker has said where
    assert client.get("/api/cameras/999/live").status_code == 404


def test_live_state_names_the_node_a_worker_runs_on(client: TestClient, store: Store,
                                                    hub: Hub, hall: int) -> None:
    """Issue 15: a worker's hello says where it runs (on a cluster, the node's address and
    id); the dashboard and /api/live show it, also once the camera reports online."""
    recorder = Recorder(store, hub)
    recorder.handle(WorkerReady(hall, 4321, ("face_detector",), node="10.0.0.7 5f2c9a1b0d3e"))
    recorder.handle(StateChanged(hall, True, "", datetime.now(UTC)))
    (state,) = client.get("/api/live").json()
    assert state["online"] is True and state["node"] == "10.0.0.7 5f2c9a1b0d3e"
    assert client.get(f"/api/cameras/{hall}/live").json()["node"] == state["node"]


def test_snapshot_and_mjpeg_serve_the_blurred_preview(client: TestClient, hub: Hub, hall: int,
                                                      portrait, models) -> None:
    missing = client.get(f"/api/cameras/{hall}/snapshot.jpg")
    assert missing.status_code == 503 and "no preview" in missing.json()["detail"]
    assert missing.headers["retry-after"] == "2"
    assert client.get("/api/cameras/999/snapshot.jpg").status_code == 404
    assert faces_in_jpeg(_jpeg(portrait), models.detector) >= 1  # the detector sees the face
    jpeg = blurred_jpeg(portrait, models.detector)
    hub.set_preview(hall, jpeg)
    snapshot = client.get(f"/api/cameras/{hall}/snapshot.jpg")
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
    assert snapshot.content == jpeg and faces_in_jpeg(snapshot.content, models.detector) == 0
    stream = client.get(f"/api/cameras/{hall}/preview.mjpeg", params={"frames": 1, "fps": 10})
    assert stream.headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
    head, body = stream.content.split(b"\r\n\r\n", 1)
    assert head.startswith(b"--frame\r\nContent-Type: image/jpeg")
    assert f"Content-Length: {len(jpeg)}".encode() in head and body == jpeg + b"\r\n"
    assert client.get(f"/api/cameras/{hall}/preview.mjpeg",
                      params={"fps": 100}).status_code == 422
    client.delete(f"/api/cameras/{hall}")
    assert hub.preview(hall) is None  # a deleted camera's preview is forgotten


def _jpeg(image) -> bytes:
    import cv2

    return cv2.imencode(".jpg", image)[1].tobytes()


def test_connection_test_reports_frames_or_one_uniform_failure(
    client: TestClient, store: Store, tmp_path: Path, hall: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 17 item 6: distinct failures ("no such file", "connection refused", a timeout)
    made an admin's connection test a port scanner of the internal network. Every failure
    now reads the same and lasts the whole timeout; the reason is in the log only."""
    clip = write_sample_video(tmp_path / "clip.mp4", seconds=1.0)
    good = client.post("/api/cameras/test", json={"url": f"file://{clip}"}).json()
    assert good["ok"] is True and good["width"] > 0 and good["height"] > 0
    caplog.set_level(logging.INFO, logger="affectlens.service.routers.live")
    gone = client.post("/api/cameras/test", json={"url": f"file://{tmp_path}/none.mp4",
                                                  "timeout_s": 1.5}).json()
    refused = client.post(f"/api/cameras/{hall}/test", params={"timeout_s": 3})
    assert refused.status_code == 200
    with socket.socket() as silent:  # accepts the connection and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mute = client.post("/api/cameras/test", json={
            "url": f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x", "timeout_s": 2}).json()
    closed = client.post("/api/cameras/test", json={"url": f"rtsp://127.0.0.1:{free_port()}/x",
                                                    "timeout_s": 2}).json()
    failures = [gone, refused.json(), mute, closed]
    assert all(f["ok"] is False and f["message"] == TEST_FAILED for f in failures), failures
    assert [f["width"] for f in failures] == [None] * 4
    assert 1.5 <= gone["seconds"] < 3.5 and 3 <= refused.json()["seconds"] < 5
    assert 2 <= closed["seconds"] < 4 and 2 <= mute["seconds"] < 4.5
    assert "no such file" in caplog.text  # the reason, for whoever reads the service log
    tests = [r for r in AuditLog(store).all_records() if r.action == "camera.test"]
    assert [json.loads(r.detail)["ok"] for r in tests] == [True, False, False, False, False]
    bad = client.post("/api/cameras/test", json={"url": "ftp://x/y"})
    assert bad.status_code == 422 and "scheme" in bad.text
    assert client.post("/api/cameras/test", json={"url": f"file://{clip}",
                                                  "timeout_s": 0}).status_code == 422
    assert client.post("/api/cameras/999/test").status_code == 404


def test_stats_are_a_regular_per_minute_series(client: TestClient, store: Store,
                                               hall: int) -> None:
    now = datetime.now(UTC)
    store.add_counts(hall, now, {"faces": 12, "people": 2, "n_happy": 9, "n_sad": 3,
                                 "n_age_20_34": 12})
    store.add_counts(hall, now - timedelta(minutes=30), {"faces": 4, "people": 1,
                                                         "n_neutral": 4})
    store.add_counts(hall, now - timedelta(hours=3), {"faces": 99})  # outside the hour
    series = client.get(f"/api/cameras/{hall}/stats", params={"hours": 1}).json()
    assert len(series["minutes"]) == 60 == len(series["faces"]) == len(series["people"])
    assert series["faces"][-1] == 12 and series["people"][-1] == 2
    assert series["faces"][-31] == 4 and sum(series["faces"]) == 16
    assert series["expressions"]["happy"][-1] == 9 and series["expressions"]["sad"][-1] == 3
    assert series["age_bands"]["20-34"][-1] == 12 and "uncertain" in series["expressions"]
    for bad in ({"hours": 0}, {"hours": 1000}, {"hours": "a"}):
        assert client.get(f"/api/cameras/{hall}/stats", params=bad).status_code == 422
    assert client.get("/api/cameras/999/stats").status_code == 404


def test_screen_shows_nothing_below_k_people(client: TestClient, store: Store,
                                             hall: int) -> None:
    now = now_clear_of_the_hour()
    store.add_counts(hall, now, {"faces": 40, "people": 4, "n_happy": 30, "n_neutral": 10,
                                 "n_age_65_plus": 40})
    below = client.get("/api/screen").json()
    assert below["enough"] is False and below["min_people"] == 5
    assert {k for k, v in below.items() if v is not None} == {"enough", "min_people", "since"}
    store.add_counts(hall, now, {"faces": 5, "people": 1, "n_sad": 5, "n_age_20_34": 5})
    shown = client.get("/api/screen").json()
    assert shown["enough"] is True and shown["people"] == 5
    assert shown["expressions"]["happy"] == 30 and shown["expressions"]["sad"] == 5
    assert shown["age_bands"] == {"0-12": 0, "13-19": 0, "20-34": 5, "35-49": 0, "50-64": 0,
                                  "65+": 40}


def test_one_person_lingering_is_not_k_people(client: TestClient, store: Store,
                                              hall: int) -> None:
    """Per-minute counts summed over minutes say 6; only one person was ever seen at once."""
    now = now_clear_of_the_hour().replace(minute=0, second=0, microsecond=0)
    for minute in range(6):
        store.add_counts(hall, now + timedelta(minutes=minute), {"faces": 100, "people": 1,
                                                                  "n_sad": 100})
    assert store.totals(now)["people"] == 6
    assert client.get("/api/screen").json()["enough"] is False


def test_k_is_configurable_and_checked(store: Store) -> None:
    store.add_counts(store.add_camera("door", "file:///x", "anonymous_statistics").id,
                     now_clear_of_the_hour(), {"faces": 2, "people": 2})
    assert as_admin(store, create_app(store, screen_min_people=2)).get(
        "/api/screen").json()["people"] == 2
    with pytest.raises(ValueError, match="at least 1"):
        create_app(store, screen_min_people=0)


def test_websocket_pushes_state_events_and_acknowledgements(client: TestClient, store: Store,
                                                            hub: Hub, hall: int) -> None:
    hub.set_state(live(hall, True))
    event = store.record_event(hall, "distress", datetime.now(UTC), 0.9, track_id=3)
    with client.websocket_connect("/api/ws") as socket:
        hello = socket.receive_json()
        assert hello["type"] == "hello" and hello["cameras"][0]["camera_id"] == hall
        threading.Thread(target=hub.set_state, args=(live(hall, False, "stalled"),)).start()
        state = socket.receive_json()
        assert state["type"] == "camera" and state["camera"]["message"] == "stalled"
        acked = client.post(f"/api/events/{event.id}/acknowledge",
                            json={"comment": "sat with her"})
        assert acked.status_code == 200
        pushed = socket.receive_json()
        assert pushed["type"] == "event" and pushed["event"]["id"] == event.id
        assert pushed["event"]["acknowledged_by"].startswith("token:")  # the caller's account
        socket.send_text("anything")  # what clients send is ignored, not fatal
        hub.publish_event({"id": 12345})
        assert socket.receive_json()["event"] == {"id": 12345}
    assert client.get("/api/health").status_code == 200


def test_create_app_without_a_hub_still_answers(store: Store) -> None:
    client = as_admin(store, create_app(store))
    camera = client.post("/api/cameras", json=HALL).json()
    assert client.get("/api/live").json()[0]["online"] is None
    assert client.get(f"/api/cameras/{camera['id']}/snapshot.jpg").status_code == 503


def test_camera_changes_are_announced_and_a_failing_listener_is_no_500(store: Store) -> None:
    calls: list[str] = []
    client = as_admin(store, create_app(store, on_cameras_changed=lambda: calls.append("sync")))
    camera = client.post("/api/cameras", json=HALL).json()
    client.patch(f"/api/cameras/{camera['id']}", json={"enabled": False})
    client.patch("/api/cameras/999", json={"enabled": False})  # 404: nothing changed
    client.delete(f"/api/cameras/{camera['id']}")
    assert calls == ["sync"] * 3

    def broken() -> None:
        raise RuntimeError("supervisor down")

    client = as_admin(store, create_app(store, on_cameras_changed=broken))
    assert client.post("/api/cameras", json=HALL).status_code == 201
    assert [c.name for c in store.cameras()] == ["hall"]


def test_connection_tests_are_limited_for_the_whole_service(store: Store) -> None:
    """Issue 17 item 6: at most N tests a minute, all admins and tokens together (another
    admin token adds no budget), then 429 with Retry-After; refused ones open nothing."""
    app = create_app(store, security=SecuritySettings(camera_tests_per_minute=3))
    dead = {"url": f"rtsp://127.0.0.1:{free_port()}/x", "timeout_s": 0.2}
    first, second = as_admin(store, app), as_admin(store, app)
    answers = [c.post("/api/cameras/test", json=dead) for c in (first, second, first)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    refused = second.post("/api/cameras/test", json=dead)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "3 connection tests a minute" in refused.json()["detail"]
    assert len([r for r in AuditLog(store).all_records() if r.action == "camera.test"]) == 3
