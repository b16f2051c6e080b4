"""Reminders and escalation (issue 17): a person presumed on the floor is never closed by a
timeout, so somebody must keep being told.

Every ``every_s`` this job asks the store for falls and long lies still open and not
acknowledged, and queues in the alert outbox the reminder now due (every
``alerts.remind_after_minutes`` since the event started) and, once it has been open
``alerts.escalate_after_minutes``, one escalation to the second contact
(``alerts.escalation``). Each has its own key (``<event key>/reminder-<n>``,
``<event key>/escalated``) queued at most once, so the dispatcher's at-least-once delivery
and the receivers' idempotency keys hold as for any alert, and a restart resends nothing a
predecessor queued. Acknowledging an event or its end stops them: the query no longer finds
it, and the dispatcher drops one queued but not yet sent (alerts.py).

It runs in the service, not in a worker: a worker restarts with its camera's settings and
knows nothing of acknowledgements; the store knows both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from affectlens.store import Store
from affectlens.vocabulary import DOWN_KINDS

log = logging.getLogger(__name__)

# Someone may be lying on the floor: the kinds staff are reminded of until acknowledged.
REMINDED_KINDS = tuple(kind.value for kind in DOWN_KINDS)


def check_every_s(remind_after_s: float, escalate_after_s: float) -> float:
    """How often to look: a quarter of the shorter interval, between 0.05 s and 30 s (a
    reminder is at most that late)."""
    intervals = [s for s in (remind_after_s, escalate_after_s) if s > 0]
    return min(30.0, max(0.05, min(intervals) / 4)) if intervals else 30.0


class ReminderJob:
    """A thread that queues due reminders and escalations, and wakes the dispatcher."""

    def __init__(self, store: Store, remind_after_s: float, escalate_after_s: float,
                 wake: Callable[[], None] | None = None) -> None:
        self.store = store
        self.remind_after_s = remind_after_s
        self.escalate_after_s = escalate_after_s
        self.every_s = check_every_s(remind_after_s, escalate_after_s)
        self.wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reminders", daemon=True)

    @property
    def enabled(self) -> bool:
        return self.remind_after_s > 0 or self.escalate_after_s > 0

    def start(self) -> ReminderJob:
        if self.enabled:
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def check(self, at: datetime | None = None) -> int:
        """Queue what is due at ``at`` (now); returns how many alerts were queued."""
        queued = self.store.queue_reminders(at or datetime.now(UTC), REMINDED_KINDS,
                                            self.remind_after_s, self.escalate_after_s)
        if queued:
            log.info("%d reminder or escalation alerts queued for unacknowledged events",
                     queued)
            if self.wake is not None:
                self.wake()
        return queued

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.check()
            except Exception:  # the database is away: the next round asks again
                log.exception("reminders: the store cannot be read; trying again")
