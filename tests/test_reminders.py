"""Reminders and escalation (issue 17, item 5): a fall or long lie still open and not
acknowledged is alerted again, through the outbox, to a real webhook receiver on 127.0.0.1,
and once to the second contact; acknowledging or ending it stops them; a restart resends
nothing already queued."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from netutil import Receiver, free_port
from test_serve import Served, serve  # noqa: F401 (the fixture)
from waiting import wait_until

from affectlens.service.alerts import AlertDispatcher
from affectlens.service.reminders import ReminderJob, check_every_s
from affectlens.service.site import AlertsConfig
from affectlens.service.webhook import IDEMPOTENCY_HEADER, WebhookSender, WebhookTarget
from affectlens.store import Store
from affectlens.store.db import sqlite_url

SECRET = "s3cret-for-tests"
T0 = datetime(2026, 12, 5, 9, tzinfo=UTC)


def keys(receiver: Receiver) -> list[str]:
    return [headers[IDEMPOTENCY_HEADER] for headers, _ in receiver.requests]


@pytest.fixture
def receivers():
    usual, second = Receiver([]), Receiver([])
    yield usual, second
    usual.close()
    second.close()


def dispatcher(store: Store, usual: Receiver, second: Receiver) -> AlertDispatcher:
    escalate = WebhookSender(store, [WebhookTarget(second.url, SECRET)])
    escalate.channel = "escalate-webhook"
    return AlertDispatcher(store, [WebhookSender(store, [WebhookTarget(usual.url, SECRET)])],
                           escalation=[escalate])


def test_an_unacknowledged_fall_is_reminded_then_escalated_until_acknowledged(
        url: str, store: Store, receivers) -> None:
    usual, second = receivers
    camera = store.add_camera("lounge", "rtsp://h/s", "care_safety")
    fall = store.record_event_once("run:1:fall:3", camera.id, "fall", T0, 0.9, track_id=3,
                                   alert=True).event
    store.record_event_once("run:2:distress:5", camera.id, "distress", T0, 0.8, alert=True)
    ended = store.record_event_once("run:3:fall:7", camera.id, "fall", T0, 0.9,
                                    alert=True).event
    store.end_event_once(ended.key, T0 + timedelta(seconds=5), alert=True)
    alerts = dispatcher(store, usual, second)
    job = ReminderJob(store, remind_after_s=60, escalate_after_s=150)
    alerts.deliver()  # the starts and the end
    sent = len(usual.requests)

    assert job.check(T0 + timedelta(seconds=30)) == 0
    assert job.check(T0 + timedelta(seconds=61)) == 1  # the open fall only
    assert job.check(T0 + timedelta(seconds=70)) == 0  # queued once
    alerts.deliver()
    assert keys(usual)[sent:] == ["run:1:fall:3/reminder-1"] and second.requests == []
    body = json.loads(usual.requests[-1][1])
    assert body["phase"] == "reminder" and body["reminder"] == 1
    assert body["event"]["id"] == fall.id and body["event"]["ended_at"] is None

    assert job.check(T0 + timedelta(seconds=151)) == 2  # reminder 2, and the escalation
    alerts.deliver()
    assert keys(usual)[sent:] == ["run:1:fall:3/reminder-1", "run:1:fall:3/reminder-2"]
    assert keys(second) == ["run:1:fall:3/escalated"]  # the second contact gets only it
    assert json.loads(second.requests[0][1])["phase"] == "escalated"

    # A restart (a new store and job on the same database) resends nothing already queued.
    again = Store(url)
    try:
        assert ReminderJob(again, 60, 150).check(T0 + timedelta(seconds=170)) == 0
        assert dispatcher(again, usual, second).deliver() == 0
    finally:
        again.engine.dispose()

    store.acknowledge(fall.id, "carer")
    assert job.check(T0 + timedelta(seconds=400)) == 0  # acknowledged: no more
    alerts.deliver()
    assert len(keys(usual)) == sent + 2 and len(keys(second)) == 1


def test_a_reminder_queued_before_the_acknowledgement_is_not_sent(
        store: Store, receivers) -> None:
    usual, second = receivers
    camera = store.add_camera("hall", "rtsp://h/s", "care_safety")
    lie = store.record_event_once("run:1:long_lie:2", camera.id, "long_lie", T0, 0.9).event
    job = ReminderJob(store, remind_after_s=60, escalate_after_s=60)
    assert job.check(T0 + timedelta(seconds=61)) == 2
    store.acknowledge(lie.id, "nurse")
    assert dispatcher(store, usual, second).deliver() == 0
    assert usual.requests == [] and second.requests == []
    assert {row.outcome for row in store.outbox()} == {"expired"}


def test_the_service_thread_reminds_on_its_own(store: Store, receivers) -> None:
    usual, second = receivers
    camera = store.add_camera("room", "rtsp://h/s", "care_safety")
    store.record_event_once("run:1:fall:1", camera.id, "fall",
                            datetime.now(UTC) - timedelta(seconds=1), 0.9)
    alerts = dispatcher(store, usual, second).start()
    job = ReminderJob(store, remind_after_s=0.5, escalate_after_s=1.0,
                      wake=alerts.wake).start()
    try:
        deadline = time.monotonic() + 20
        while not (second.requests and len(usual.requests) >= 3) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        job.stop()
        alerts.stop(5)
    assert keys(second) == ["run:1:fall:1/escalated"]
    numbers = [int(k.rsplit("-", 1)[1]) for k in keys(usual)]
    assert len(numbers) >= 3 and numbers == sorted(set(numbers))  # each once, in order


def test_reminders_are_set_per_site_and_can_be_off() -> None:
    alerts = AlertsConfig()
    assert alerts.remind_after_minutes > 0 and alerts.escalate_after_minutes > 0
    off = AlertsConfig(remind_after_minutes=0, escalate_after_minutes=0)
    assert not ReminderJob(None, off.remind_after_minutes * 60,  # type: ignore[arg-type]
                           off.escalate_after_minutes * 60).enabled
    assert check_every_s(600, 1800) == 30.0 and check_every_s(0.4, 0) == 0.1
    with pytest.raises(ValueError):
        AlertsConfig(remind_after_minutes=-1)


def test_serve_reminds_and_escalates_an_unacknowledged_fall_until_acknowledged(
        tmp_path: Path, serve: Callable[..., Served]) -> None:  # noqa: F811
    """`affectlens serve` as a real process: a fall left open and unacknowledged is
    reminded to the site's webhook and escalated to the second contact's; acknowledging it
    through the API stops the reminders."""
    usual, second = Receiver([]), Receiver([])
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(
        f"database_url: site.db\nport: {port}\nworkers: {{poll_s: 0.5, io_timeout_s: 1}}\n"
        "cameras:\n"
        # Watched for falls: the supervisor ends the open falls of a camera nothing watches.
        f"  - {{name: Lounge, url: 'file://{tmp_path}/missing.mp4', purpose: care_safety,"
        " falls: {}}\n"
        "alerts:\n"
        "  remind_after_minutes: 0.01\n  escalate_after_minutes: 0.03\n"
        f"  webhooks: [{{url: '{usual.url}', secret: {SECRET}}}]\n"
        f"  escalation: {{webhooks: [{{url: '{second.url}', secret: {SECRET}}}]}}\n")
    database = sqlite_url(tmp_path / "site.db")

    def reminders() -> list[str]:
        return [k for k in keys(usual) if "/reminder-" in k]

    try:
        served = serve(config, port, database).wait_ready()
        store = Store(database)
        try:  # a fall the worker of a real camera would have stored: open, no alert yet
            (camera,) = store.cameras()
            fall = store.record_event_once("run:1:fall:3", camera.id, "fall",
                                           datetime.now(UTC), 0.9, track_id=3).event
        finally:
            store.engine.dispose()
        wait_until(lambda: len(reminders()) >= 2, 30, "two reminders")
        wait_until(lambda: keys(second), 30, "the escalation")
        assert keys(second) == ["run:1:fall:3/escalated"]
        response = httpx.post(f"{served.base}/api/events/{fall.id}/acknowledge",
                              json={"comment": "with her"}, headers=served.headers, timeout=10)
        assert response.status_code == 200, response.text
        time.sleep(1.0)  # one already on its way may still arrive
        after = len(reminders())
        time.sleep(2.0)  # more than three reminder intervals
        assert len(reminders()) == after
        assert len(set(reminders())) == len(reminders())  # never one twice
        assert keys(second) == ["run:1:fall:3/escalated"]
        assert served.stop() == 0
    finally:
        usual.close()
        second.close()
