"""Webhook alerts against a real HTTP receiver on 127.0.0.1: signatures, idempotency keys,
retries, dead letters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from netutil import Receiver, free_port

from affectlens.service.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    WebhookTarget,
    verify,
)
from affectlens.store import Store
from affectlens.store.db import Alert

SECRET = "s3cret-for-tests"


@pytest.fixture
def event(store: Store) -> Alert:
    """The start alert of a stored distress event."""
    camera = store.add_camera("hall", "rtsp://h/s", "care_safety")
    return Alert.of(store.record_event(camera.id, "distress",
                                       datetime(2026, 11, 27, 9, tzinfo=UTC), 0.83,
                                       key="run-1:1:distress:4"))


def sender_for(store: Store, url: str, waits: list[float]) -> WebhookSender:
    target = WebhookTarget(url, SECRET, backoff_s=(0.5, 1.0, 2.0))
    return WebhookSender(store, [target], sleep=waits.append)


def test_delivered_signed_json(store: Store, event) -> None:
    receiver, waits = Receiver([]), []
    try:
        assert sender_for(store, receiver.url, waits).send(event) == {receiver.url: True}
    finally:
        receiver.close()
    ((headers, body),) = receiver.requests
    assert verify(SECRET, body, headers[SIGNATURE_HEADER])
    assert not verify("another secret", body, headers[SIGNATURE_HEADER])
    sent = json.loads(body)["event"]
    assert sent["kind"] == "distress" and sent["confidence"] == 0.83
    assert sent["started_at"] == "2026-11-27T09:00:00+00:00"
    assert headers["X-Affectlens-Event"] == "distress" and waits == []
    # The receiver's handle on duplicates: in a header and, signed, in the body.
    assert headers[IDEMPOTENCY_HEADER] == "run-1:1:distress:4/started"
    assert json.loads(body)["idempotency_key"] == "run-1:1:distress:4/started"


def test_server_errors_are_retried_with_backoff(store: Store, event) -> None:
    receiver, waits = Receiver([500, 503]), []
    try:
        assert sender_for(store, receiver.url, waits).send(event)[receiver.url]
    finally:
        receiver.close()
    assert len(receiver.requests) == 3 and waits == [0.5, 1.0]
    assert store.dead_letters() == []
    deliveries = {h["X-Affectlens-Delivery"] for h, _ in receiver.requests}
    assert len(deliveries) == 1  # one delivery id across retries: receivers can de-duplicate
    assert {h[IDEMPOTENCY_HEADER] for h, _ in receiver.requests} == {event.key}


def test_after_the_last_retry_a_dead_letter_is_kept(store: Store, event) -> None:
    receiver, waits = Receiver([500] * 10), []
    try:
        assert not sender_for(store, receiver.url, waits).send(event)[receiver.url]
    finally:
        receiver.close()
    assert len(receiver.requests) == 4 and waits == [0.5, 1.0, 2.0]
    (letter,) = store.dead_letters()
    assert letter.channel == "webhook" and letter.event_id == event.event_id
    assert letter.attempts == 4 and letter.last_error == "HTTP 500"
    assert json.loads(letter.payload)["event"]["id"] == event.event_id


def test_a_rejected_request_is_not_retried(store: Store, event) -> None:
    receiver, waits = Receiver([400]), []
    try:
        assert not sender_for(store, receiver.url, waits).send(event)[receiver.url]
    finally:
        receiver.close()
    assert len(receiver.requests) == 1 and waits == []
    assert store.dead_letters()[0].last_error == "HTTP 400"


def test_an_unreachable_receiver_ends_as_a_dead_letter(store: Store, event) -> None:
    port = free_port()
    waits: list[float] = []
    assert not sender_for(store, f"http://127.0.0.1:{port}/hook", waits).send(event).popitem()[1]
    (letter,) = store.dead_letters()
    assert letter.attempts == 4 and "Connect" in letter.last_error
