"""Alert dispatch: the store's outbox, delivered by a thread of its own, and dead letters
retried until they are delivered or too old.

An event's alerts are written to the outbox (``alert_outbox``) in the transaction that stores
or ends the event (``Store.record_event_once``, ``end_event_once``), so an alert exists exactly
when its event does. This dispatcher sends them: oldest first, each to every sink in turn
(``WebhookSender``, ``MqttPublisher``...), then marks the row sent. A sink that raises is
logged and the others still run; what a sink cannot deliver after its own attempts is its
dead letter, one per target. A webhook that retries for seconds never holds up a camera's
analysis or the Recorder.

Dead letters (issue 17) are retried by this thread too, one attempt each, after waits that
double from ``RetryPolicy.first_wait_s`` up to ``max_wait_s``, for ``retry_for_s`` after the
letter was made (or an admin replayed it); then they are marked ``failed``, logged, and kept
for staff to see: none is dropped silently. When one letter to a target fails, the target's
other letters due in that round wait as long (a dead receiver costs one attempt a round, not
one per letter). The outbox goes first: a round of retries stops when new alerts come in.

Delivery is at least once: a row whose sending was interrupted (the process was killed before
it was marked sent) is sent again at the next start, under the same idempotency key
(``Alert.key``), which every sink hands to its receiver. The Recorder wakes the dispatcher
after each commit that queued an alert; it also looks every ``poll_s`` (rows left by a killed
predecessor, or a database that was away). A row still unsent ``expire_after_s`` after it was
written (the service was down that long) is marked expired and logged, not sent.

Stopping waits at most a given time for the outbox to empty; then the sinks are interrupted
(a webhook's wait between attempts ends at once) and what is left queued is counted and
logged. It stays in the store, outbox rows and dead letters alike, for the next start.

Reminders and escalations (issue 17; service/reminders.py queues them) go through the same
outbox, each with its own key. A reminder goes to the usual sinks; an escalation only to the
``escalation`` sinks (the second contact), which get nothing else. One whose event was
acknowledged or ended before it was sent is not sent (marked expired).

One dispatcher per database: two services sending from one outbox would both send a row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from affectlens.store import Store
from affectlens.store.db import ESCALATED, REMINDER, Alert
from affectlens.store.dead_letters import DeadLetters
from affectlens.store.schema import DeadLetter

log = logging.getLogger(__name__)

Sink = Callable[[Alert], object]
EXPIRE_AFTER_S = 24 * 3600.0


class Interrupted(Exception):
    """A sink was told to stop (the service is shutting down) before it was done with an
    alert: the alert is neither sent nor a dead letter, and stays in the outbox."""


@runtime_checkable
class Channel(Protocol):
    """A sink that can also retry its own dead letters (webhook.py, mqtt.py, notify.py)."""

    channel: str  # the ``dead_letters.channel`` it writes

    def send(self, alert: Alert) -> object:
        """Deliver to every target; what one does not take becomes its dead letter."""

    def resend(self, letter: DeadLetter) -> str | None:
        """One attempt to the letter's target: None when delivered, else why not."""

    def interrupt(self) -> None:
        """Stop waiting between attempts; an alert not done raises ``Interrupted``."""


@dataclass(frozen=True)
class RetryPolicy:
    """How dead letters are retried (the site config's ``alerts`` section, where the
    defaults are)."""

    retry_for_s: float  # after the letter was made, or last replayed
    first_wait_s: float
    max_wait_s: float

    def wait(self, retries: int) -> float:
        """The wait after ``retries`` failed retries: doubling, capped."""
        return min(self.first_wait_s * 2.0 ** min(retries, 40), self.max_wait_s)


@dataclass(frozen=True)
class Left:
    """What a stop left in the store, to be sent at the next start."""

    outbox: int  # alerts not yet handed to the sinks
    dead_letters: int  # dead letters still to be retried


class AlertDispatcher:
    def __init__(self, store: Store, sinks: Sequence[Sink | Channel], poll_s: float = 5.0,
                 expire_after_s: float = EXPIRE_AFTER_S, batch: int = 100,
                 retry: RetryPolicy | None = None,
                 escalation: Sequence[Sink | Channel] = ()) -> None:
        """``escalation``: the second contact's sinks; each Channel's ``channel`` name must
        differ from the usual sinks' (their dead letters are retried by it)."""
        self.store = store
        self.sinks: list[Sink] = [s.send if isinstance(s, Channel) else s for s in sinks]
        self.escalation: list[Sink] = [s.send if isinstance(s, Channel) else s
                                       for s in escalation]
        self.channels = {s.channel: s for s in (*sinks, *escalation) if isinstance(s, Channel)}
        self.letters = DeadLetters(store)
        self.retry = retry  # None: dead letters are kept, not retried
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

    @property
    def running(self) -> bool:
        """Its thread is still at work (a stop that timed out leaves it finishing an attempt
        it can no longer complete: interrupted, it gives the alert up to the store)."""
        return self._thread.is_alive()

    def wake(self) -> None:
        """New rows are in the outbox (their transaction has committed), or an admin
        replayed a dead letter."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> Left | None:
        """Deliver what the outbox holds for at most ``timeout`` seconds, then stop; says
        (and returns) what is left queued in the store for the next start, or None when
        the store cannot be read."""
        began = time.monotonic()
        self._stopping.set()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)
        if self._thread.is_alive():
            for channel in self.channels.values():
                channel.interrupt()  # the thread gives up its alert, which stays queued
        try:
            left = Left(self.letters.outbox_waiting(), self.letters.waiting())
        except Exception:
            log.exception("alerts: stopped; what is left queued cannot be counted")
            return None
        log.log(logging.WARNING if left.outbox else logging.INFO,
                "alerts: stopped after %.1f s (at most %g s) with %d alerts left queued and "
                "%d dead letters awaiting retry; they stay in the store for the next start",
                time.monotonic() - began, timeout, left.outbox, left.dead_letters)
        return left

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
                elif not self._still_due(alert):
                    self.store.finish_alert(alert.id, "expired")
                    continue
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

    def retry_dead_letters(self) -> int:
        """Retry the dead letters that are due, one attempt each; returns how many were
        delivered. Returns early when stopping or when new alerts wait in the outbox."""
        if self.retry is None:
            return 0
        delivered = 0
        waits: dict[tuple[str, str], tuple[datetime, str]] = {}  # failed in this round
        skipped: dict[tuple[str, str], list[DeadLetter]] = {}
        for letter in self.letters.due(self.retry.first_wait_s):
            target = (letter.channel, letter.target)
            if target in waits:
                if self._overdue(letter):
                    self._give_up(letter, f"not tried again: its target failed another "
                                          f"letter just now ({waits[target][1]})")
                else:
                    skipped.setdefault(target, []).append(letter)
                continue
            error = self._resend(letter)
            if error is None:
                self.letters.delivered(letter)
                delivered += 1
                log.info("dead letter %s (event %s) delivered to %s on retry", letter.id,
                         letter.event_id, letter.target, extra={"event_id": letter.event_id})
            else:
                waits[target] = (self._failed(letter, error), error)
            if self._stopping.is_set() or self._wake.is_set():
                break  # at least one attempt a round, however busy the outbox
        for target, letters in skipped.items():
            self.letters.postpone(letters, waits[target][0])
        return delivered

    def _overdue(self, letter: DeadLetter) -> bool:
        """Retried for ``retry_for_s`` since it was made or last replayed."""
        assert self.retry is not None
        since = letter.replayed_at or letter.created_at
        return datetime.now(UTC) - since >= timedelta(seconds=self.retry.retry_for_s)

    def _give_up(self, letter: DeadLetter, error: str, attempted: bool = False) -> None:
        """``failed`` for good, logged; ``attempted``: after a failed attempt just now."""
        done = (self.letters.retry_failed(letter, error, None) if attempted
                else self.letters.give_up(letter, error))
        if done:
            log.error("dead letter %s (event %s) to %s not delivered: retried for %.0f s, "
                      "given up (an admin can replay it): %s", letter.id, letter.event_id,
                      letter.target, self.retry.retry_for_s if self.retry else 0, error,
                      extra={"event_id": letter.event_id})

    def _resend(self, letter: DeadLetter) -> str | None:
        channel = self.channels.get(letter.channel)
        if channel is None:
            return f"no {letter.channel} alerts are configured now"
        try:
            return channel.resend(letter)
        except Interrupted:
            raise
        except Exception as error:  # a sink's bug must not stop the other letters
            log.exception("alert sink %r failed retrying dead letter %s", channel, letter.id)
            return f"{type(error).__name__}: {error}"

    def _failed(self, letter: DeadLetter, error: str) -> datetime:
        """Record a failed retry; returns when the letter's target is next tried."""
        assert self.retry is not None
        next_at = datetime.now(UTC) + timedelta(seconds=self.retry.wait(letter.retries))
        if self._overdue(letter):
            self._give_up(letter, error, attempted=True)
        else:
            self.letters.retry_failed(letter, error, next_at)
            log.info("dead letter %s to %s failed again (%s); next try at %s", letter.id,
                     letter.target, error, next_at.isoformat(timespec="seconds"))
        return next_at

    def _still_due(self, alert: Alert) -> bool:
        """A reminder or escalation whose event was acknowledged or ended meanwhile is not
        sent: staff are on it, or the person is up."""
        if alert.phase not in (REMINDER, ESCALATED):
            return True
        event = self.store.event(alert.event_id)
        due = event is not None and event.ended_at is None and event.acknowledged_at is None
        if not due:
            log.info("alert %s not sent: its event was acknowledged or ended", alert.key,
                     extra={"event_id": alert.event_id})
        return due

    def _send(self, alert: Alert) -> None:
        for sink in self.escalation if alert.phase == ESCALATED else self.sinks:
            try:
                sink(alert)
            except Interrupted:
                raise
            except Exception:  # one broken sink must not silence the others
                log.exception("alert sink %r failed for event %s", sink, alert.event_id)

    def _run(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            self._wake.clear()
            try:
                self.deliver()
                if not stopping and self.retry is not None:
                    self.retry_dead_letters()
            except Interrupted:
                return
            except Exception:  # the database is away: the rows wait in the store
                log.exception("alerts: the outbox cannot be read or marked; trying again")
            if stopping:
                return
            self._wake.wait(self.poll_s)
