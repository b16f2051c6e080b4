"""Web security of the app: headers on every answer, the request body limit (declared or
chunked), SQL injection and path traversal that fail safely, and no SQL built from strings
anywhere in the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from authutil import bearer
from fastapi.testclient import TestClient

import affectlens
from affectlens.service.api import create_app
from affectlens.service.hub import Hub
from affectlens.store import Store

PACKAGE = Path(affectlens.__file__).parent
HALL = {"name": "hall", "url": "rtsp://127.0.0.1:8554/hall", "purpose": "care_safety"}


@pytest.fixture
def admin(store: Store) -> TestClient:
    hub = Hub()
    client = TestClient(create_app(store, hub), headers=bearer(store, "admin"))
    camera = client.post("/api/cameras", json=HALL).json()
    hub.set_preview(camera["id"], b"\xff\xd8 blurred")
    return client


def test_every_answer_carries_the_security_headers(admin: TestClient) -> None:
    anonymous = TestClient(admin.app)
    answers = [admin.get("/"), admin.get("/static/app.js"), admin.get("/api/cameras"),
               admin.get("/api/cameras/1/snapshot.jpg"), admin.get("/api/nothing"),
               admin.post("/api/cameras", json={}), anonymous.get("/api/events"),
               anonymous.get("/login"), anonymous.get("/", follow_redirects=False)]
    for answer in answers:
        headers = answer.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, answer.url
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    assert admin.get("/api/events").headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in admin.get("/").headers  # plain HTTP here


def test_pages_have_no_inline_script_or_style() -> None:
    """The CSP forbids them; a page that used one would break, so none may."""
    for page in (PACKAGE / "service" / "web").glob("*.html"):
        html = page.read_text()
        assert "<style" not in html and "style=" not in html, page.name
        assert not re.search(r"\son[a-z]+\s*=", html), page.name  # onclick= and the like
        for script in html.split("<script")[1:]:
            assert script.lstrip().startswith("src="), page.name


def test_oversized_bodies_are_413_declared_or_chunked(admin: TestClient) -> None:
    big = b'{"name": "' + b"x" * 70_000 + b'"}'
    declared = admin.post("/api/cameras", content=big,
                          headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "bytes" in declared.json()["detail"]
    chunked = admin.post("/api/cameras", content=iter([big[:40_000], big[40_000:]]),
                         headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    lying = admin.post("/api/cameras", content=b"{}", headers={"content-length": "nonsense"})
    assert lying.status_code in (400, 413)
    login = TestClient(admin.app).post("/api/auth/login", content=big,
                                       headers={"content-type": "application/json"})
    assert login.status_code == 413  # before any login: no password hashing of megabytes
    assert admin.get("/api/health").status_code == 200


@pytest.mark.parametrize("attack", [
    "' OR '1'='1", "x'; DROP TABLE events; --", "1 UNION SELECT password_hash FROM users",
    "\\x00", "%' --", "admin'--",
])
def test_sql_injection_is_data_not_code(admin: TestClient, store: Store, attack: str) -> None:
    assert admin.get("/api/events", params={"kind": attack[:32]}).json() == []
    assert admin.get(f"/api/cameras/{attack}").status_code in (404, 422)
    assert admin.get("/api/audit", params={"action": attack}).status_code == 403
    login = TestClient(admin.app).post("/api/auth/login", json={"username": attack,
                                                                "password": attack})
    assert login.status_code in (401, 429)
    assert admin.patch(f"/api/users/{attack}", json={"enabled": False}).status_code in (404, 422)
    assert [c.name for c in store.cameras()] == ["hall"]  # nothing dropped or leaked
    assert admin.get("/api/events").status_code == 200


@pytest.mark.parametrize("path", [
    "/static/../api.py", "/static/..%2f..%2fstore%2fdb.py", "/static/%2e%2e/%2e%2e/cli.py",
    "/static/....//....//etc/passwd", "/static//etc/passwd", "/static/%00index.html",
    "/api/cameras/..%2f..%2fetc%2fpasswd/snapshot.jpg", "/api/cameras/1/..%2f..%2f/snapshot.jpg",
    "/static/app.js%00.png",
])
def test_path_traversal_reaches_nothing_outside(admin: TestClient, path: str) -> None:
    answer = admin.get(path)
    assert answer.status_code in (400, 404, 405, 422), (path, answer.status_code)
    assert b"import" not in answer.content and b"root:" not in answer.content
    assert TestClient(admin.app).get(path).status_code in (400, 401, 404)


def _sql_from_strings(tree: ast.AST) -> list[int]:
    """Lines where text()/execute()/exec_driver_sql() get an f-string, % or .format()."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        sql_text = (isinstance(func, ast.Name) and func.id == "text") or (
            isinstance(func, ast.Attribute) and func.attr == "text"
            and isinstance(func.value, ast.Name) and func.value.id in {"sa", "sqlalchemy"})
        runs = isinstance(func, ast.Attribute) and func.attr in {
            "execute", "exec_driver_sql", "executescript"}
        if not (sql_text or runs):
            continue
        arg = node.args[0]
        built = isinstance(arg, ast.JoinedStr) or (
            isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mod | ast.Add)) or (
            isinstance(arg, ast.Call) and getattr(arg.func, "attr", "") == "format")
        if built:
            found.append(node.lineno)
    return found


def test_no_sql_is_built_from_strings() -> None:
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        lines = _sql_from_strings(ast.parse(path.read_text()))
        if lines:
            offenders[str(path.relative_to(PACKAGE))] = lines
    assert offenders == {}
    assert _sql_from_strings(ast.parse('session.execute(text(f"SELECT {x}"))')) == [1]


def test_event_snapshots_are_served_only_from_inside_their_folder(store: Store,
                                                                  tmp_path: Path) -> None:
    """Whatever path the database holds (written by a worker, or by an attacker), only a
    JPEG inside snapshots_dir is served; each view is audited."""
    from affectlens.security.audit import AuditLog

    folder = tmp_path / "snapshots"
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "a.jpg").write_bytes(b"\xff\xd8 blurred")
    (tmp_path / "secret.jpg").write_bytes(b"outside")
    (folder / "1" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    (folder / "1" / "notes.txt").write_text("not a picture")
    camera = store.add_camera("hall", "rtsp://h/x", "care_safety")
    client = TestClient(create_app(store, snapshots_dir=folder), headers=bearer(store, "staff"))
    stored = {}
    for path in ("1/a.jpg", "../secret.jpg", str(tmp_path / "secret.jpg"), "1/link.jpg",
                 "1/notes.txt", "1/../../secret.jpg", None, "1/missing.jpg"):
        event = store.record_event(camera.id, "distress", camera.created_at, 0.9, snapshot=path)
        stored[path] = client.get(f"/api/events/{event.id}/snapshot.jpg")
    assert stored["1/a.jpg"].status_code == 200
    assert stored["1/a.jpg"].content == b"\xff\xd8 blurred"
    assert stored["1/a.jpg"].headers["content-type"] == "image/jpeg"
    assert {p: a.status_code for p, a in stored.items() if p != "1/a.jpg"} == {
        p: 404 for p in stored if p != "1/a.jpg"}
    assert client.get("/api/events/999999/snapshot.jpg").status_code == 404
    assert TestClient(create_app(store), headers=bearer(store, "staff")).get(
        "/api/events/1/snapshot.jpg").status_code == 404  # no folder given: nothing served
    views = [r for r in AuditLog(store).all_records() if r.action == "media.event_snapshot"]
    assert [r.target for r in views] == ["event:1"]


def test_a_lost_database_is_a_503_not_a_500() -> None:
    gone = Store("postgresql+psycopg://nobody:none@127.0.0.1:9/nothing", migrate_first=False)
    client = TestClient(create_app(gone), headers={"Authorization": "Bearer alt_x"})
    answer = client.get("/api/cameras")
    assert answer.status_code == 503 and "database" in answer.json()["detail"]
    assert TestClient(client.app).get("/api/health").json() == {"status": "ok"}
    gone.engine.dispose()
