"""Alerts to phones and chats through Apprise: ntfy, Pushover, Telegram, Matrix, email and
about a hundred more services, each named by one URL (``ntfy://host/topic``).

The site config's ``alerts.rules`` say which events go where: each rule an ``apprise`` list
of URLs, optionally only some event kinds or cameras. An alert (an event's start or end, from
the outbox, alerts.py) goes to every URL of every rule it matches: a short title and text
(what, which camera, when, how sure), and with a start the event's blurred snapshot attached
where the service takes attachments. A snapshot is attached only while its camera blurs
faces (``blur_faces``): no unblurred picture leaves through a notification. Sending one is
written to the audit log, as viewing one in the dashboard is.

Delivery is the webhooks': at least once, from the outbox; a URL that fails becomes a dead
letter (one attempt here: Apprise retries nothing by default), which the dispatcher retries
with growing waits (``resend``), with its snapshot again. Services have no idempotency keys,
so a resend after a crash may show a notification twice.

URLs hold secrets (tokens, passwords): they are never logged, stored or shown. Dead letters,
logs and the audit log name a URL by its rule and the service and host of Apprise's privacy
form (``night staff: tgram://1...p``; a password ``***``), and two that read alike ``#2``; the
URL itself is found again in the site config.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import apprise

from affectlens.security.audit import AuditLog
from affectlens.service.alerts import Interrupted
from affectlens.service.apprise_urls import privacy_label, quiet
from affectlens.service.media import media_file
from affectlens.store import Store
from affectlens.store.db import Alert
from affectlens.store.schema import Camera, DeadLetter, Event
from affectlens.vocabulary import EventKind

log = logging.getLogger(__name__)

CHANNEL = "apprise"
AUDIT_ACTOR = "alerts"
TITLES = {EventKind.FALL: "Fall", EventKind.LONG_LIE: "Long lie",
          EventKind.INACTIVITY: "No movement", EventKind.DISTRESS: "Distress",
          EventKind.CAMERA_OFFLINE: "Camera offline"}
URGENT = frozenset({EventKind.FALL, EventKind.LONG_LIE})


@dataclass(frozen=True)
class AppriseTarget:
    """One URL of one rule, with the rule's filters."""

    rule: str
    url: str = field(repr=False)
    kinds: frozenset[str] = frozenset()  # empty: every kind
    cameras: frozenset[str] = frozenset()  # camera names; empty: every camera
    attach_snapshot: bool = True
    label: str = ""  # how dead letters and logs name it; set by AppriseSender

    def wants(self, kind: str, camera: str | None) -> bool:
        return ((not self.kinds or kind in self.kinds)
                and (not self.cameras or camera in self.cameras))


def _labelled(targets: Sequence[AppriseTarget]) -> list[AppriseTarget]:
    """Each target named ``<rule>: <privacy form>``; two that read alike get ``#2``..., in
    the order of their full URLs (stable while the config's URLs stay the same)."""
    seen: dict[str, int] = {}
    named: dict[tuple[str, str], str] = {}
    for target in sorted(targets, key=lambda t: (t.rule, t.url)):
        label = f"{target.rule}: {privacy_label(target.url)}"
        seen[label] = seen.get(label, 0) + 1
        named[(target.rule, target.url)] = label if seen[label] == 1 else f"{label} #{seen[label]}"
    return [AppriseTarget(t.rule, t.url, t.kinds, t.cameras, t.attach_snapshot,
                          named[(t.rule, t.url)]) for t in targets]


def message(event: dict[str, Any], camera: str) -> tuple[str, str, apprise.NotifyType]:
    """Title, text and urgency of an alert: what, where, when, how sure; no one's identity
    (there is none to give) and no picture."""
    kind = str(event.get("kind", "event"))
    what = TITLES.get(kind, kind.replace("_", " ").capitalize())
    started = _when(event.get("started_at"))
    ended = event.get("ended_at")
    confidence = event.get("confidence")
    sure = f" (confidence {confidence:.2f})" if isinstance(confidence, int | float) else ""
    if ended is not None:
        return (f"{what} ended: {camera}",
                f"{what} on camera {camera}, from {started} to {_when(ended)}. "
                f"Event {event.get('id')}.", apprise.NotifyType.INFO)
    urgency = apprise.NotifyType.FAILURE if kind in URGENT else apprise.NotifyType.WARNING
    return (f"{what}: {camera}", f"{what} on camera {camera} at {started}{sure}. "
            f"Event {event.get('id')}: see it in the dashboard.", urgency)


def _when(value: object) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return str(value)


class AppriseSender:
    channel = CHANNEL

    def __init__(self, store: Store, targets: Sequence[AppriseTarget],
                 snapshots: Path | None = None) -> None:
        self.store = store
        self.targets = _labelled(targets)
        self.snapshots = snapshots
        self.audit = AuditLog(store)
        self._stop = threading.Event()

    def send(self, alert: Alert) -> dict[str, bool]:
        """Notify every URL whose rule wants this alert; returns label -> delivered."""
        camera = self._camera(alert.camera_id)
        name = camera.name if camera is not None else f"camera {alert.camera_id}"
        body = json.dumps(alert.body(), separators=(",", ":"))
        delivered: dict[str, bool] = {}
        for target in self.targets:
            if not target.wants(alert.kind, camera.name if camera else None):
                continue
            if self._stop.is_set():
                raise Interrupted(f"stopping before {target.label}")
            error = self._notify(target, alert.event, alert.event_id, name, camera)
            delivered[target.label] = error is None
            if error is not None:
                log.warning("alert %s (event %s) not delivered to %s: %s; it is a dead letter",
                            alert.key, alert.event_id, target.label, error,
                            extra={"event_id": alert.event_id})
                self.store.add_dead_letter(self.channel, target.label, alert.event_id, body, 1,
                                           error)
        return delivered

    def resend(self, letter: DeadLetter) -> str | None:
        """One attempt at a dead letter: None when delivered, else why not."""
        target = next((t for t in self.targets if t.label == letter.target), None)
        if target is None:
            return "no Apprise URL of this rule reads like this in the site config now"
        try:
            sent = json.loads(letter.payload)
        except ValueError:
            return "its payload is not JSON"
        event = sent.get("event") if isinstance(sent, dict) else None
        if not isinstance(event, dict):
            return "its payload holds no event"
        camera_id = event.get("camera_id")
        camera = self._camera(camera_id) if isinstance(camera_id, int) else None
        name = camera.name if camera is not None else f"camera {camera_id}"
        return self._notify(target, event, letter.event_id, name, camera)

    def interrupt(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Nothing held open (Apprise connects per notification)."""

    def _notify(self, target: AppriseTarget, event: dict[str, Any], event_id: int | None,
                name: str, camera: Camera | None) -> str | None:
        """One notification to one URL: None when the service took it, else why not."""
        title, text, urgency = message(event, name)
        snapshot = self._snapshot(target, event, event_id, camera)
        notifier = apprise.Apprise()
        with quiet():
            added = notifier.add(target.url)
        if not added:
            return "Apprise no longer accepts this URL"
        attach = apprise.AppriseAttachment(str(snapshot)) if snapshot is not None else None
        with apprise.LogCapture(level=logging.WARNING) as captured:
            try:
                ok = bool(notifier.notify(title=title, body=text, notify_type=urgency,
                                          attach=attach))
            except Exception as error:  # a service plugin's bug: a failed delivery
                return f"{type(error).__name__}: {error}"
        if not ok:
            said = " ".join(line.split(" - ", 2)[-1] for line in
                            captured.getvalue().strip().splitlines()[-3:])
            return f"the service did not take it: {said or 'Apprise says no more'}"[:500]
        if snapshot is not None and event_id is not None:
            self.audit.append(AUDIT_ACTOR, "media.event_snapshot_sent", f"event:{event_id}",
                              to=target.label)
        return None

    def _snapshot(self, target: AppriseTarget, event: dict[str, Any], event_id: int | None,
                  camera: Camera | None) -> Path | None:
        """The event's blurred snapshot, for a start alert of a camera that blurs faces."""
        if (not target.attach_snapshot or event.get("ended_at") is not None
                or event_id is None or camera is None or not camera.blur_faces):
            return None
        try:
            stored: Event | None = self.store.event(event_id)
        except Exception:  # the database is away: the notification goes without it
            log.exception("event %s: its snapshot cannot be looked up", event_id)
            return None
        return media_file(self.snapshots, stored.snapshot) if stored is not None else None

    def _camera(self, camera_id: int) -> Camera | None:
        """None when unknown, or when the database is away: the notification still goes,
        naming the camera by its number, without a snapshot (at least once is for sending,
        not for the details)."""
        try:
            return self.store.camera(camera_id)
        except Exception:
            log.exception("camera %s cannot be looked up for a notification", camera_id)
            return None
