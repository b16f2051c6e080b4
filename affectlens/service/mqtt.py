"""Alerts by MQTT: each event published as JSON on a topic per camera and event type.

Topic: ``<prefix>/cameras/<camera id>/events/<kind>`` (QoS 1), so a subscriber can take one
camera (``affectlens/cameras/3/events/#``) or one kind everywhere
(``affectlens/cameras/+/events/distress``). The payload is the webhook's, with its
``idempotency_key``: a receiver drops an alert whose key it has seen (QoS 1 itself may deliver
a message twice, and an alert interrupted by a crash is sent again). An event that cannot
be published within the timeout (no connection to the broker, or no acknowledgement from it)
becomes a dead letter and is not sent later; paho keeps reconnecting for the next events.
"""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt

from affectlens.store import Store
from affectlens.store.db import Alert


class MqttPublisher:
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
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as error:  # the broker is down now; paho keeps trying in its loop
            self._connect_error = f"{type(error).__name__}: {error}"
        self.client.loop_start()

    def topic(self, alert: Alert) -> str:
        return f"{self.prefix}/cameras/{alert.camera_id}/events/{alert.kind}"

    def publish(self, alert: Alert) -> bool:
        body = json.dumps(alert.body(), separators=(",", ":"))
        deadline = time.monotonic() + self.timeout_s  # connecting, or reconnecting
        while not self.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.client.is_connected():
            # Not handed to paho, which would queue it and send it after reconnecting: it is a
            # dead letter now, and must not also arrive later.
            error = "not connected to the broker (paho is reconnecting" + (
                f"; at start: {self._connect_error})" if self._connect_error else ")")
        else:
            info = self.client.publish(self.topic(alert), body, qos=1)
            try:
                info.wait_for_publish(self.timeout_s)
            except (RuntimeError, ValueError) as exc:
                error = f"not published: {exc}"
            else:
                if info.is_published():
                    return True
                error = f"no acknowledgement from the broker within {self.timeout_s:g} s"
        self.store.add_dead_letter("mqtt", f"{self.target}/{self.topic(alert)}", alert.event_id,
                                   body, 1, error)
        return False

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
