"""`affectlens serve` as a real process with Home Assistant discovery (a real Mosquitto) and
an Apprise rule (Apprise's json:// to a real receiver): a camera whose stream is missing goes
offline, which Home Assistant sees and the rule notifies; SIGTERM leaves it unavailable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from netutil import Receiver, free_port
from test_homeassistant import HomeAssistantClient
from test_mqtt import Broker, broker  # noqa: F401 (the fixture)
from test_serve import Served, serve  # noqa: F401 (the fixture)
from waiting import wait_until

from affectlens.store.db import sqlite_url


def test_serve_announces_cameras_to_home_assistant_and_notifies_through_apprise(
        tmp_path: Path, broker: Broker, serve: Callable[..., Served]) -> None:  # noqa: F811
    receiver = Receiver([])
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(
        f"database_url: site.db\nport: {port}\nworkers: {{poll_s: 0.5, io_timeout_s: 1}}\n"
        "cameras:\n"
        f"  - {{name: Garden Door, url: 'file://{tmp_path}/missing.mp4', "
        "purpose: anonymous_statistics}\n"
        "alerts:\n"
        f"  mqtt: {{host: 127.0.0.1, port: {broker.port}, home_assistant: true}}\n"
        "  rules:\n"
        "    - name: maintenance\n"
        "      kinds: [camera_offline]\n"
        f"      apprise: ['{receiver.url.replace('http://', 'json://')}']\n")
    home_assistant = HomeAssistantClient(broker.port)
    try:
        served = serve(config, port, sqlite_url(tmp_path / "site.db"))
        wait_until(lambda: home_assistant.last("affectlens/status") == "online", 30,
                   "affectlens announces itself")
        online = "homeassistant/binary_sensor/affectlens_garden_door/online/config"
        wait_until(lambda: online in home_assistant.configs(), 10, "the camera is announced")
        assert json.loads(home_assistant.payloads(online)[-1])["device"]["name"] == "Garden Door"
        wait_until(lambda: home_assistant.last("affectlens/state/garden_door/online") == "OFF",
                   10, "the camera reads offline")
        (_, body), *_ = wait_until(lambda: receiver.requests, 60, "the offline notification")
        notified = json.loads(body)
        assert notified["title"] == "Camera offline: Garden Door"
        assert served.stop() == 0
        wait_until(lambda: home_assistant.last("affectlens/status") == "offline", 10,
                   "unavailable once stopped")
    finally:
        home_assistant.close()
        receiver.close()
