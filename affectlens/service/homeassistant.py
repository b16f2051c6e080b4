"""Home Assistant by MQTT discovery: each camera a device with binary sensors (fall, long lie,
distress, online) and a sensor (people in view), announced and kept up to date.

Home Assistant's MQTT integration reads retained *discovery* configs under
``<discovery_prefix>/<component>/<node>/<object>/config`` and makes an entity of each; this
module publishes one per sensor of each camera (node ``<prefix>_<slug>``: two sites with
their own prefixes on one broker stay apart), all grouped into one device per camera, then
the state topics they name:

- ``<prefix>/state/<slug>/<kind>``: ``ON`` while an event of that kind is open on the camera
  (fall, long_lie, distress), ``OFF`` once none is;
- ``<prefix>/state/<slug>/online``: ``ON``/``OFF`` from the camera's health;
- ``<prefix>/state/<slug>/people``: faces seen in the camera's newest analysed frame; the
  sensor is unavailable while the camera is offline (a count it cannot see is no count). The
  event sensors stay available then: an open fall must not be hidden by its camera failing.

Everything is retained, so Home Assistant shows the right state as soon as it subscribes.
``<prefix>/status`` says ``online`` while affectlens is connected, and the broker says
``offline`` for it when the connection is lost (the last will) or affectlens stops: every
entity is then *unavailable* rather than a stale OFF. Configs and states are published again
on every (re)connection and when Home Assistant announces itself (``<discovery_prefix>/status``
``online``, its birth message); a camera added, renamed or removed (``refresh``) gets its
configs, or an empty retained message in their place, which makes Home Assistant drop the
entity. A sensor of something the camera does not watch (falls off, or a purpose that allows
no expression analysis) is not announced: an entity always OFF would read as "no fall".

Privacy: topics and payloads carry camera slugs, names and states only: never a picture,
a track number or anything about who is in view. States are not alerts: they go out on
paho's own connection, without dead letters (an old ``ON`` resent after the ``OFF`` would be
wrong); what a broker outage lost is published again at the reconnection, from the store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from affectlens.privacy.policy import expression_allowed
from affectlens.service.hub import Hub
from affectlens.store import Store
from affectlens.store.schema import Camera
from affectlens.version import __version__
from affectlens.vocabulary import EventKind

log = logging.getLogger(__name__)

ON, OFF = "ON", "OFF"
AVAILABLE, NOT_AVAILABLE = "online", "offline"
# Event kinds shown as binary sensors: (entity name, Home Assistant device class).
EVENT_SENSORS = {EventKind.FALL: ("Fall", "safety"), EventKind.LONG_LIE: ("Long lie", "safety"),
                 EventKind.DISTRESS: ("Distress", "problem")}
FALL_KINDS = (EventKind.FALL, EventKind.LONG_LIE)


def watched_kinds(purpose: str, falls: bool) -> tuple[str, ...]:
    """The event sensors a camera can turn ON: expression analysis (distress) and body pose
    (falls, only with it, the engine's body path) need a purpose that allows them."""
    if not expression_allowed(purpose):
        return ()
    return (EventKind.DISTRESS, *FALL_KINDS) if falls else (EventKind.DISTRESS,)


def slug(name: str) -> str:
    """``Lounge 2`` -> ``lounge_2``: what MQTT topics and Home Assistant ids may hold."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "camera"


@dataclass(frozen=True)
class _Announced:
    """A camera as its discovery configs describe it."""

    slug: str
    name: str
    kinds: tuple[str, ...]
    enabled: bool


class HomeAssistant:
    """Discovery configs and states of every camera in the store, on one MQTT connection."""

    def __init__(self, store: Store, hub: Hub, host: str, port: int = 1883,
                 prefix: str = "affectlens", discovery_prefix: str = "homeassistant",
                 username: str | None = None, password: str | None = None,
                 kinds_for: Callable[[Camera], Iterable[str]] | None = None) -> None:
        self.store = store
        self.hub = hub
        self.host, self.port = host, port
        self.prefix = prefix.strip("/")
        self.discovery_prefix = discovery_prefix.strip("/")
        self.availability = f"{self.prefix}/status"
        self.node = slug(self.prefix)
        self.kinds_for = kinds_for or (lambda camera: tuple(EVENT_SENSORS))
        self._lock = threading.RLock()
        self._cameras: dict[int, _Announced] = {}  # camera id -> as announced
        self._open: dict[int, tuple[int, str]] = {}  # open event id -> (camera id, kind)
        self._states: dict[str, str] = {}  # state topic -> payload last published
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"affectlens-ha-{id(self):x}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.will_set(self.availability, NOT_AVAILABLE, qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def start(self) -> HomeAssistant:
        """Listen to the hub and connect (paho keeps trying while the broker is away)."""
        self.hub.listen(self._on_hub)
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        return self

    def refresh(self) -> None:
        """Cameras were added, changed or removed: announce the new, withdraw the gone."""
        if not self.client.is_connected():
            return  # the next connection announces everything
        try:
            self._announce_cameras()
        except Exception:  # the store is away; the next connection or change catches up
            log.exception("home assistant: cameras not announced")

    def close(self) -> None:
        """Says ``offline`` (a clean disconnection sends no last will), then disconnects."""
        if self.client.is_connected():
            info = self.client.publish(self.availability, NOT_AVAILABLE, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):  # not connected after all
                info.wait_for_publish(2.0)
        self.client.disconnect()
        self.client.loop_stop()

    # topics and payloads -------------------------------------------------------------------

    def state_topic(self, camera_slug: str, what: str) -> str:
        return f"{self.prefix}/state/{camera_slug}/{what}"

    def config_topic(self, component: str, camera_slug: str, what: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node}_{camera_slug}/{what}/config"

    def configs(self, camera: _Announced) -> dict[str, dict[str, Any]]:
        """Config topic -> discovery payload, for each sensor of the camera."""
        common = {
            "availability": [{"topic": self.availability, "payload_available": AVAILABLE,
                              "payload_not_available": NOT_AVAILABLE}],
            "device": {"identifiers": [f"{self.node}_{camera.slug}"], "name": camera.name,
                       "manufacturer": "affectlens", "model": "camera",
                       "sw_version": __version__},
            "origin": {"name": "affectlens", "sw_version": __version__},
            "qos": 1,
        }
        configs: dict[str, dict[str, Any]] = {}
        for what in (*camera.kinds, "online"):
            name, device_class = EVENT_SENSORS.get(what, ("Online", "connectivity"))
            configs[self.config_topic("binary_sensor", camera.slug, what)] = {
                **common, "name": name, "unique_id": f"{self.node}_{camera.slug}_{what}",
                "device_class": device_class, "state_topic": self.state_topic(camera.slug, what),
                "payload_on": ON, "payload_off": OFF}
        configs[self.config_topic("sensor", camera.slug, "people")] = {
            **common, "name": "People in view", "unique_id": f"{self.node}_{camera.slug}_people",
            "state_topic": self.state_topic(camera.slug, "people"),
            "availability": [*common["availability"], {
                "topic": self.state_topic(camera.slug, "online"), "payload_available": ON,
                "payload_not_available": OFF}],
            "availability_mode": "all",
            "state_class": "measurement", "unit_of_measurement": "people",
            "icon": "mdi:account-group"}
        return configs

    def all_config_topics(self, camera_slug: str) -> list[str]:
        """Every config topic a camera of this slug may have had (to withdraw them)."""
        return [*(self.config_topic("binary_sensor", camera_slug, what)
                  for what in (*EVENT_SENSORS, "online")),
                self.config_topic("sensor", camera_slug, "people")]

    # what happens --------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _data: object, _flags: object,
                    reason: mqtt.ReasonCode, _properties: object = None) -> None:
        if reason.is_failure:
            log.warning("home assistant: the broker refused the connection: %s", reason)
            return
        client.subscribe(f"{self.discovery_prefix}/status", qos=1)
        self._announce_all()

    def _on_message(self, _client: mqtt.Client, _data: object,
                    message: mqtt.MQTTMessage) -> None:
        """Home Assistant (re)started: it asks for the configs again."""
        if message.payload == AVAILABLE.encode():
            self._announce_all()

    def _announce_all(self) -> None:
        """Availability, every camera's configs, and every state, from the store and the hub
        (what happened while the broker was away included)."""
        try:
            with self._lock:
                self._states.clear()  # published again below, whatever was sent before
                self._open = {e.id: (e.camera_id, e.kind) for e in self.store.open_events()
                              if e.kind in EVENT_SENSORS}
                self._announce_cameras(again=True)
                self._publish(self.availability, AVAILABLE)
        except Exception:
            log.exception("home assistant: not announced; the next connection tries again")

    def _announce_cameras(self, again: bool = False) -> None:
        with self._lock:
            wanted = self._describe(self.store.cameras())
            for camera_id, before in list(self._cameras.items()):
                now = wanted.get(camera_id)
                if now is None or now.slug != before.slug:
                    self._withdraw(before)
                    del self._cameras[camera_id]
            for camera_id, camera in wanted.items():
                if again or self._cameras.get(camera_id) != camera:
                    configs = self.configs(camera)
                    for topic in self.all_config_topics(camera.slug):  # unwatched: withdrawn
                        self._publish(topic, json.dumps(configs[topic]) if topic in configs
                                      else "")
                    self._cameras[camera_id] = camera
                self._publish_states(camera_id)  # only what changed goes out

    def _describe(self, cameras: list[Camera]) -> dict[int, _Announced]:
        """Camera id -> slug, name and sensors. The slug is the camera's registry slug (unique
        and never changed: a camera renamed stays one device with its history in Home
        Assistant), in the underscores MQTT ids here use (``-`` -> ``_``: still unique)."""
        described: dict[int, _Announced] = {}
        for camera in cameras:
            kinds = tuple(k for k in EVENT_SENSORS if k in set(self.kinds_for(camera)))
            described[camera.id] = _Announced(slug(camera.slug), camera.name, kinds,
                                              camera.enabled)
        return described

    def _withdraw(self, camera: _Announced) -> None:
        """Empty retained configs remove the entities; empty states clear what was kept."""
        for topic in self.all_config_topics(camera.slug):
            self._publish(topic, "")
        for what in (*EVENT_SENSORS, "online", "people"):
            topic = self.state_topic(camera.slug, what)
            self._publish(topic, "")
            self._states.pop(topic, None)

    def _publish_states(self, camera_id: int) -> None:
        camera = self._cameras.get(camera_id)
        if camera is None:
            return
        for kind in camera.kinds:
            is_open = any(k == (camera_id, kind) for k in self._open.values())
            self._set(self.state_topic(camera.slug, kind), ON if is_open else OFF)
        live = self.hub.state(camera_id)
        online = camera.enabled and live is not None and live.online  # disabled: at once
        self._set(self.state_topic(camera.slug, "online"), ON if online else OFF)
        if online and live is not None:
            self._set(self.state_topic(camera.slug, "people"), str(live.faces))

    def _on_hub(self, message: dict[str, Any]) -> None:
        """A camera's live state or an event's start or end (the hub's writer thread)."""
        if not self.client.is_connected():
            return  # published from the store at the reconnection
        if message.get("type") == "event":
            event = message["event"]
            if event.get("kind") not in EVENT_SENSORS:
                return
            with self._lock:
                if event.get("ended_at") is None:
                    self._open[event["id"]] = (event["camera_id"], event["kind"])
                else:
                    self._open.pop(event["id"], None)
            camera_id = event["camera_id"]
        elif message.get("type") == "camera":
            camera_id = message["camera"]["camera_id"]
        else:
            return
        with self._lock:
            if camera_id not in self._cameras:
                self.refresh()  # a camera new since the last look
            self._publish_states(camera_id)

    def _set(self, topic: str, payload: str) -> None:
        """Publish a state when it changed (the hub repeats live states every second)."""
        if self._states.get(topic) != payload:
            self._states[topic] = payload
            self._publish(topic, payload)

    def _publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1, retain=True)
