"""``affectlens serve``: the whole live service wired in one place, started and stopped.

Order matters. Start: logs, store (migrated), cameras from the site config synced into it,
alert senders, recorder, supervisor (it ends events a killed predecessor left open, then
spawns workers), the retention job, and last the HTTP server (HTTPS when the site config
names a certificate). Stop (SIGTERM or SIGINT): the HTTP server first, the retention job,
then the workers (each ends its open events and sends its counts), then the queued alerts
are delivered for at most ``alerts.stop_wait_s`` (what is left is logged and stays in the
store for the next start), then the database is closed.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI

from affectlens.privacy.retention import RetentionJob
from affectlens.service.alerts import AlertDispatcher, Channel, RetryPolicy
from affectlens.service.api import create_app
from affectlens.service.camera_settings import parse_distress, parse_falls
from affectlens.service.homeassistant import HomeAssistant, watched_kinds
from affectlens.service.hub import Hub
from affectlens.service.launcher import Launcher
from affectlens.service.logs import setup_logging
from affectlens.service.metrics import ServiceMetrics
from affectlens.service.mqtt import MqttPublisher
from affectlens.service.notify import AppriseSender, AppriseTarget
from affectlens.service.recorder import Recorder
from affectlens.service.registry import sync_cameras
from affectlens.service.reminders import ReminderJob
from affectlens.service.site import AlertRule, SiteConfig, WebhookConfig
from affectlens.service.supervisor import Supervisor
from affectlens.service.webhook import WebhookSender, WebhookTarget
from affectlens.service.worker import CameraSpec
from affectlens.service.zones import effective_falls
from affectlens.store import Store
from affectlens.store.schema import Camera

log = logging.getLogger(__name__)


class Service:
    """The live service of one site; ``run()`` blocks until SIGTERM or SIGINT."""

    def __init__(self, site: SiteConfig, launcher: Launcher | None = None) -> None:
        """``launcher``: where camera workers run; None: local processes (``site.cluster``
        is read by the command line, which makes a Ray launcher for a cluster)."""
        setup_logging(site.log.format, site.log.level.upper())
        self.site = site
        self.store = Store(site.database_url)
        sync_cameras(self.store, site.cameras)
        self.hub = Hub()
        self.metrics = ServiceMetrics()
        self._closers: list[object] = []
        a = site.alerts
        self.alerts = AlertDispatcher(self.store, self._sinks(), retry=RetryPolicy(
            a.retry_for_s, a.retry_first_wait_s, a.retry_max_wait_s),
            escalation=self._escalation_sinks())
        self.reminders = ReminderJob(self.store, a.remind_after_minutes * 60,
                                     a.escalate_after_minutes * 60, wake=self.alerts.wake)
        self.recorder = Recorder(self.store, self.hub, self.alerts, self.metrics,
                                 snapshots=Path(site.snapshots_dir))
        w = site.workers
        self.supervisor = Supervisor(self.store, self.recorder, self.spec_for, poll_s=w.poll_s,
                                     stop_timeout_s=w.stop_timeout_s,
                                     start_method=w.start_method, launcher=launcher,
                                     rebalance_s=site.cluster.rebalance_s)
        self.home_assistant = self._home_assistant()
        self.retention = RetentionJob(self.store, site.retention.policy(),
                                      Path(site.snapshots_dir), every_s=site.retention.every_s)
        self.app = self._app()
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, log_config=None, access_log=False, timeout_graceful_shutdown=5,
            **site.server_options(),
        ))

    def spec_for(self, camera: Camera) -> CameraSpec:
        """The worker's settings: the store's camera (its falls and distress included,
        registry.py), with the zones drawn in the dashboard in place of its falls' own
        (zones.py); the site config adds what every worker shares, and the camera's privacy
        masks (only the site config sets them for now: not stored, no API)."""
        w = self.site.workers
        return CameraSpec(
            camera.id, camera.url, camera.purpose, camera.analysis_fps,
            analysis=self.site.analysis, io_timeout_s=w.io_timeout_s, preview_fps=w.preview_fps,
            log_format=self.site.log.format, log_level=self.site.log.level.upper(),
            blur_faces=camera.blur_faces,
            falls=effective_falls(parse_falls(camera.falls, camera.id), camera),
            distress=parse_distress(camera.distress, camera.id),
            masks=next((c.masks for c in self.site.cameras if c.key == camera.slug), ()),
        )

    def run(self, on_listening: Callable[[], None] | None = None) -> None:
        """``on_listening`` is called once the HTTP port accepts connections (not before:
        an address printed earlier failed on the first click)."""
        if on_listening is not None:
            self._announce_when_listening(on_listening)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.alerts.start()
            self.supervisor.start()
            if self.home_assistant is not None:  # after the supervisor ended stale events
                self.home_assistant.start()
            self.retention.start()
            self.reminders.start()  # after the supervisor ended a predecessor's events
            log.info("serving on %s://%s:%s/ (metrics at /metrics)",
                     "https" if self.site.tls else "http", self.site.host, self.site.port)
            self.server.run()
        finally:
            self.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def close(self) -> None:
        log.info("stopping: workers end their events and send their counts")
        self.retention.stop()
        self.reminders.stop()
        self.supervisor.stop()
        self.alerts.stop(self.site.alerts.stop_wait_s)
        if self.home_assistant is not None:
            self.home_assistant.close()
        for sender in self._closers:
            sender.close()  # type: ignore[attr-defined]
        self.store.engine.dispose()
        log.info("stopped")

    def _announce_when_listening(self, on_listening: Callable[[], None]) -> None:
        startup = self.server.startup

        async def startup_then_announce(sockets: list | None = None) -> None:
            await startup(sockets=sockets)
            if self.server.started:  # uvicorn sets it once its sockets listen
                on_listening()

        self.server.startup = startup_then_announce  # type: ignore[method-assign]

    def _on_signal(self, number: int, _frame: FrameType | None) -> None:
        """Also called again by uvicorn after it has stopped (it re-raises what it caught)."""
        if not self.server.should_exit:
            log.info("%s received: shutting down", signal.Signals(number).name)
        self.server.should_exit = True

    def _sinks(self) -> list[Channel]:
        alerts = self.site.alerts
        sinks = self._senders(alerts.webhooks, alerts.rules)
        if alerts.mqtt is not None:
            m = alerts.mqtt
            publisher = MqttPublisher(self.store, m.host, m.port, m.prefix, m.timeout_s,
                                      m.username, m.password)
            sinks.append(publisher)
            self._closers.append(publisher)
        return sinks

    def _escalation_sinks(self) -> list[Channel]:
        """The second contact's senders; their dead letters are their own channel's."""
        escalation = self.site.alerts.escalation
        sinks = self._senders(escalation.webhooks, escalation.rules)
        for sink in sinks:
            sink.channel = f"escalate-{sink.channel}"
        return sinks

    def _senders(self, webhooks: list[WebhookConfig], rules: list[AlertRule]
                 ) -> list[Channel]:
        """A webhook sender and an Apprise sender, for the targets there are."""
        sinks: list[Channel] = []
        if webhooks:
            sender = WebhookSender(self.store, [
                WebhookTarget(h.url, h.secret, h.backoff_s, h.timeout_s) for h in webhooks])
            sinks.append(sender)
            self._closers.append(sender)
        if rules:
            sinks.append(AppriseSender(self.store, [
                AppriseTarget(r.name, url, frozenset(r.kinds), frozenset(r.cameras),
                              r.attach_snapshot) for r in rules for url in r.apprise],
                snapshots=Path(self.site.snapshots_dir)))
        return sinks

    def _home_assistant(self) -> HomeAssistant | None:
        m = self.site.alerts.mqtt
        if m is None or not m.home_assistant:
            return None
        return HomeAssistant(
            self.store, self.hub, m.host, m.port, m.prefix, m.discovery_prefix, m.username,
            m.password, kinds_for=lambda camera: watched_kinds(
                camera.purpose, self.spec_for(camera).falls is not None))

    def _cameras_changed(self) -> None:
        self.supervisor.request_sync()
        if self.home_assistant is not None:
            self.home_assistant.refresh()

    def _app(self) -> FastAPI:
        return create_app(self.store, self.hub, screen_min_people=self.site.screen_min_people,
                          on_cameras_changed=self._cameras_changed,
                          snapshots_dir=Path(self.site.snapshots_dir),
                          on_replay=self.alerts.wake, metrics=self.metrics.exposition)
