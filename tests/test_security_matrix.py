"""The authorisation matrix: every route and method of the app (enumerated from app.routes,
so a new route fails here until someone decides who may use it), for each role and for no
login, gets exactly the intended answer: 401 (or a redirect to the login page) without a
login, 403 for a role not allowed, and 2xx (the work done) for an allowed role."""

from __future__ import annotations

import itertools

import pytest
from authutil import ROLES, bearer
from fastapi.testclient import TestClient
from starlette.routing import Mount, WebSocketRoute
from starlette.testclient import WebSocketDenialResponse

from affectlens.security.guard import flat_routes
from affectlens.service.api import create_app
from affectlens.service.hub import Hub
from affectlens.store import Store

A, S, U, K, M = "admin", "staff", "auditor", "screen", "metrics"
OPEN = "open"
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/"): {A, S},
    ("GET", "/login"): {OPEN},
    ("GET", "/screen"): {A, S, U, K},
    ("GET", "/static/app.js"): {A, S, U, K},
    ("GET", "/static/login.js"): {OPEN},
    ("GET", "/openapi.json"): {A, S, U},
    ("GET", "/metrics"): {A, M},
    ("GET", "/api/health"): {OPEN},
    ("POST", "/api/auth/login"): {OPEN},
    ("POST", "/api/auth/logout"): {A, S, U, K, M},
    # Every role, but only through a login (test_auth): an API token has no password.
    ("POST", "/api/auth/password"): set(),
    ("GET", "/api/auth/me"): {A, S, U, K, M},
    ("GET", "/api/users"): {A},
    ("POST", "/api/users"): {A},
    ("PATCH", "/api/users/{username}"): {A},
    ("GET", "/api/tokens"): {A},
    ("POST", "/api/tokens"): {A},
    ("DELETE", "/api/tokens/{token_id}"): {A},
    ("GET", "/api/audit"): {U},
    ("GET", "/api/audit/export"): {U},
    ("GET", "/api/audit/verify"): {U},
    ("GET", "/api/cameras"): {A, S, U},
    ("POST", "/api/cameras"): {A},
    ("GET", "/api/cameras/{camera_id}"): {A, S, U},
    ("PATCH", "/api/cameras/{camera_id}"): {A},
    ("DELETE", "/api/cameras/{camera_id}"): {A},
    ("POST", "/api/cameras/test"): {A},
    ("POST", "/api/cameras/{camera_id}/test"): {A},
    ("GET", "/api/cameras/{camera_id}/live"): {A, S},
    ("GET", "/api/live"): {A, S},
    ("GET", "/api/cameras/{camera_id}/snapshot.jpg"): {A, S},
    ("GET", "/api/cameras/{camera_id}/preview.mjpeg"): {A, S},
    ("GET", "/api/cameras/{camera_id}/stats"): {A, S, U},
    ("GET", "/api/cameras/{camera_id}/zones"): {A, S, U},
    ("PUT", "/api/cameras/{camera_id}/zones"): {A},
    ("GET", "/api/events"): {A, S, U},
    ("POST", "/api/events/{event_id}/acknowledge"): {A, S},
    ("GET", "/api/events/{event_id}/snapshot.jpg"): {A, S},
    ("GET", "/api/events/{event_id}/clip.webm"): {A, S},
    ("GET", "/api/screen"): {A, S, U, K},
    ("GET", "/api/dead-letters"): {A},
    ("POST", "/api/dead-letters/{letter_id}/replay"): {A},
    ("WS", "/api/ws"): {A, S},
}
PAGES = {"/", "/screen"}
DEAD_PORT = "rtsp://127.0.0.1:9/none"  # refused at once: connection tests answer quickly
BODIES = {
    "/api/auth/login": {"username": "ada", "password": "long enough password"},
    "/api/auth/password": {"current_password": "long enough password",
                           "new_password": "another long password"},
    "/api/users": {"username": "newbie", "role": "staff", "password": "long enough password"},
    "/api/users/{username}": {"enabled": True},
    "/api/tokens": {"name": "integration", "role": "staff"},
    "/api/cameras": {"name": "new", "url": DEAD_PORT, "purpose": "care_safety"},
    "/api/cameras/{camera_id}": {"analysis_fps": 3},
    "/api/cameras/test": {"url": DEAD_PORT, "timeout_s": 1},
    "/api/cameras/{camera_id}/zones": {"zones": [
        {"name": "bed", "kind": "bed", "points": [[0, 0], [10, 0], [10, 10]]}]},
    "/api/events/{event_id}/acknowledge": {"comment": "seen"},
}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route; a mount is probed through one of its files."""
    found = set()
    for route in flat_routes(app.routes):
        if isinstance(route.original_route if hasattr(route, "original_route") else route,
                      Mount):
            found |= {("GET", "/static/app.js"), ("GET", "/static/login.js")}
        elif isinstance(getattr(route, "original_route", route), WebSocketRoute) or \
                getattr(route, "methods", None) is None:
            found.add(("WS", route.path))
        else:
            found |= {(m, route.path) for m in route.methods if m != "HEAD"}
    return found


@pytest.fixture
def world(store: Store, tmp_path):
    """The app as `affectlens serve` builds it (with /metrics), a
    camera with a preview, an event with a snapshot and a clip, a user and a token to act
    on."""
    hub = Hub()
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "event.jpg").write_bytes(b"\xff\xd8 blurred")
    (tmp_path / "1" / "event.webm").write_bytes(b"\x1a\x45\xdf\xa3 blurred")
    app = create_app(store, hub, snapshots_dir=tmp_path, metrics=lambda: b"# metrics\n")
    camera = store.add_camera("hall", DEAD_PORT, "care_safety")
    hub.set_preview(camera.id, b"\xff\xd8 blurred")
    event = store.record_event(camera.id, "distress", camera.created_at, 0.9,
                               snapshot="1/event.jpg")
    store.set_clip(event.id, "1/event.webm")
    store.add_dead_letter("webhook", "https://receiver.example/hook", event.id, "{}", 5,
                          "HTTP 500")
    admin = TestClient(app, headers=bearer(store, "admin"))
    assert admin.post("/api/users", json={"username": "ada", "role": "admin",
                                          "password": "long enough password"}).status_code == 201
    return app, store, camera.id, event.id


def concrete(template: str, method: str, app, store: Store, camera_id: int,
             event_id: int) -> str:
    """The template with real ids; a DELETE gets a fresh victim of its own."""
    admin = TestClient(app, headers=bearer(store, "admin"))
    if method == "DELETE" and "{camera_id}" in template:
        camera_id = admin.post("/api/cameras", json={**BODIES["/api/cameras"],
                                                     "name": f"victim{id(object())}"}).json()["id"]
    token_id = admin.post("/api/tokens", json={"name": "victim", "role": "screen"}).json()["id"]
    return template.format(camera_id=camera_id, event_id=event_id, username="ada",
                           token_id=token_id, letter_id=store.dead_letters()[0].id)


def status_of(client: TestClient, method: str, path: str, template: str) -> int:
    if method == "WS":
        try:
            with client.websocket_connect(path) as socket:
                assert socket.receive_json()["type"] == "hello"
                return 101
        except WebSocketDenialResponse as denied:
            return denied.status_code
    params = {"frames": 1} if path.endswith(".mjpeg") else {}
    if template.endswith("/{camera_id}/test"):
        params = {"timeout_s": 1}
    body = BODIES.get(template)
    if template == "/api/users":
        body = {**body, "username": f"u{id(object())}"}
    if template == "/api/cameras" and method == "POST":
        body = {**body, "name": f"cam{id(object())}"}
    answer = client.request(method, path, params=params, json=body, follow_redirects=False)
    return answer.status_code


def test_every_route_has_an_intended_rule(world) -> None:
    app, *_ = world
    assert app_routes(app) == set(EXPECTED), "a route was added or removed: decide its roles"


@pytest.mark.parametrize("who", [None, *ROLES])
def test_the_matrix(world, who: str | None) -> None:
    app, store, camera_id, event_id = world
    wrong = []
    for (method, template), allowed in sorted(EXPECTED.items()):
        path = concrete(template, method, app, store, camera_id, event_id)
        client = TestClient(app, headers=bearer(store, who) if who else {})
        status = status_of(client, method, path, template)
        if OPEN in allowed or who in allowed:  # the real work, done: 2xx (101: websocket)
            ok = 200 <= status < 300 or status == 101
        elif who is None:
            ok = status == (303 if template in PAGES else 401)
        else:
            ok = status == 403
        if not ok:
            wrong.append(f"{who or 'anonymous'} {method} {path}: {status}")
    assert wrong == []


def test_a_route_without_a_rule_is_closed_to_everyone(world) -> None:
    app, store, *_ = world
    app.add_api_route("/api/forgotten", lambda: {"secret": 1}, methods=["GET"])
    for who in ROLES:
        assert TestClient(app, headers=bearer(store, who)).get(
            "/api/forgotten").status_code == 403
    assert TestClient(app).get("/api/forgotten").status_code == 401


def test_unknown_paths_and_methods_reveal_nothing_without_a_login(world) -> None:
    app, store, *_ = world
    anonymous, staff = TestClient(app), TestClient(app, headers=bearer(store, "staff"))
    for method, path in itertools.product(("GET", "PUT", "OPTIONS"),
                                          ("/api/nothing", "/api/cameras/1", "/x/../api")):
        assert anonymous.request(method, path).status_code == 401
    assert staff.get("/api/nothing").status_code == 404
    assert staff.put("/api/cameras/1").status_code == 405
