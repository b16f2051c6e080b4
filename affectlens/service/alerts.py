"""Alert dispatch: the store's outbox, delivered by a thread of its own.

An event's alerts are written to the outbox (``alert_outbox``) in the transaction that stores
or ends the event (``Store.record_event_once``, ``end_event_once``), so an alert exists exactly
when its event does. This dispatcher sends them: oldest first, each to every sink in turn
(``WebhookSender.send``, ``MqttPublisher.publish``...), then marks the row sent. A sink that
raises is logged and the others still run; what a sink cannot deliver is its own dead letter.
A webhook that retries for seconds never holds up a camera's analysis or the Recorder.

Delivery is at least once: a row whose sending was interrupted (the process was killed before
it was marked sent) is sent again at the next start, under the same idempotency key
(``Alert.key``), which every sink hands to its receiver. The Recorder wakes the dispatcher
after each commit that queued an alert; it also looks every ``poll_s`` (rows left by a killed
predecessor, or a database that was away). A row still unsent ``expire_after_s`` after it was
written (the service was down that long) is marked expired and logged, not sent.

One dispatcher per database: two services sending from one outbox would both send a row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from affectlens.store import Store
from affectlens.store.db import Alert

log = logging.getLogger(__name__)

Sink = Callable[[Alert], object]
EXPIRE_AFTER_S = 24 * 3600.0


class AlertDispatcher:
    def __init__(self, store: Store, sinks: list[Sink], poll_s: float = 5.0,
                 expire_after_s: float = EXPIRE_AFTER_S, batch: int = 100) -> None:
        self.store = store
        self.sinks = sinks
        self.poll_s = poll_s
        self.expire_after_s = expire_after_s
        self.batch = batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sent: set[int] = set()  # rows sent whose marking failed: marked, never resent
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def start(self) -> AlertDispatcher:
        self._thread.start()
        return self

    def wake(self) -> None:
        """New rows are in the outbox (their transaction has committed)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Deliver what the outbox holds, then stop; what is left is sent at the next start."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)

    def deliver(self) -> int:
        """Send every row the outbox holds now, oldest first; returns how many were sent.
        The store's errors rise (the row stays, to be sent later)."""
        sent = 0
        while alerts := self.store.pending_alerts(self.batch):
            for alert in alerts:
                assert alert.id is not None
                age = (datetime.now(UTC) - alert.created_at).total_seconds()
                if alert.id in self._sent:
                    pass  # sent before; only its marking failed
                elif age > self.expire_after_s:
                    log.warning("alert %s (event %s) expired unsent after %.0f s", alert.key,
                                alert.event_id, age, extra={"event_id": alert.event_id})
                    self.store.finish_alert(alert.id, "expired")
                    continue
                else:
                    self._send(alert)
                    self._sent.add(alert.id)
                    sent += 1
                self.store.finish_alert(alert.id, "sent")
                self._sent.discard(alert.id)
        return sent

    def _send(self, alert: Alert) -> None:
        for sink in self.sinks:
            try:
                sink(alert)
            except Exception:  # one broken sink must not silence the others
                log.exception("alert sink %r failed for event %s", sink, alert.event_id)

    def _run(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            self._wake.clear()
            try:
                self.deliver()
            except Exception:  # the database is away: the rows wait in the outbox
                log.exception("alerts: the outbox cannot be read or marked; trying again")
            if stopping:
                return
            self._wake.wait(self.poll_s)
