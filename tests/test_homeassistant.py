"""Home Assistant MQTT discovery against a real Mosquitto broker: a client subscribes to
``homeassistant/#`` and the state topics as Home Assistant does, and events flow through the
Recorder and the Hub as a camera worker's messages do in ``affectlens serve``."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from test_mqtt import Broker, broker  # noqa: F401 (the fixture)
from waiting import wait_until

from affectlens.service.homeassistant import HomeAssistant, slug, watched_kinds
from affectlens.service.hub import CameraLive, Hub
from affectlens.service.messages import EventEnded, EventStarted, StateChanged, WorkerMetrics
from affectlens.service.recorder import Recorder
from affectlens.store import Store

T0 = datetime(2026, 12, 4, 9, tzinfo=UTC)


class HomeAssistantClient:
    """Subscribes as Home Assistant's MQTT integration does: the discovery prefix, then the
    state and availability topics; keeps every message with its retain flag, in order."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("homeassistant/#",
                                                              "affectlens/#")) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, _client: object, _data: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def payloads(self, topic: str) -> list[str]:
        with self._lock:
            return [p.decode() for t, p, _ in self.messages if t == topic]

    def last(self, topic: str) -> str | None:
        payloads = self.payloads(topic)
        return payloads[-1] if payloads else None

    def configs(self) -> dict[str, dict]:
        """Config topic -> its latest payload parsed; an empty one (withdrawn) is dropped."""
        latest: dict[str, bytes] = {}
        with self._lock:
            for topic, payload, _ in self.messages:
                if topic.startswith("homeassistant/") and topic.endswith("/config"):
                    latest[topic] = payload
        return {t: json.loads(p) for t, p in latest.items() if p}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def site(store: Store):
    """A care-safety camera watching for falls and an anonymous-statistics one, a hub and
    the Recorder as ``serve`` wires them."""
    lounge = store.add_camera("Lounge 1", "rtsp://l/s", "care_safety")
    hall = store.add_camera("hall", "rtsp://h/s", "anonymous_statistics")
    hub = Hub()
    return lounge, hall, hub, Recorder(store, hub)


def bridge(store: Store, hub: Hub, port: int) -> HomeAssistant:
    return HomeAssistant(store, hub, "127.0.0.1", port, kinds_for=lambda camera: watched_kinds(
        camera.purpose, falls=camera.name == "Lounge 1")).start()


def test_slugs_are_topic_and_id_safe() -> None:
    assert slug("Lounge 1") == "lounge_1"
    assert slug("Room-2.East") == "room_2_east"
    assert slug("...") == "camera"


def test_sites_with_their_own_prefixes_share_a_broker_apart(store: Store) -> None:
    ha = HomeAssistant(store, Hub(), "127.0.0.1", prefix="care-home/west")
    assert ha.config_topic("binary_sensor", "lounge", "fall") == (
        "homeassistant/binary_sensor/care_home_west_lounge/fall/config")
    assert ha.state_topic("lounge", "fall") == "care-home/west/state/lounge/fall"
    assert ha.availability == "care-home/west/status"


def test_each_camera_is_announced_retained_and_its_states_follow_a_real_event_flow(
        store: Store, broker: Broker, site) -> None:  # noqa: F811
    lounge, _, hub, recorder = site
    recorder.handle(StateChanged(lounge.id, True, "", T0))
    ha = bridge(store, hub, broker.port)
    try:
        probe = HomeAssistantClient(broker.port, ("affectlens/status",))
        wait_until(lambda: probe.last("affectlens/status") == "online", 10,
                   "affectlens has announced everything (it says online last)")
        probe.close()
        # Home Assistant starting after affectlens finds everything retained.
        client = HomeAssistantClient(broker.port)
        wait_until(lambda: len(client.configs()) == 7, 10, "seven retained configs")
        assert all(retained for _, _, retained in client.messages)
        configs = client.configs()
        lounge_configs = {t: c for t, c in configs.items() if "/affectlens_lounge_1/" in t}
        hall_configs = {t: c for t, c in configs.items() if "/affectlens_hall/" in t}
        assert sorted(lounge_configs) == sorted(
            [f"homeassistant/binary_sensor/affectlens_lounge_1/{what}/config"
             for what in ("fall", "long_lie", "distress", "online")]
            + ["homeassistant/sensor/affectlens_lounge_1/people/config"])
        # Statistics only: no expression analysis, so no distress (nor fall) sensor at all.
        assert sorted(hall_configs) == [
            "homeassistant/binary_sensor/affectlens_hall/online/config",
            "homeassistant/sensor/affectlens_hall/people/config"]
        for topic, config in configs.items():  # Home Assistant's discovery schema
            assert config["state_topic"].startswith("affectlens/state/")
            assert config["availability"][0] == {"topic": "affectlens/status",
                                                 "payload_available": "online",
                                                 "payload_not_available": "offline"}
            assert config["unique_id"].startswith("affectlens_") and config["name"]
            assert config["device"]["manufacturer"] == "affectlens"
            if "/binary_sensor/" in topic:
                assert (config["payload_on"], config["payload_off"]) == ("ON", "OFF")
                assert config["device_class"] in ("safety", "problem", "connectivity")
                assert len(config["availability"]) == 1  # an open fall is never hidden
            else:  # a count is unavailable while its camera is offline
                assert config["state_class"] == "measurement"
                assert config["availability_mode"] == "all"
                assert config["availability"][1] == {
                    "topic": config["state_topic"].replace("/people", "/online"),
                    "payload_available": "ON", "payload_not_available": "OFF"}
        assert len({c["unique_id"] for c in configs.values()}) == 7
        assert {c["device"]["name"] for c in lounge_configs.values()} == {"Lounge 1"}
        assert len({tuple(c["device"]["identifiers"]) for c in configs.values()}) == 2
        fall = configs["homeassistant/binary_sensor/affectlens_lounge_1/fall/config"]
        assert fall["device_class"] == "safety"
        state = fall["state_topic"]
        assert client.last("affectlens/status") == "online"
        assert client.last(state) == "OFF"
        assert client.last("affectlens/state/lounge_1/online") == "ON"
        assert client.last("affectlens/state/hall/online") == "OFF"  # not heard from

        recorder.handle(WorkerMetrics(lounge.id, T0, 5.0, 2, 10, 10, 0, ()))
        wait_until(lambda: client.last("affectlens/state/lounge_1/people") == "2", 5,
                   "the people in view")
        recorder.handle(EventStarted(lounge.id, "run:1:fall:1", "fall", T0, 0.9, 3, T0,
                                     snapshot=b"\xff\xd8 a blurred jpeg"))
        wait_until(lambda: client.last(state) == "ON", 30, "fall ON")
        assert client.last("affectlens/state/lounge_1/long_lie") == "OFF"
        recorder.handle(EventEnded(lounge.id, "run:1:fall:1", T0))
        wait_until(lambda: client.last(state) == "OFF", 30, "fall OFF")
        assert client.payloads(state) == ["OFF", "ON", "OFF"]
        # Live states repeat every second; only changes are published.
        recorder.handle(WorkerMetrics(lounge.id, T0, 5.0, 2, 10, 10, 0, ()))
        recorder.handle(StateChanged(lounge.id, False, "stream lost", T0))
        wait_until(lambda: client.last("affectlens/state/lounge_1/online") == "OFF", 5)
        assert client.payloads("affectlens/state/lounge_1/people") == ["0", "2"]
        # Names and states only: no picture, track or event detail in anything sent.
        for _, payload, _ in client.messages:
            text = payload.decode()
            assert "track" not in text and "snapshot" not in text and "jpeg" not in text
    finally:
        ha.close()
    wait_until(lambda: client.last("affectlens/status") == "offline", 30, "offline at stop")
    client.close()


def test_a_lost_connection_reads_offline_then_everything_is_announced_again(
        store: Store, broker: Broker, site) -> None:  # noqa: F811
    """The broker's last will marks every entity unavailable; paho reconnects, and what the
    bridge did not hear of (an event the store holds: one a killed predecessor left open)
    is published from the store."""
    lounge, _, hub, _ = site
    ha = bridge(store, hub, broker.port)
    client = HomeAssistantClient(broker.port)
    try:
        state = "affectlens/state/lounge_1/fall"
        wait_until(lambda: client.last(state) == "OFF", 10, "announced")
        store.record_event_once("run:0:fall:2", lounge.id, "fall", T0, 0.9)  # not via the hub
        ha.client.socket().close()  # the connection drops without a DISCONNECT
        wait_until(lambda: "offline" in client.payloads("affectlens/status"), 10, "last will")
        wait_until(lambda: client.last("affectlens/status") == "online", 40, "reconnected")
        wait_until(lambda: client.last(state) == "ON", 30, "the fall, from the store")
    finally:
        ha.close()
        client.close()


def test_home_assistant_restarting_gets_the_configs_again_and_removed_cameras_go(
        store: Store, broker: Broker, site) -> None:  # noqa: F811
    lounge, hall, hub, _ = site
    ha = bridge(store, hub, broker.port)
    client = HomeAssistantClient(broker.port)
    try:
        topic = "homeassistant/sensor/affectlens_hall/people/config"
        wait_until(lambda: client.payloads(topic), 10, "announced")
        client.client.publish("homeassistant/status", "online", qos=1)  # its birth message
        wait_until(lambda: len(client.payloads(topic)) == 2, 30, "announced again")
        online = "affectlens/state/lounge_1/online"
        hub_state = CameraLive(lounge.id, True, "", 5.0, 1, T0)
        hub.set_state(hub_state)
        wait_until(lambda: client.last(online) == "ON", 30, "online")
        store.update_camera(lounge.id, enabled=False)
        ha.refresh()  # what the API calls after a camera is changed: its worker is stopping
        wait_until(lambda: client.last(online) == "OFF", 30, "a disabled camera is offline")
        store.delete_camera(hall.id)
        ha.refresh()  # ... or removed
        wait_until(lambda: client.last(topic) == "", 30, "withdrawn")
        assert "hall" not in " ".join(client.configs())
        # Withdrawn means no retained config is left for a Home Assistant starting later.
        later = HomeAssistantClient(broker.port, ("homeassistant/#",))
        wait_until(lambda: later.configs(), 5)
        assert "hall" not in " ".join(later.configs())
        later.close()
    finally:
        ha.close()
        client.close()


def test_a_renamed_camera_stays_one_device_under_its_registry_slug(
        store: Store, broker: Broker, site) -> None:  # noqa: F811
    """Home Assistant keys a device's history by its ids: a camera renamed through the API
    keeps its slug, so it keeps its topics and ids and only its shown name changes."""
    lounge, _, hub, _ = site
    ha = bridge(store, hub, broker.port)
    client = HomeAssistantClient(broker.port)
    topic = "homeassistant/binary_sensor/affectlens_lounge_1/online/config"
    try:
        wait_until(lambda: client.payloads(topic), 10, "announced")
        store.update_camera(lounge.id, name="Lounge (east wing)")
        ha.refresh()
        wait_until(lambda: json.loads(client.last(topic) or "{}").get("device", {}).get("name")
                   == "Lounge (east wing)", 5, "the new name shown")
        assert client.last(topic) != ""  # never withdrawn
        assert not [t for t in client.configs() if "east" in t]  # no second device
    finally:
        ha.close()
        client.close()
