"""Phone and chat notifications through Apprise, against a real HTTP receiver on 127.0.0.1:
Apprise's ``json://`` service posts there as it would to any JSON endpoint. Events come in as
a camera worker's messages, through the Recorder, the outbox and the alert dispatcher, as in
``affectlens serve``; a failing receiver gives dead letters that are retried."""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from netutil import Receiver
from test_dead_letters import FAST, FlakyReceiver
from typer.testing import CliRunner
from waiting import wait_until

from affectlens.cli import app
from affectlens.security.audit import AuditLog
from affectlens.service.alerts import AlertDispatcher
from affectlens.service.messages import EventEnded, EventStarted
from affectlens.service.notify import AppriseSender, AppriseTarget
from affectlens.service.recorder import Recorder
from affectlens.service.site import SiteConfigError, load_site
from affectlens.store import Store
from affectlens.store.db import StoreError

T0 = datetime(2026, 12, 4, 9, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0 a blurred snapshot \xff\xd9"
PASSWORD = "hunter2-secret"


def apprise_url(receiver: Receiver, password: str | None = None) -> str:
    """Apprise's JSON service aimed at the receiver (its URL, with json:// for http://)."""
    user = f"staff:{password}@" if password else ""
    return receiver.url.replace("http://", f"json://{user}")


def flow(store: Store, tmp_path: Path, targets: list[AppriseTarget], blur: bool = True):
    """A camera, the Recorder writing snapshots and the outbox, the dispatcher sending."""
    camera = store.add_camera("Lounge", "rtsp://l/s", "care_safety", blur_faces=blur)
    sender = AppriseSender(store, targets, snapshots=tmp_path)
    dispatcher = AlertDispatcher(store, [sender], retry=FAST)
    return camera, sender, dispatcher, Recorder(store, alerts=dispatcher, snapshots=tmp_path)


def fall(camera_id: int, key: str = "run:1:fall:1", kind: str = "fall") -> EventStarted:
    return EventStarted(camera_id, key, kind, T0, 0.91, 2, T0, snapshot=JPEG)


def posted(receiver: Receiver) -> list[dict]:
    return [json.loads(body) for _, body in receiver.requests]


def test_a_fall_notifies_with_its_blurred_snapshot_and_its_end_without(
        store: Store, tmp_path: Path) -> None:
    receiver = Receiver([])
    try:
        camera, _, dispatcher, recorder = flow(
            store, tmp_path, [AppriseTarget("night staff", apprise_url(receiver))])
        recorder.handle(fall(camera.id))
        assert dispatcher.deliver() == 1
        recorder.handle(EventEnded(camera.id, "run:1:fall:1", T0))
        assert dispatcher.deliver() == 1
    finally:
        receiver.close()
    started, ended = posted(receiver)
    assert started["title"] == "Fall: Lounge"
    assert "Fall on camera Lounge at 2026-12-04 09:00:00 UTC (confidence 0.91)" in (
        started["message"])
    assert started["type"] == "failure"  # Apprise's most urgent
    (attachment,) = started["attachments"]
    assert base64.b64decode(attachment["base64"]) == JPEG
    assert attachment["mimetype"] == "image/jpeg"
    assert ended["title"] == "Fall ended: Lounge" and not ended.get("attachments")
    assert "track" not in json.dumps([started, ended]).lower()  # no one's track, nor identity
    assert store.dead_letters() == []
    (sent,) = [r for r in AuditLog(store).records() if r.action == "media.event_snapshot_sent"]
    assert sent.actor == "alerts" and "json://127.0.0.1" in sent.detail


def test_rules_choose_kinds_and_cameras(store: Store, tmp_path: Path) -> None:
    falls_only, hall_only, everything = Receiver([]), Receiver([]), Receiver([])
    try:
        camera, _, dispatcher, recorder = flow(store, tmp_path, [
            AppriseTarget("falls", apprise_url(falls_only), kinds=frozenset({"fall"})),
            AppriseTarget("hall", apprise_url(hall_only), cameras=frozenset({"Hall"})),
            AppriseTarget("all", apprise_url(everything), attach_snapshot=False)])
        recorder.handle(fall(camera.id))
        recorder.handle(fall(camera.id, "run:1:distress:1", "distress"))
        assert dispatcher.deliver() == 2
    finally:
        for receiver in (falls_only, hall_only, everything):
            receiver.close()
    assert [p["title"] for p in posted(falls_only)] == ["Fall: Lounge"]
    assert posted(hall_only) == []
    assert [p["title"] for p in posted(everything)] == ["Fall: Lounge", "Distress: Lounge"]
    assert all(not p.get("attachments") for p in posted(everything))  # attach_snapshot off


def test_no_snapshot_leaves_from_a_camera_that_does_not_blur_faces(
        store: Store, tmp_path: Path) -> None:
    receiver = Receiver([])
    try:
        camera, _, dispatcher, recorder = flow(
            store, tmp_path, [AppriseTarget("staff", apprise_url(receiver))], blur=False)
        recorder.handle(fall(camera.id))
        assert dispatcher.deliver() == 1
    finally:
        receiver.close()
    (started,) = posted(receiver)
    assert started["title"] == "Fall: Lounge" and not started.get("attachments")


def test_a_failing_service_gives_a_dead_letter_retried_until_delivered_without_secrets(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    receiver = FlakyReceiver("fail")
    caplog.set_level(logging.DEBUG)
    try:
        url = apprise_url(receiver, PASSWORD)
        camera, sender, dispatcher, recorder = flow(
            store, tmp_path, [AppriseTarget("night staff", url)])
        recorder.handle(fall(camera.id))
        assert dispatcher.deliver() == 1  # handed to the sender, which made a dead letter
        (letter,) = store.dead_letters()
        assert letter.channel == "apprise" and letter.status == "retrying"
        assert letter.target.startswith("night staff: json://staff:***@127.0.0.1:")
        assert "500" in letter.last_error
        assert json.loads(letter.payload)["idempotency_key"] == "run:1:fall:1/started"
        wait_until(lambda: dispatcher.retry_dead_letters() == 0
                   and store.dead_letters()[0].retries >= 1, 10, "retried, failing again")
        receiver.mode = "ok"
        wait_until(lambda: dispatcher.retry_dead_letters() == 1, 10, "delivered on retry")
    finally:
        receiver.close()
    (letter,) = store.dead_letters()
    assert letter.status == "delivered"
    ((_, body),) = receiver.taken()
    delivered = json.loads(body)
    assert delivered["title"] == "Fall: Lounge"
    assert base64.b64decode(delivered["attachments"][0]["base64"]) == JPEG  # attached again
    every_row = json.dumps([[str(v) for v in vars(d).values()] for d in store.dead_letters()])
    assert PASSWORD not in every_row and PASSWORD not in caplog.text
    assert PASSWORD not in repr(sender.targets)


def test_a_resend_to_a_url_no_longer_configured_says_so(store: Store, tmp_path: Path) -> None:
    receiver = FlakyReceiver("fail")
    try:
        camera, _, dispatcher, recorder = flow(
            store, tmp_path, [AppriseTarget("old rule", apprise_url(receiver))])
        recorder.handle(fall(camera.id))
        dispatcher.deliver()
    finally:
        receiver.close()
    (letter,) = store.dead_letters()
    other = AppriseSender(store, [AppriseTarget("new rule", "json://127.0.0.1:9/x")])
    assert other.resend(letter) == ("no Apprise URL of this rule reads like this in the site "
                                    "config now")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_apprise_urls_are_checked_at_load_and_never_echoed(tmp_path: Path) -> None:
    good = write(tmp_path, "alerts:\n  rules:\n    - name: night staff\n      kinds: [fall]\n"
                           "      apprise: ['ntfy://ntfy.example.org/care-falls',\n"
                           f"                'tgram://123456789:{PASSWORD}/4242/']\n")
    site = load_site(good, {})
    (rule,) = site.alerts.rules
    assert rule.kinds == ["fall"] and len(rule.apprise) == 2 and rule.attach_snapshot
    assert PASSWORD not in repr(site)
    bad = write(tmp_path, "alerts:\n  rules:\n    - name: staff\n"
                          f"      apprise: ['nosuchservice://{PASSWORD}@host/x']\n")
    with pytest.raises(SiteConfigError) as raised:
        load_site(bad, {})
    assert str(raised.value) == (
        f"{bad}: alerts.rules[0].apprise[0]: not a URL Apprise can notify through (scheme "
        "'nosuchservice'; the URL itself is not shown: it may hold a secret); see Apprise's "
        "list of services and their URL forms")
    result = CliRunner().invoke(app, ["serve", "--config", str(bad), "--check"])
    assert result.exit_code == 2 and "alerts.rules[0].apprise[0]: not a URL Apprise" in (
        result.output)
    assert PASSWORD not in result.output
    for text, expected in [
        ("      apprise: []\n", "apprise: List should have at least 1 item"),
        ("      apprise: ['ntfy://h/t']\n      kinds: [sadness]\n", "kinds[0]: Input should be"),
    ]:
        with pytest.raises(SiteConfigError, match=re.escape(expected)):
            load_site(write(tmp_path, f"alerts:\n  rules:\n    - name: x\n{text}"), {})


def test_urls_that_read_alike_get_their_own_dead_letters(store: Store, tmp_path: Path) -> None:
    """Two paths on one host (the label shows neither path): ``#2`` tells them apart, so
    each is a dead letter of its own, and both are delivered on retry."""
    receiver = FlakyReceiver("fail")
    try:
        base = apprise_url(receiver).removesuffix("/hook")
        camera, _, dispatcher, recorder = flow(store, tmp_path, [
            AppriseTarget("staff", f"{base}/b"), AppriseTarget("staff", f"{base}/a")])
        recorder.handle(fall(camera.id))
        dispatcher.deliver()
        first, second = store.dead_letters()
        host = base.removeprefix("json://")
        assert {first.target, second.target} == {f"staff: json://{host}",
                                                 f"staff: json://{host} #2"}
        receiver.mode = "ok"
        wait_until(lambda: dispatcher.retry_dead_letters() and all(
            d.status == "delivered" for d in store.dead_letters()), 10, "both delivered")
    finally:
        receiver.close()
    assert len(receiver.taken()) == 2


def test_a_store_that_fails_a_lookup_still_lets_the_notification_go(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The camera's name and the snapshot are details: without them (the database failed
    the lookup) the alert is still delivered, naming the camera by its number."""
    receiver = Receiver([])
    try:
        camera, sender, dispatcher, recorder = flow(
            store, tmp_path, [AppriseTarget("staff", apprise_url(receiver))])
        recorder.handle(fall(camera.id))

        def away(*_: object) -> None:
            raise StoreError("the database is away")

        sender.store = Store.__new__(Store)  # the sender's own view fails, the outbox's not
        sender.store.camera = sender.store.event = away
        assert dispatcher.deliver() == 1
    finally:
        receiver.close()
    (started,) = posted(receiver)
    assert started["title"] == f"Fall: camera {camera.id}" and not started.get("attachments")
    assert "cannot be looked up" in caplog.text
