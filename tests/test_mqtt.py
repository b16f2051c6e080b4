"""MQTT alerts through a real Mosquitto broker started for each test on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from netutil import free_port
from waiting import wait_until

from affectlens.service.mqtt import MqttPublisher
from affectlens.store import Store
from affectlens.store.db import Alert

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    """Mosquitto in a child process on a free port of 127.0.0.1."""

    def __init__(self, config_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        config = config_dir / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def need_mosquitto() -> None:
    if not Path(MOSQUITTO).exists():
        if os.environ.get("AFFECTLENS_REQUIRE_SERVICES") == "1":
            pytest.fail("mosquitto is not installed but services are required")
        pytest.skip("no mosquitto broker (Debian package mosquitto; .ci/run installs it)")


@pytest.fixture
def broker(tmp_path: Path) -> Broker:
    need_mosquitto()
    broker = Broker(tmp_path)
    yield broker
    broker.kill()


class Subscriber:
    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.received = threading.Event()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, _client: mqtt.Client, _data: object, message: mqtt.MQTTMessage) -> None:
        self.messages.append((message.topic, json.loads(message.payload)))
        self.received.set()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _events(store: Store) -> tuple[Alert, ...]:
    """Start alerts of three stored events."""
    hall = store.add_camera("hall", "rtsp://h/s", "care_safety")
    lounge = store.add_camera("lounge", "rtsp://l/s", "care_safety")
    at = datetime(2026, 11, 27, 9, tzinfo=UTC)
    return tuple(Alert.of(e) for e in (store.record_event(hall.id, "distress", at, 0.8),
                                       store.record_event(lounge.id, "distress", at, 0.7),
                                       store.record_event(hall.id, "camera_offline", at, 1.0)))


def test_events_arrive_on_topics_per_camera_and_kind(store: Store, broker: Broker) -> None:
    hall_distress, lounge_distress, hall_offline = _events(store)
    only_hall = Subscriber(broker.port, f"affectlens/cameras/{hall_distress.camera_id}/events/#")
    only_distress = Subscriber(broker.port, "affectlens/cameras/+/events/distress")
    publisher = MqttPublisher(store, "127.0.0.1", broker.port)
    try:
        assert all(publisher.publish(e) for e in (hall_distress, lounge_distress, hall_offline))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (len(only_hall.messages) < 2
                                               or len(only_distress.messages) < 2):
            time.sleep(0.05)
    finally:
        publisher.close()
        only_hall.close()
        only_distress.close()
    assert sorted(m["event"]["kind"] for _, m in only_hall.messages) == [
        "camera_offline", "distress"]
    assert sorted(m["event"]["camera_id"] for _, m in only_distress.messages) == sorted(
        [hall_distress.camera_id, lounge_distress.camera_id])
    topic, message = only_distress.messages[0]
    assert topic.endswith("/events/distress") and message["event"]["confidence"] in (0.8, 0.7)
    sent = {m["idempotency_key"] for _, m in only_hall.messages}  # receivers drop a copy by it
    assert sent == {hall_distress.key, hall_offline.key}
    assert store.dead_letters() == []


def test_a_broker_that_is_down_gives_dead_letters(store: Store) -> None:
    event, *_ = _events(store)
    publisher = MqttPublisher(store, "127.0.0.1", free_port(), timeout_s=1)
    try:
        assert not publisher.publish(event)
    finally:
        publisher.close()
    (letter,) = store.dead_letters()
    assert letter.channel == "mqtt" and letter.event_id == event.event_id
    assert "refused" in letter.last_error.lower()


def test_a_broker_that_dies_gives_dead_letters(store: Store, broker: Broker) -> None:
    event, *_ = _events(store)
    publisher = MqttPublisher(store, "127.0.0.1", broker.port, timeout_s=1)
    try:
        assert publisher.publish(event)
        broker.kill()
        assert not publisher.publish(event)
    finally:
        publisher.close()
    (letter,) = store.dead_letters()
    # Depending on whether paho has noticed the lost connection yet, any of these is right.
    assert any(reason in letter.last_error for reason in (
        "not published", "no acknowledgement", "not connected to the broker"))


def test_a_broker_that_starts_late_gets_the_later_events(store: Store, tmp_path: Path) -> None:
    """Down when the service starts: events before it comes up are dead letters, and once paho
    has reconnected, events are published again (they were all dead letters before), and a
    dead letter retried goes on its topic with its idempotency key."""
    need_mosquitto()
    early, later, *_ = _events(store)
    port = free_port()
    publisher = MqttPublisher(store, "127.0.0.1", port, timeout_s=1)
    broker = None
    try:
        assert not publisher.publish(early)
        broker = Broker(tmp_path, port)
        listener = Subscriber(port, "affectlens/cameras/+/events/#")
        wait_until(publisher.client.is_connected, 40, "paho reconnects to the late broker")
        assert publisher.publish(later)
        wait_until(lambda: listener.messages, 5, "the later event arrives")
        (letter,) = store.dead_letters()
        assert publisher.resend(letter) is None  # the dispatcher's retry (issue 17)
        wait_until(lambda: len(listener.messages) == 2, 5, "the dead letter arrives")
        listener.close()
    finally:
        publisher.close()
        if broker:
            broker.kill()
    (letter,) = store.dead_letters()
    assert letter.event_id == early.event_id
    assert "at start: ConnectionRefusedError" in letter.last_error
    assert listener.messages[0][1]["event"]["id"] == later.event_id
    topic, retried = listener.messages[1]
    assert retried["idempotency_key"] == early.key and topic.endswith(f"/{early.kind}")
