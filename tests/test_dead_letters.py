"""Issue 17 item 4: dead letters are retried, shown to admins and replayed by hand, and a
shutdown is bounded. A real HTTP receiver on 127.0.0.1 that fails (500, then hangs past the
sender's timeout) and recovers; the alert dispatcher as `affectlens serve` runs it."""

from __future__ import annotations

import json
import logging
import re
import signal
import time
from datetime import UTC, datetime

import pytest
from authutil import bearer
from fastapi.testclient import TestClient
from netutil import Receiver, free_port
from test_serve import Served
from waiting import wait_until

from affectlens.security.audit import AuditLog
from affectlens.service.alerts import AlertDispatcher, RetryPolicy
from affectlens.service.api import create_app
from affectlens.service.routers.dead_letters import DEAD_LETTER_REPLAY
from affectlens.service.site import AlertsConfig
from affectlens.service.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    WebhookTarget,
    verify,
)
from affectlens.store import Store
from affectlens.store.db import sqlite_url
from affectlens.store.dead_letters import DeadLetters

SECRET = "s3cret-for-tests"
T0 = datetime(2026, 12, 4, 9, tzinfo=UTC)
FAST = RetryPolicy(retry_for_s=60, first_wait_s=0.2, max_wait_s=0.4)


class FlakyReceiver(Receiver):
    """Answers every POST as ``mode`` says now: ``fail`` (500), ``hang`` (answers nothing for
    ``hang_s``) or ``ok`` (200); records each request with the mode it met."""

    def __init__(self, mode: str = "fail", hang_s: float = 2.0) -> None:
        self.mode, self.hang_s = mode, hang_s
        self.met: list[tuple[str, dict, bytes]] = []
        super().__init__([])

    def answer(self, headers: dict, body: bytes) -> int:
        mode = self.mode
        self.met.append((mode, headers, body))
        if mode == "hang":
            time.sleep(self.hang_s)
        return 200 if mode == "ok" else 500

    def taken(self) -> list[tuple[dict, bytes]]:
        """The requests answered 200."""
        return [(headers, body) for mode, headers, body in self.met if mode == "ok"]


@pytest.fixture
def receiver() -> FlakyReceiver:
    receiver = FlakyReceiver()
    yield receiver
    receiver.close()


def queue_alerts(store: Store, n: int = 1) -> list[str]:
    """``n`` fall events stored with their start alerts in the outbox; their keys."""
    camera = store.add_camera("hall", "rtsp://h/s", "care_safety")
    keys = [f"run:1:fall:{i}" for i in range(n)]
    for key in keys:
        store.record_event_once(key, camera.id, "fall", T0, 0.9, alert=True)
    return [f"{key}/started" for key in keys]


def sender(store: Store, url: str, timeout_s: float = 0.5,
           backoff_s: tuple[float, ...] = (0.05,) * 4) -> WebhookSender:
    return WebhookSender(store, [WebhookTarget(url, SECRET, backoff_s, timeout_s)])


def test_a_receiver_that_failed_then_hung_gets_the_alert_once_it_recovers(
    store: Store, receiver: FlakyReceiver
) -> None:
    (key,) = queue_alerts(store)
    dispatcher = AlertDispatcher(store, [sender(store, receiver.url)], poll_s=0.1,
                                 retry=FAST).start()
    try:
        (letter,) = wait_until(store.dead_letters, 10, "the alert is a dead letter")
        assert letter.attempts == 5 and letter.status == "retrying"
        receiver.mode = "hang"  # longer than the sender's 0.5 s timeout
        wait_until(lambda: store.dead_letters()[0].retries >= 2, 15, "retried while hung")
        assert "Timeout" in store.dead_letters()[0].last_error
        assert store.dead_letters()[0].status == "retrying"
        receiver.mode = "ok"
        wait_until(lambda: store.dead_letters()[0].status == "delivered", 15, "delivered")
        time.sleep(1.0)  # further rounds send nothing more
    finally:
        dispatcher.stop(5)
    ((headers, body),) = receiver.taken()
    assert headers[IDEMPOTENCY_HEADER] == key == json.loads(body)["idempotency_key"]
    assert verify(SECRET, body, headers[SIGNATURE_HEADER])
    assert {h[IDEMPOTENCY_HEADER] for _, h, _ in receiver.met} == {key}
    assert [row.outcome for row in store.outbox()] == ["sent"]
    assert store.dead_letters()[0].done_at is not None


def test_a_target_that_keeps_failing_is_tried_once_a_round_not_once_a_letter(
    store: Store, receiver: FlakyReceiver
) -> None:
    """Three letters to one dead receiver: each round tries one, and the others wait as long;
    new alerts to a target whose last one became a dead letter get one attempt, not five."""
    queue_alerts(store, 3)
    dispatcher = AlertDispatcher(store, [sender(store, receiver.url)], retry=FAST)
    assert dispatcher.deliver() == 3
    assert [d.attempts for d in store.dead_letters()] == [5, 1, 1]
    assert len(receiver.met) == 7
    time.sleep(FAST.first_wait_s)
    assert dispatcher.retry_dead_letters() == 0
    assert len(receiver.met) == 8  # one probe for the three
    first, *others = store.dead_letters()
    assert first.retries == 1 and all(d.retries == 0 for d in others)
    assert {d.next_attempt_at for d in others} == {first.next_attempt_at}
    assert dispatcher.retry_dead_letters() == 0 and len(receiver.met) == 8  # not yet due
    receiver.mode = "ok"
    time.sleep(FAST.wait(1))
    assert dispatcher.retry_dead_letters() == 3
    assert len(receiver.taken()) == 3


def test_letters_past_their_retry_time_are_given_up_together(
    store: Store, receiver: FlakyReceiver
) -> None:
    """One probe fails: the target's other letters whose time is over fail with it, untried,
    instead of one a round; a replay that came in during the attempt is not undone."""
    queue_alerts(store, 3)
    over = RetryPolicy(retry_for_s=1.0, first_wait_s=1.2, max_wait_s=1.2)
    dispatcher = AlertDispatcher(store, [sender(store, receiver.url)], retry=over)
    dispatcher.deliver()
    time.sleep(over.first_wait_s)
    tried = len(receiver.met)
    first = store.dead_letters()[0]
    DeadLetters(store).replay(first.id)  # after the dispatcher read it, say
    assert not DeadLetters(store).retry_failed(first, "HTTP 500", None)
    assert dispatcher.retry_dead_letters() == 0
    assert len(receiver.met) == tried + 1
    letters = store.dead_letters()
    assert [d.status for d in letters] == ["retrying", "failed", "failed"]
    assert "not tried again" in letters[2].last_error and letters[2].attempts == 1
    assert letters[0].next_attempt_at is not None  # the replayed one: waits, not given up


def test_a_letter_is_given_up_after_retry_for_s_and_a_hand_replay_sends_it_once(
    store: Store, receiver: FlakyReceiver
) -> None:
    (key,) = queue_alerts(store)
    short = RetryPolicy(retry_for_s=0.5, first_wait_s=0.1, max_wait_s=0.1)
    dispatcher = AlertDispatcher(store, [sender(store, receiver.url)], poll_s=0.1,
                                 retry=short).start()
    app = create_app(store, on_replay=dispatcher.wake)
    admin = TestClient(app, headers=bearer(store, "admin"))
    try:
        wait_until(lambda: store.dead_letters() and store.dead_letters()[0].status == "failed",
                   15, "given up")
        receiver.mode = "ok"
        time.sleep(0.5)
        assert receiver.taken() == []  # given up: not retried any more, but kept
        (shown,) = admin.get("/api/dead-letters", params={"status": "failed"}).json()
        assert shown["idempotency_key"] == key and shown["kind"] == "fall"
        assert "HTTP 500" in shown["last_error"] and shown["attempts"] > 5
        answer = admin.post(f"/api/dead-letters/{shown['id']}/replay")
        assert answer.status_code == 202 and answer.json()["status"] == "retrying"
        wait_until(lambda: store.dead_letters()[0].status == "delivered", 10, "replayed")
        time.sleep(0.5)
        again = admin.post(f"/api/dead-letters/{shown['id']}/replay")
        assert again.status_code == 409 and "delivered already" in again.json()["detail"]
        assert admin.post("/api/dead-letters/999999/replay").status_code == 404
    finally:
        dispatcher.stop(5)
    ((headers, _),) = receiver.taken()
    assert headers[IDEMPOTENCY_HEADER] == key
    (record,) = [r for r in AuditLog(store).records() if r.action == DEAD_LETTER_REPLAY]
    assert record.target == f"dead_letter:{shown['id']}"
    assert json.loads(record.detail)["status_before"] == "failed"
    assert admin.get("/api/dead-letters").json()[0]["status"] == "delivered"


def test_shutdown_waits_no_longer_than_its_bound_and_keeps_what_is_queued(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    keys = queue_alerts(store, 3)
    hung = FlakyReceiver("hang", hang_s=3.0)
    try:
        dispatcher = AlertDispatcher(store, [sender(store, hung.url, timeout_s=2.0,
                                                    backoff_s=(1.0,) * 4)],
                                     poll_s=0.1, retry=FAST).start()
        wait_until(lambda: hung.met, 5, "the first attempt is under way")
        began = time.monotonic()
        with caplog.at_level(logging.INFO, logger="affectlens.service.alerts"):
            left = dispatcher.stop(0.5)
        assert time.monotonic() - began < 1.5
        assert left is not None and left.outbox == 3 and left.dead_letters == 0
        assert "with 3 alerts left queued" in caplog.text
        # The attempt under way times out (2 s); interrupted, the thread makes no dead letter
        # and takes up no other alert.
        wait_until(lambda: not dispatcher.running, 4, "the dispatcher's thread has ended")
        assert store.dead_letters() == []
        assert [a.key for a in store.pending_alerts()] == keys
    finally:
        hung.close()
    recovered = FlakyReceiver("ok")  # the next start sends them
    try:
        assert AlertDispatcher(store, [sender(store, recovered.url)]).deliver() == 3
        assert [h[IDEMPOTENCY_HEADER] for h, _ in recovered.taken()] == keys
    finally:
        recovered.close()


def test_dead_letters_are_listed_newest_first_with_their_targets_passwords_hidden(
    store: Store
) -> None:
    letters = DeadLetters(store)
    store.add_dead_letter("webhook", "https://u:pw@hook.example/x?token=abc", None, "{}", 5, "e")
    store.add_dead_letter("mqtt", "mqtt://b:1883/affectlens/cameras/1/events/fall", None,
                          "not json", 1, "refused")
    assert [d.channel for d in letters.list()] == ["mqtt", "webhook"]
    admin = TestClient(create_app(store), headers=bearer(store, "admin"))
    shown = admin.get("/api/dead-letters").json()
    assert shown[1]["target"] == "https://u:***@hook.example/x?token=***"
    assert shown[0]["kind"] is None and shown[0]["idempotency_key"] is None
    assert admin.get("/api/dead-letters", params={"status": "lost"}).status_code == 422


def test_alert_settings_have_finite_ranges() -> None:
    assert AlertsConfig().retry_for_s == 86400
    for bad in ({"retry_for_s": float("inf")}, {"retry_for_s": 10}, {"stop_wait_s": 601},
                {"retry_first_wait_s": 60, "retry_max_wait_s": 30}):
        with pytest.raises(ValueError):
            AlertsConfig(**bad)


def test_serve_stops_within_stop_wait_s_and_says_what_it_left_queued(tmp_path) -> None:
    """`affectlens serve` with a webhook that hangs: SIGTERM returns although an alert is
    under way, the log says how many alerts were left queued, and they are in the store."""
    port, hung = free_port(), FlakyReceiver("hang", hang_s=8.0)
    config = tmp_path / "site.yaml"
    config.write_text(f"""
database_url: site.db
port: {port}
workers: {{poll_s: 0.5, stop_timeout_s: 5}}
alerts:
  webhooks: [{{url: "{hung.url}", secret: "{SECRET}", backoff_s: [1, 1, 1, 1], timeout_s: 6}}]
  stop_wait_s: 1
cameras:
  - name: garden
    url: "file://{tmp_path / 'not-there.mp4'}"
    purpose: care_safety
""")
    served = Served(config, port, sqlite_url(tmp_path / "site.db"))
    try:
        served.wait_ready()
        wait_until(lambda: hung.met, 30, "the camera_offline alert is under way")
        assert served.stop(signal.SIGTERM, timeout=30) == 0, served.output()
    finally:
        if served.process.poll() is None:
            served.process.kill()
        hung.close()
    found = re.search(r"alerts: stopped after ([\d.]+) s \(at most 1 s\) with (\d+) alerts "
                      r"left queued", served.output())
    assert found, served.output()
    assert float(found[1]) < 1.5 and int(found[2]) >= 1
    store = Store(sqlite_url(tmp_path / "site.db"))
    assert len(store.pending_alerts()) == int(found[2]) and store.dead_letters() == []
    store.engine.dispose()
