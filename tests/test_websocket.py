"""The websocket and previews over real HTTP (uvicorn on a free port) with plain clients: live
events and acknowledgements reach every connected client; a departed client is unsubscribed;
and, end to end, a real worker process on a looping video feeds state and blurred previews."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from authutil import add_user, bearer, logged_in
from liveserver import LiveServer, faces_in_jpeg
from waiting import wait_until
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from affectlens.models.face_detector import FaceDetector
from affectlens.samples import sample_frames, write_sample_video
from affectlens.security.accounts import Accounts
from affectlens.security.guard import SESSION_COOKIE, SecuritySettings
from affectlens.service.api import create_app
from affectlens.service.hub import Hub
from affectlens.service.schemas import EventOut
from affectlens.store import Store
from affectlens.store.db import sqlite_url


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/api/ws"


def receive(socket: ClientConnection, wanted: Callable[[dict], bool], timeout: float = 10
            ) -> dict:
    """The first message that ``wanted`` accepts, skipping others (state updates)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(socket.recv(timeout=max(0.01, deadline - time.monotonic())))
        if wanted(message):
            return message


def test_every_client_hears_a_live_event_and_its_acknowledgement(store: Store) -> None:
    hub = Hub()
    camera = store.add_camera("hall", "rtsp://127.0.0.1:8554/hall", "care_safety")
    staff = bearer(store, "staff")
    with LiveServer(create_app(store, hub)) as server, \
            connect(ws_url(server), additional_headers=staff) as first, \
            connect(ws_url(server), additional_headers=staff) as second:
        for socket in (first, second):
            assert json.loads(socket.recv(timeout=5)) == {"type": "hello", "cameras": []}
        event = store.record_event(camera.id, "distress", datetime.now(UTC), 0.9, track_id=1)
        payload = EventOut.model_validate(event).model_dump(mode="json")
        threading.Thread(target=hub.publish_event, args=(payload,)).start()
        for socket in (first, second):
            heard = receive(socket, lambda m: m["type"] == "event")
            assert heard["event"] == payload and heard["event"]["acknowledged_at"] is None
        with httpx.Client(base_url=server.url, timeout=5) as nurse:  # a dashboard session
            logged_in(nurse, add_user(store, "staff", "nurse"))
            answer = nurse.post(f"/api/events/{event.id}/acknowledge",
                                json={"comment": "checked"})
        assert answer.status_code == 200
        for socket in (first, second):
            acked = receive(socket, lambda m: m["type"] == "event")["event"]
            assert acked["acknowledged_by"] == "nurse" and acked["comment"] == "checked"
        assert store.events()[0].acknowledged_by == "nurse"
        first.close()
        wait_until(lambda: hub.subscribers() == 1, 5)  # the server noticed it leave
        second.send("not json at all")  # ignored, text or bytes; the socket stays open
        second.send(b"\x00\xff")
        hub.publish_event({"id": 99})
        assert receive(second, lambda m: m["type"] == "event")["event"] == {"id": 99}
    assert hub.subscribers() == 0


def test_a_real_worker_feeds_state_and_blurred_previews_to_clients(tmp_path: Path) -> None:
    """A worker process on a looping video of portraits, through the supervisor and the hub,
    to a websocket client, the snapshot route and the MJPEG stream; a camera added through
    the API gets its worker at once (create_app's on_cameras_changed)."""
    from affectlens.events.distress import DistressSettings
    from affectlens.service.recorder import Recorder
    from affectlens.service.supervisor import Supervisor
    from affectlens.service.worker import CameraSpec

    detector = FaceDetector()
    frame, _ = sample_frames(seconds=0.2, fps=10)[0]
    assert len(detector.predict([frame])[0].boxes) >= 1  # the video shows faces
    clip = write_sample_video(tmp_path / "portraits.mp4", seconds=3.0)
    store = Store(sqlite_url(tmp_path / "live.db"))
    camera = store.add_camera("hall", f"file://{clip}", "care_safety")
    hub = Hub()
    supervisor = Supervisor(
        store, Recorder(store, hub=hub),
        lambda c: CameraSpec(c.id, c.url, c.purpose, c.analysis_fps, DistressSettings(),
                             preview_fps=4.0),
        poll_s=60.0,  # only the API's on_cameras_changed starts a new camera in time
    )
    admin = bearer(store, "admin")
    with LiveServer(create_app(store, hub, on_cameras_changed=supervisor.sync)) as server, \
            connect(ws_url(server), additional_headers=admin) as socket:
        receive(socket, lambda m: m["type"] == "hello")
        supervisor.start()
        try:
            online = receive(socket, lambda m: m["type"] == "camera" and m["camera"]["online"],
                             timeout=90)
            assert online["camera"]["camera_id"] == camera.id
            wait_until(lambda: hub.preview(camera.id), 10)
            snapshot = httpx.get(f"{server.url}/api/cameras/{camera.id}/snapshot.jpg", timeout=5,
                                 headers=admin)
            assert snapshot.status_code == 200 and snapshot.content.startswith(b"\xff\xd8")
            assert faces_in_jpeg(snapshot.content, detector) == 0  # blurred by the producer
            with httpx.stream("GET", f"{server.url}/api/cameras/{camera.id}/preview.mjpeg",
                              params={"frames": 2, "fps": 5}, timeout=10,
                              headers=admin) as stream:
                body = b"".join(stream.iter_bytes())
            assert body.count(b"--frame\r\nContent-Type: image/jpeg") == 2
            receive(socket, lambda m: m["type"] == "camera" and m["camera"]["analysed_fps"] > 0)
            live = httpx.get(f"{server.url}/api/cameras/{camera.id}/live", timeout=5,
                             headers=admin).json()
            assert live["online"] is True and live["analysed_fps"] > 0 and live["name"] == "hall"
            added = httpx.post(f"{server.url}/api/cameras", timeout=5, headers=admin, json={
                "name": "lounge", "url": f"file://{clip}", "purpose": "care_safety"}).json()
            receive(socket, lambda m: m["type"] == "camera" and m["camera"]["online"]
                    and m["camera"]["camera_id"] == added["id"], timeout=30)
        finally:
            supervisor.stop()
        store.engine.dispose()


# -- connections that outlive their login ------------------------------------------------------

RECHECK = SecuritySettings(recheck_s=0.3)


def closed_code(socket: ClientConnection, timeout: float) -> int | None:
    """Reads until the server closes the socket; its close code."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as closed:
        while time.monotonic() < deadline:
            socket.recv(timeout=max(0.01, deadline - time.monotonic()))
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_a_websocket_is_closed_when_its_session_logs_out(store: Store) -> None:
    with LiveServer(create_app(store, Hub(), security=RECHECK)) as server, \
            httpx.Client(base_url=server.url, timeout=5) as browser:
        logged_in(browser, add_user(store, "staff", "nurse"))
        cookie = {"Cookie": f"{SESSION_COOKIE}={browser.cookies[SESSION_COOKIE]}"}
        with connect(ws_url(server), additional_headers=cookie) as socket:
            assert json.loads(socket.recv(timeout=5))["type"] == "hello"
            with pytest.raises(TimeoutError):  # still logged in: kept open over many checks
                socket.recv(timeout=1.5)
            assert browser.post("/api/auth/logout").status_code == 204
            assert closed_code(socket, timeout=5) == 1008


def test_a_websocket_is_closed_when_its_token_is_revoked(store: Store) -> None:
    accounts = Accounts(store)
    value, token = accounts.add_token("wall display", "staff", "tests")
    with LiveServer(create_app(store, Hub(), security=RECHECK)) as server, \
            connect(ws_url(server), additional_headers={"Authorization": f"Bearer {value}"}
                    ) as socket:
        assert json.loads(socket.recv(timeout=5))["type"] == "hello"
        accounts.revoke_token(token.id)
        assert closed_code(socket, timeout=5) == 1008


def test_a_preview_stream_ends_when_its_user_is_disabled(store: Store) -> None:
    hub = Hub()
    camera = store.add_camera("hall", "rtsp://127.0.0.1:8554/hall", "care_safety")
    _, jpeg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))
    hub.set_preview(camera.id, jpeg.tobytes())
    with LiveServer(create_app(store, hub, security=RECHECK)) as server, \
            httpx.Client(base_url=server.url, timeout=5) as browser:
        logged_in(browser, add_user(store, "staff", "nurse"))
        with browser.stream("GET", f"/api/cameras/{camera.id}/preview.mjpeg?fps=5") as stream:
            assert stream.status_code == 200
            parts = stream.iter_bytes()
            assert b"image/jpeg" in next(parts)
            Accounts(store).change_user("nurse", enabled=False)
            deadline = time.monotonic() + 10
            for _ in parts:  # keep-alive parts go on until the server ends the body
                if time.monotonic() > deadline:
                    pytest.fail("the stream went on after the user was disabled")
        assert browser.get("/api/live").status_code == 401  # and the session is gone
