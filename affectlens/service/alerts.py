"""Alert dispatch: events handed over by camera workers, delivered by their own thread.

A webhook that retries for seconds must never hold up a camera's analysis, so workers only
enqueue; one thread calls every sink (``WebhookSender.send``, ``MqttPublisher.publish``...) in
turn. A sink that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from affectlens.store.schema import Event

log = logging.getLogger(__name__)

Sink = Callable[[Event], object]


class AlertDispatcher:
    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = sinks
        self._queue: queue.Queue[Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def start(self) -> AlertDispatcher:
        self._thread.start()
        return self

    def notify(self, event: Event) -> None:
        self._queue.put(event)

    def stop(self, timeout: float = 30.0) -> None:
        """Deliver what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            for sink in self.sinks:
                try:
                    sink(event)
                except Exception:  # one broken sink must not silence the others
                    log.exception("alert sink %r failed for event %s", sink, event.id)
