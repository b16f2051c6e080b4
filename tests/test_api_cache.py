"""What the API keeps between requests (issue 17 item 3), on both databases: a remembered
caller costs no database read, yet a revoke, a logout or an expiry is refused at once; the
events feed and the live list are answered without the database until the next write, and
a new event, an acknowledgement, a retention deletion or a camera's new state shows in the
very next response. Writes by another process are seen within the bounded age."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from authutil import add_user, logged_in
from fastapi.testclient import TestClient
from sqlalchemy import event

from affectlens.security.accounts import Accounts, Principal
from affectlens.security.guard import SecuritySettings
from affectlens.service.answers import MAX_AGE_S, Answers
from affectlens.service.api import create_app
from affectlens.service.hub import CameraLive, Hub
from affectlens.store import Store


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement the store's engine runs meanwhile."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_a_remembered_token_costs_no_query_and_a_revoke_ends_it_at_once(store: Store) -> None:
    """Both caches live long here (a minute): the test asks whether a remembered token and
    answer cost no query and whether a revoke ends them at once, not how long they are kept.
    At their defaults a loaded machine that took over half a second between the two requests
    saw the feed rebuilt in the background, as it should be (a CI run, 2026-12-07)."""
    client = TestClient(create_app(store, security=SecuritySettings(principal_cache_s=60.0)))
    client.app.state.services.answers.max_age_s = 60.0
    accounts = Accounts(store)
    admin, _ = accounts.add_token("admin", "admin", "tests")
    value, record = accounts.add_token("reader", "auditor", "tests")
    reader = {"Authorization": f"Bearer {value}"}
    assert client.get("/api/events", headers=reader).status_code == 200
    with statements(store) as seen:
        assert client.get("/api/events", headers=reader).status_code == 200
    assert seen == []  # neither the token nor the feed was read again
    answer = client.delete(f"/api/tokens/{record.id}",
                           headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code in (200, 204), answer.text
    assert client.get("/api/events", headers=reader).status_code == 401


def test_a_revoke_by_another_process_is_seen_within_the_cache_time(url: str) -> None:
    store = Store(url)
    try:
        client = TestClient(create_app(store, security=SecuritySettings(principal_cache_s=0.5)))
        value, record = Accounts(store).add_token("reader", "auditor", "tests")
        reader = {"Authorization": f"Bearer {value}"}
        assert client.get("/api/events", headers=reader).status_code == 200
        other = Store(url)  # the command line: its writes do not reach this store's memory
        Accounts(other).revoke_token(record.id)
        other.engine.dispose()
        time.sleep(0.6)
        assert client.get("/api/events", headers=reader).status_code == 401
    finally:
        store.engine.dispose()


def test_a_logout_and_an_expired_session_are_refused_at_once(store: Store) -> None:
    clock = [datetime.now(UTC)]
    app = create_app(store, security=SecuritySettings(clock=lambda: clock[0]))
    client = TestClient(app)
    logged_in(client, add_user(store, "staff", "nurse"))
    assert client.get("/api/live").status_code == 200
    clock[0] += timedelta(hours=13)  # past the session's lifetime, no write in between
    assert client.get("/api/live").status_code == 401
    clock[0] = datetime.now(UTC)
    logged_in(client, "nurse")
    assert client.get("/api/live").status_code == 200
    assert client.post("/api/auth/logout").status_code in (200, 204)
    assert client.get("/api/live").status_code == 401


def test_the_feed_shows_each_write_in_the_next_response(store: Store) -> None:
    client = TestClient(create_app(store))
    client.headers["Authorization"] = f"Bearer {Accounts(store).add_token('s', 'staff', 't')[0]}"
    camera = store.add_camera("room", "file:///room.mp4", "care_safety")
    started = datetime.now(UTC) - timedelta(minutes=5)
    first = store.record_event(camera.id, "fall", started, 0.9)
    assert [e["id"] for e in client.get("/api/events?limit=50").json()] == [first.id]
    second = store.record_event(camera.id, "long_lie", started + timedelta(minutes=1), 0.8)
    assert [e["id"] for e in client.get("/api/events?limit=50").json()] == [second.id, first.id]
    answer = client.post(f"/api/events/{first.id}/acknowledge", json={"comment": "seen"})
    assert answer.status_code == 200
    shown = {e["id"]: e for e in client.get("/api/events?limit=50").json()}
    assert shown[first.id]["comment"] == "seen" and shown[first.id]["acknowledged_at"]
    store.end_open_events(datetime.now(UTC))
    assert all(e["ended_at"] for e in client.get("/api/events?limit=50").json())
    # Other questions are other answers.
    assert [e["id"] for e in client.get("/api/events?limit=1").json()] == [second.id]
    assert client.get("/api/events?kind=fall").json()[0]["id"] == first.id
    store.delete_camera(camera.id)  # its events go with it (retention deletes alike)
    assert client.get("/api/events?limit=50").json() == []


def test_a_write_by_another_process_shows_within_the_bounded_age(url: str) -> None:
    store = Store(url)
    try:
        client = TestClient(create_app(store))
        token = Accounts(store).add_token("s", "staff", "t")[0]
        client.headers["Authorization"] = f"Bearer {token}"
        camera = store.add_camera("room", "file:///room.mp4", "care_safety")
        assert client.get("/api/events").json() == []
        other = Store(url)
        other.record_event(camera.id, "fall", datetime.now(UTC), 0.9)
        other.engine.dispose()
        time.sleep(MAX_AGE_S + 0.1)
        assert len(client.get("/api/events").json()) == 1
    finally:
        store.engine.dispose()


def test_live_shows_a_new_state_and_a_new_camera_at_once(store: Store) -> None:
    hub = Hub()
    client = TestClient(create_app(store, hub))
    client.headers["Authorization"] = f"Bearer {Accounts(store).add_token('s', 'staff', 't')[0]}"
    camera = store.add_camera("room", "file:///room.mp4", "care_safety")
    assert [c["online"] for c in client.get("/api/live").json()] == [None]
    hub.set_state(CameraLive(camera.id, True, "", 5.0, 2, datetime.now(UTC)))
    assert [c["online"] for c in client.get("/api/live").json()] == [True]
    hub.set_state(CameraLive(camera.id, False, "timeout", 0.0, 0, datetime.now(UTC)))
    assert client.get("/api/live").json()[0]["message"] == "timeout"
    store.add_camera("hall", "file:///hall.mp4", "care_safety")
    assert [c["name"] for c in client.get("/api/live").json()] == ["room", "hall"]


@pytest.mark.parametrize("path", ["/api/events?limit=50", "/api/live"])
def test_a_kept_answer_is_the_json_a_model_would_give(store: Store, path: str) -> None:
    """The bytes sent are what FastAPI made before: same fields, same times, valid JSON."""
    client = TestClient(create_app(store))
    client.headers["Authorization"] = f"Bearer {Accounts(store).add_token('s', 'staff', 't')[0]}"
    camera = store.add_camera("salle à manger", "file:///room.mp4", "care_safety")
    store.record_event(camera.id, "fall", datetime(2026, 12, 1, 9, 30, tzinfo=UTC), 0.5)
    answer = client.get(path)
    assert answer.headers["content-type"] == "application/json"
    body = json.loads(answer.content)
    if path == "/api/live":
        assert body[0]["name"] == "salle à manger"
    else:
        assert body[0]["started_at"] == "2026-12-01T09:30:00Z" and body[0]["clip"] is False


def test_an_answer_past_half_its_age_is_sent_at_once_and_built_again_behind(store: Store
                                                                             ) -> None:
    """Stale-while-revalidate: no caller waits for the database for a question asked
    before; the answer sent is never older than MAX_AGE_S."""
    answers = Answers(store, max_age_s=0.2)
    built: list[int] = []
    gate = threading.Event()

    def build() -> bytes:
        built.append(len(built))
        if len(built) > 1:
            gate.wait(5)  # the rebuild is slow: callers must not wait for it
        return str(len(built)).encode()

    async def scenario() -> None:
        assert (await answers.answer("q", build)).body == b"1"
        time.sleep(0.12)  # past half its age, not yet past it
        started = time.monotonic()
        sent = [await answers.answer("q", build) for _ in range(5)]
        assert time.monotonic() - started < 0.05  # none waited for the slow rebuild
        await asyncio.sleep(0.05)  # the rebuild starts in a worker thread
        assert {r.body for r in sent} == {b"1"} and len(built) == 2  # one rebuild
        gate.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if answers.kept("q") == b"2":
                break
        assert (await answers.answer("q", build)).body == b"2"
        time.sleep(0.25)  # past its age: the next caller waits for a fresh one
        assert (await answers.answer("q", build)).body == b"3"

    asyncio.run(scenario())


def test_a_burst_with_one_unknown_token_asks_the_database_once(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    value, _ = Accounts(store).add_token("reader", "auditor", "tests")
    app = create_app(store)
    looked_up: list[str] = []
    real = Accounts.principal

    def principal(self: Accounts, via: str, secret: str) -> Principal | None:
        looked_up.append(via)
        time.sleep(0.05)  # a slow database: the others arrive meanwhile
        return real(self, via, secret)

    monkeypatch.setattr(Accounts, "principal", principal)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = await asyncio.gather(*(client.get(
                "/api/events", headers={"Authorization": f"Bearer {value}"})
                for _ in range(20)))
        return [a.status_code for a in answers]

    assert asyncio.run(burst()) == [200] * 20
    assert looked_up == ["token"]
