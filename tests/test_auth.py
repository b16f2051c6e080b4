"""Accounts, sessions, tokens and the login throttle, through the real app on both databases:
argon2id hashes at rest, HttpOnly SameSite=Strict cookies (Secure over TLS), CSRF, revoked
and expired tokens, lockout by name and throttling by address, the websocket's door."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from authutil import PASSWORD, add_user, bearer, logged_in
from fastapi.testclient import TestClient
from liveserver import LiveServer
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from affectlens.security.accounts import AccountError, Accounts, LoginPolicy
from affectlens.security.audit import AuditLog
from affectlens.security.guard import SecuritySettings
from affectlens.service.api import create_app
from affectlens.store import Store
from affectlens.store.accounts import ApiToken, User
from affectlens.store.db import MIGRATIONS, make_engine, migrate


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


def test_no_account_no_entry_and_no_default_password(store: Store) -> None:
    client = TestClient(create_app(store))
    assert Accounts(store).users() == []
    for name in ("admin", "root", "affectlens"):
        for password in ("admin", "password", "affectlens", ""):
            answer = client.post("/api/auth/login", json={"username": name,
                                                          "password": password})
            assert answer.status_code in (401, 422, 429)
    assert client.get("/api/cameras").status_code == 401
    assert client.get("/api/cameras").headers["www-authenticate"] == "Bearer"


def test_passwords_are_argon2id_hashes_and_weak_ones_are_refused(store: Store) -> None:
    accounts = Accounts(store)
    for weak in ("short", "a" * 20, " padded password "):
        with pytest.raises(AccountError):
            accounts.add_user("ada", "admin", weak)
    accounts.add_user("ada", "admin", PASSWORD)
    with store.session() as session:
        (stored,) = session.scalars(sa.select(User.password_hash))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(AccountError, match="exists"):
        accounts.add_user("ada", "staff", PASSWORD)
    with pytest.raises(AccountError, match="role"):
        accounts.add_user("bob", "superuser", PASSWORD)


def test_a_session_cookie_is_httponly_strict_and_needs_its_csrf_token(store: Store) -> None:
    add_user(store, "staff", "nurse")
    client = TestClient(create_app(store))
    csrf = logged_in(client, "nurse")
    cookie = client.cookies.jar
    session = next(c for c in cookie if c.name == "affectlens_session")
    assert session.has_nonstandard_attr("HttpOnly") and not session.secure
    answer = client.post("/api/auth/login", json={"username": "nurse", "password": PASSWORD})
    assert "samesite=strict" in answer.headers["set-cookie"].lower()
    csrf = answer.json()["csrf_token"]  # a new login, a new session and token
    assert client.get("/api/auth/me").json() == {"username": "nurse", "role": "staff",
                                                 "via": "session", "csrf_token": csrf}
    camera = store.add_camera("hall", "rtsp://h/x", "care_safety")
    event = store.record_event(camera.id, "distress", datetime.now(UTC), 0.9)
    del client.headers["X-CSRF-Token"]
    assert client.post(f"/api/events/{event.id}/acknowledge", json={}).status_code == 403
    wrong = client.post(f"/api/events/{event.id}/acknowledge", json={},
                        headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    elsewhere = client.post(f"/api/events/{event.id}/acknowledge", json={}, headers={
        "X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    assert store.events()[0].acknowledged_at is None
    right = client.post(f"/api/events/{event.id}/acknowledge", json={},
                        headers={"X-CSRF-Token": csrf})
    assert right.status_code == 200 and right.json()["acknowledged_by"] == "nurse"
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/auth/me").status_code == 401  # the session is gone


def test_a_login_posted_from_another_site_is_refused(store: Store) -> None:
    add_user(store, "staff", "nurse")
    client = TestClient(create_app(store))
    body = {"username": "nurse", "password": PASSWORD}
    assert client.post("/api/auth/login", json=body,
                       headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/api/auth/login", json=body,
                       headers={"Origin": "http://testserver"}).status_code == 200


def test_cookies_are_secure_over_tls(store: Store) -> None:
    add_user(store, "staff", "nurse")
    client = TestClient(create_app(store), base_url="https://affectlens.example")
    answer = client.post("/api/auth/login", json={"username": "nurse", "password": PASSWORD})
    assert answer.status_code == 200
    cookies = answer.headers.get_list("set-cookie")
    assert len(cookies) == 2 and all("secure" in c.lower() for c in cookies)
    assert answer.headers["strict-transport-security"].startswith("max-age=")


def test_sessions_expire_and_end_when_a_user_is_disabled(store: Store) -> None:
    clock = Clock()
    settings = SecuritySettings(policy=LoginPolicy(session_lifetime=timedelta(hours=1)),
                                clock=clock)
    add_user(store, "staff", "nurse")
    client = TestClient(create_app(store, security=settings))
    logged_in(client, "nurse")
    assert client.get("/api/events").status_code == 200
    clock.at += timedelta(minutes=61)
    assert client.get("/api/events").status_code == 401
    logged_in(client, "nurse")
    accounts = Accounts(store)
    for same in ({}, {"enabled": True}, {"role": "staff"}):  # changes nothing: still logged in
        accounts.change_user("nurse", **same)
        assert client.get("/api/events").status_code == 200, same
    accounts.change_user("nurse", enabled=False)
    assert client.get("/api/events").status_code == 401
    assert client.post("/api/auth/login", json={"username": "nurse",
                                                "password": PASSWORD}).status_code == 401


def test_a_user_changes_their_own_password(store: Store) -> None:
    """The current password is needed (a wrong one counts towards the name's lockout); the
    new one must pass the rules; then every session of the user ends and this one gets new
    cookies; the change is audited. An API token has no password to change."""
    new = "a different passphrase entirely"
    add_user(store, "staff", "nurse")
    app = create_app(store, security=SecuritySettings(policy=LoginPolicy(max_failures=3),
                                                       login_attempts_per_minute=100))
    client, elsewhere = TestClient(app), TestClient(app)
    old_csrf = logged_in(client, "nurse")
    logged_in(elsewhere, "nurse")
    old_cookie = client.cookies["affectlens_session"]

    def change(current: str, wanted: str) -> int:
        return client.post("/api/auth/password", json={
            "current_password": current, "new_password": wanted}).status_code

    assert change(PASSWORD, "short") == 422  # the rules, checked before anything else
    assert change(PASSWORD, "a" * 20) == 422
    assert change("not my password", new) == 403
    answer = client.post("/api/auth/password", json={"current_password": PASSWORD,
                                                     "new_password": new})
    assert answer.status_code == 200 and answer.json()["username"] == "nurse"
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    assert answer.json()["csrf_token"] != old_csrf
    assert client.cookies["affectlens_session"] != old_cookie
    assert client.get("/api/events").status_code == 200  # this session goes on, renewed
    assert elsewhere.get("/api/events").status_code == 401  # every other one ended
    for password, status in ((PASSWORD, 401), (new, 200)):
        assert TestClient(app).post("/api/auth/login", json={
            "username": "nurse", "password": password}).status_code == status
    actions = [(r.actor, r.action) for r in AuditLog(store).all_records()]
    assert ("nurse", "password.change_failed") in actions
    assert ("nurse", "password.change") in actions
    assert not any(PASSWORD in r.detail or new in r.detail for r in AuditLog(store).all_records())
    # Wrong current passwords lock the name like failed logins (3 here), then even the
    # right one is refused until the lockout ends.
    assert [change("guess", "yet another passphrase") for _ in range(3)] == [403] * 3
    assert change(new, "yet another passphrase") == 429
    token = TestClient(app, headers=bearer(store, "staff"))
    assert token.post("/api/auth/password", json={
        "current_password": PASSWORD, "new_password": new}).status_code == 403


def test_tokens_are_hashed_scoped_revocable_and_expire(store: Store) -> None:
    clock = Clock()
    admin = TestClient(create_app(store, security=SecuritySettings(clock=clock)),
                       headers=bearer(store, "admin"))
    made = admin.post("/api/tokens", json={"name": "nurse-call", "role": "staff",
                                           "expires_in_days": 1})
    assert made.status_code == 201
    value = made.json()["token"]
    with store.session() as session:
        digests = list(session.scalars(sa.select(ApiToken.digest)))
    assert value not in digests and all(len(d) == 64 for d in digests)
    assert all("token" not in t for t in admin.get("/api/tokens").json())  # never shown again
    integration = TestClient(admin.app, headers={"Authorization": f"Bearer {value}"})
    assert integration.get("/api/events").status_code == 200
    assert integration.post("/api/cameras", json={}).status_code == 403  # staff scope
    assert integration.post("/api/events/1/acknowledge", json={}).status_code == 404  # no CSRF
    clock.at += timedelta(days=2)
    assert integration.get("/api/events").status_code == 401  # expired
    clock.at -= timedelta(days=2)
    assert admin.delete(f"/api/tokens/{made.json()['id']}").status_code == 204
    assert integration.get("/api/events").status_code == 401  # revoked
    assert admin.delete("/api/tokens/424242").status_code == 404
    for bad in ("Bearer nope", "Basic YWRtaW46YWRtaW4=", "Bearer " + "alt_" + "x" * 500, "Bearer"):
        assert TestClient(admin.app, headers={"Authorization": bad}).get(
            "/api/events").status_code == 401


def test_a_locked_name_stays_locked_even_with_the_right_password(store: Store) -> None:
    clock = Clock()
    policy = LoginPolicy(max_failures=3, lockout=timedelta(minutes=15))
    add_user(store, "admin", "ada")
    client = TestClient(create_app(store, security=SecuritySettings(
        policy=policy, clock=clock, login_attempts_per_minute=100)))

    def attempt(password: str, name: str = "ada") -> int:
        return client.post("/api/auth/login", json={"username": name,
                                                    "password": password}).status_code

    assert [attempt("guess number one") for _ in range(3)] == [401, 401, 401]
    locked = client.post("/api/auth/login", json={"username": "ada", "password": PASSWORD})
    assert locked.status_code == 429 and 0 < int(locked.headers["retry-after"]) <= 900
    # a name that does not exist locks the same way: the answer tells nothing
    assert [attempt("guess", "nobody") for _ in range(4)] == [401, 401, 401, 429]
    clock.at += timedelta(minutes=16)
    assert attempt(PASSWORD) == 200


def test_one_address_is_throttled_across_names(store: Store) -> None:
    client = TestClient(create_app(store, security=SecuritySettings(
        login_attempts_per_minute=5)))
    answers = [client.post("/api/auth/login", json={"username": f"user{i}", "password": "x"})
               for i in range(8)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
    assert 0 < float(answers[-1].headers["retry-after"]) <= 60


def test_the_last_admin_cannot_be_disabled_or_demoted(store: Store) -> None:
    add_user(store, "admin", "ada")
    client = TestClient(create_app(store))
    logged_in(client, "ada")
    assert client.patch("/api/users/ada", json={"enabled": False}).status_code == 409
    assert client.patch("/api/users/ada", json={"role": "staff"}).status_code == 409
    made = client.post("/api/users", json={"username": "grace", "role": "admin",
                                           "password": PASSWORD})
    assert made.status_code == 201 and "password" not in made.json()
    assert client.post("/api/users", json={"username": "grace", "role": "staff",
                                           "password": PASSWORD}).status_code == 409
    assert client.post("/api/users", json={"username": "Bad Name!", "role": "staff",
                                           "password": PASSWORD}).status_code == 422
    assert client.patch("/api/users/ada", json={"role": "staff"}).status_code == 200
    assert client.get("/api/users").status_code == 401  # a new role ends the user's sessions
    logged_in(client, "ada")
    assert client.get("/api/users").status_code == 403  # now staff
    assert client.get("/api/events").status_code == 200


def test_the_websocket_needs_an_operator(store: Store) -> None:
    with LiveServer(create_app(store)) as server:
        url = server.url.replace("http://", "ws://") + "/api/ws"
        for headers, status in (({}, 401), (bearer(store, "screen"), 403),
                                (bearer(store, "auditor"), 403)):
            with pytest.raises(InvalidStatus) as refused:
                connect(url, additional_headers=headers, open_timeout=5)
            assert refused.value.response.status_code == status
        with connect(url, additional_headers=bearer(store, "staff")) as socket:
            assert '"hello"' in socket.recv(timeout=5)
        add_user(store, "staff", "nurse")
        with TestClient(server.server.config.app) as client:
            logged_in(client, "nurse")
            cookie = "affectlens_session=" + client.cookies["affectlens_session"]
        with pytest.raises(InvalidStatus) as hijacked:  # cross-site websocket hijacking
            connect(url, additional_headers={"Cookie": cookie,
                                             "Origin": "https://evil.example"}, open_timeout=5)
        assert hijacked.value.response.status_code == 403
        with connect(url, additional_headers={"Cookie": cookie}, origin=server.url) as socket:
            assert '"hello"' in socket.recv(timeout=5)


def test_a_metrics_token_reads_metrics_and_the_role_survives_migration_0007(url: str) -> None:
    """Before 0007 the database refuses the role; after it a scraper's token is stored; going
    back down removes metrics credentials rather than leave rows the old check refuses."""
    def add_token(role: str) -> None:
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO api_tokens (name, role, digest, created_by, created_at) VALUES "
                f"('scraper', '{role}', '{role}-digest', 'tests', CURRENT_TIMESTAMP)"))

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    migrate(url, "0006")
    engine = make_engine(url)
    with pytest.raises(sa.exc.IntegrityError):
        add_token("metrics")
    migrate(url)
    add_token("metrics")
    with pytest.raises(sa.exc.IntegrityError):
        add_token("superuser")
    command.downgrade(config, "0006")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM api_tokens")).scalar() == 0
    engine.dispose()
    migrate(url)
    store = Store(url)
    try:
        value, _ = Accounts(store).add_token("prometheus", "metrics", "tests")
        app = create_app(store, metrics=lambda: b"up 1\n")  # as `affectlens serve` makes it
        scraper = TestClient(app, headers={"Authorization": f"Bearer {value}"})
        assert scraper.get("/metrics").status_code == 200
        assert scraper.get("/api/events").status_code == 403
    finally:
        store.engine.dispose()


def test_head_is_refused_to_a_role_as_get_is(store: Store) -> None:
    """Issue 17 item 6: HEAD on a protected route answered a role that may not GET it with
    405 and no body, telling it the route exists; now the same 403 as GET."""
    app = create_app(store)
    staff = TestClient(app, headers=bearer(store, "staff"))
    for path in ("/api/users", "/api/tokens", "/api/audit", "/api/audit/export"):
        assert staff.head(path).status_code == staff.get(path).status_code == 403, path
    assert staff.head("/api/nothing").status_code == 404  # as GET: no route, no rule
    assert TestClient(app).head("/api/users").status_code == 401
    admin = TestClient(app, headers=bearer(store, "admin"))
    assert admin.head("/api/users").status_code == 405  # allowed, but the API answers GET


def test_an_origin_of_another_scheme_is_another_site(store: Store) -> None:
    """Issue 17 item 6: the CSRF check compared host and port only, so a page served over
    https:// could post to this http:// service (and the other way round)."""
    add_user(store, "staff", "nurse")
    app = create_app(store)
    body = {"username": "nurse", "password": PASSWORD}
    for base, same, other in (("http://testserver", "http://testserver",
                               "https://testserver"),
                              ("https://testserver", "https://testserver",
                               "http://testserver")):
        client = TestClient(app, base_url=base)
        assert client.post("/api/auth/login", json=body,
                           headers={"Origin": other}).status_code == 403
        logged_in(client, "nurse")
        acknowledge = "/api/events/1/acknowledge"
        refused = client.post(acknowledge, json={"comment": "x"}, headers={"Origin": other})
        assert refused.status_code == 403 and "cross-site" in refused.json()["detail"]
        if other.startswith("https"):  # a TLS proxy whose X-Forwarded-Proto is not believed
            assert "trusted_proxies" in refused.json()["detail"]
        assert client.post(acknowledge, json={"comment": "x"},
                           headers={"Origin": same}).status_code == 404  # let through


def test_a_password_rule_is_a_422_with_the_documented_detail_list(store: Store) -> None:
    """Issue 17 item 6: a password refused by a rule got a string ``detail``, unlike every
    other 422 (a list naming each field); and the refused password is not echoed back."""
    add_user(store, "staff", "nurse")
    app = create_app(store)
    admin = TestClient(app, headers=bearer(store, "admin"))
    user = TestClient(app)
    logged_in(user, "nurse")
    weak = "aaaaaaaaaaaaaaaaaa"
    answers = {
        "password": admin.post("/api/users", json={"username": "bob", "role": "staff",
                                                   "password": weak}),
        "password ": admin.patch("/api/users/nurse", json={"password": weak}),
        "new_password": user.post("/api/auth/password", json={"current_password": PASSWORD,
                                                              "new_password": weak}),
    }
    for field, answer in answers.items():
        assert answer.status_code == 422, answer.text
        (error,) = answer.json()["detail"]
        assert error["loc"] == ["body", field.strip()] and "repeat one or two" in error["msg"]
        assert weak not in answer.text
    short = admin.post("/api/users", json={"username": "bob", "role": "staff",
                                           "password": "tiny"})
    assert short.json()["detail"][0]["loc"] == ["body", "password"] and "tiny" not in short.text


def test_a_database_that_is_no_url_is_a_clear_error(tmp_path: Path) -> None:
    """`--database /path/to/site.db` (a path, not a URL) ended in a SQLAlchemy traceback;
    now one line says what to give, exit status 2, and no file is made."""
    command = str(Path(sys.executable).with_name("affectlens"))
    path = tmp_path / "affectlens.db"
    # A narrow terminal: the one line must not be hard-wrapped (CI's longer temporary path
    # once split "is not" across two lines).
    done = subprocess.run([command, "audit", "verify", "--database", str(path)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "40"})
    assert done.returncode == 2, done.stderr
    assert "is not a database URL" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert not path.exists()


def test_user_add_reads_one_password_line_from_a_pipe(url: str) -> None:
    """Issue 17 item 6: one line on stdin (the README's way) ended in 'Aborted.', as the
    password was asked for twice; the real command, stdin a pipe."""
    command = str(Path(sys.executable).with_name("affectlens"))
    made = subprocess.run([command, "user", "add", "ada", "--role", "admin", "--database", url],
                          input=f"{PASSWORD}\n", capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert "user ada (admin) added" in made.stderr and "Aborted" not in made.stderr
    store = Store(url)
    try:
        assert Accounts(store).login("ada", PASSWORD).role == "admin"
    finally:
        store.engine.dispose()
