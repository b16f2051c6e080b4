"""Alerts by MQTT: each event published as JSON on a topic per camera and event type.

Topic: ``<prefix>/cameras/<camera id>/events/<kind>`` (QoS 1), so a subscriber can take one
camera (``affectlens/cameras/3/events/#``) or one kind everywhere
(``affectlens/cameras/+/events/distress``). The payload is the webhook's, with its
``idempotency_key``: a receiver drops an alert whose key it has seen (QoS 1 itself may deliver
a message twice, and an alert interrupted by a crash is sent again). An event that cannot
be published within the timeout (no connection to the broker, or no acknowledgement from it)
becomes a dead letter, not paho's queue (it would also arrive later, unasked); paho keeps
reconnecting, and the alert dispatcher retries the dead letter (``resend``) on the same topic
with the same payload and key.
"""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt

from affectlens.service.alerts import Interrupted
from affectlens.store import Store
from affectlens.store.db import Alert
from affectlens.store.schema import DeadLetter


class MqttPublisher:
    channel = "mqtt"

    def __init__(self, store: Store, host: str, port: int = 1883, prefix: str = "affectlens",
                 timeout_s: float = 5.0, username: str | None = None,
                 password: str | None = None) -> None:
        self.store = store
        self.prefix = prefix.strip("/")
        self.timeout_s = timeout_s
        self.target = f"mqtt://{host}:{port}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"affectlens-{id(self):x}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._connect_error: str | None = None
        self._stop = threading.Event()
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as error:  # the broker is down now; paho keeps trying in its loop
            self._connect_error = f"{type(error).__name__}: {error}"
        self.client.loop_start()

    def topic(self, alert: Alert) -> str:
        return f"{self.prefix}/cameras/{alert.camera_id}/events/{alert.kind}"

    def publish(self, alert: Alert) -> bool:
        body = json.dumps(alert.body(), separators=(",", ":"))
        error = self._publish(self.topic(alert), body)
        if error is None:
            return True
        self.store.add_dead_letter("mqtt", f"{self.target}/{self.topic(alert)}", alert.event_id,
                                   body, 1, error)
        return False

    send = publish  # the alert dispatcher's name for it (alerts.Channel)

    def resend(self, letter: DeadLetter) -> str | None:
        """One attempt at a dead letter, on its topic: None when published, else why not."""
        topic = letter.target.removeprefix(f"{self.target}/")
        if topic == letter.target:
            return f"the broker is {self.target} now, not this letter's"
        return self._publish(topic, letter.payload)

    def interrupt(self) -> None:
        self._stop.set()

    def _publish(self, topic: str, body: str) -> str | None:
        """Publish at QoS 1 and wait for the broker's acknowledgement; None when it came."""
        deadline = time.monotonic() + self.timeout_s  # connecting, or reconnecting
        while not self.client.is_connected() and time.monotonic() < deadline:
            if self._stop.wait(0.05):
                raise Interrupted("stopping while waiting for the MQTT broker")
        if not self.client.is_connected():
            # Not handed to paho, which would queue it and send it after reconnecting: it is a
            # dead letter now, and must not also arrive later.
            return "not connected to the broker (paho is reconnecting" + (
                f"; at start: {self._connect_error})" if self._connect_error else ")")
        info = self.client.publish(topic, body, qos=1)
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            return f"not published: {exc}"
        if info.is_published():
            return None
        return f"no acknowledgement from the broker within {self.timeout_s:g} s"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
