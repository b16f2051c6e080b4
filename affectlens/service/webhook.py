"""Alerts by webhook: an event as signed JSON, POSTed with retries; a dead letter at the end.

The body is ``{"event": {...}, "idempotency_key": "..."}``, signed with HMAC-SHA256 over the
exact bytes sent, in the header ``X-Affectlens-Signature: sha256=<hex>``, so a receiver can
check that the alert came from this installation and was not altered. The idempotency key is
also the ``Idempotency-Key`` header: one per alert (an event's start, its end), the same on
every retry and on a resend after a crash, so a receiver that has seen it can drop the copy.
Connection failures, timeouts, 429 and 5xx are retried with growing waits; any other 4xx
means the request itself is wrong and is not retried. After the last attempt the alert is
kept in the store's dead letters, which the alert dispatcher retries (``resend``: one
attempt, re-signed with the target's secret of now, same idempotency key). While a target's
last alert ended as a dead letter, the next ones get one attempt each, not the whole series:
a dead receiver does not hold every alert behind it for the full backoff. ``interrupt`` (the
service is stopping) ends a wait between attempts at once; the alert then stays queued.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from affectlens.service.alerts import Interrupted
from affectlens.store import Store
from affectlens.store.db import Alert
from affectlens.store.schema import DeadLetter

SIGNATURE_HEADER = "X-Affectlens-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str
    backoff_s: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)  # waits between attempts
    timeout_s: float = 5.0

    @property
    def attempts(self) -> int:
        return len(self.backoff_s) + 1


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """For receivers (and tests): constant-time comparison."""
    return hmac.compare_digest(sign(secret, body), signature)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class WebhookSender:
    channel = "webhook"

    def __init__(self, store: Store, targets: list[WebhookTarget],
                 sleep: Callable[[float], object] | None = None) -> None:
        self.store = store
        self.targets = targets
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait
        self.client = httpx.Client(follow_redirects=False)
        self._failing: set[str] = set()  # targets whose last alert became a dead letter

    def send(self, alert: Alert) -> dict[str, bool]:
        """Deliver to every target; returns url -> delivered."""
        body = json.dumps(alert.body(), separators=(",", ":")).encode()
        return {t.url: self._deliver(t, alert, body) for t in self.targets}

    def resend(self, letter: DeadLetter) -> str | None:
        """One attempt at a dead letter: None when delivered, else why not."""
        target = next((t for t in self.targets if t.url == letter.target), None)
        if target is None:
            return "no webhook with this URL in the site config now"
        body = letter.payload.encode()
        try:
            sent = json.loads(body)
        except ValueError:
            sent = {}
        event = sent.get("event", sent) if isinstance(sent, dict) else {}
        key = sent.get("idempotency_key") if isinstance(sent, dict) else None
        headers = self._headers(target, body, key or f"dead-letter:{letter.id}",
                                str(event.get("kind", "")) if isinstance(event, dict) else "")
        error, _ = self._attempt(target, body, headers)
        return error

    def interrupt(self) -> None:
        self._stop.set()

    def _headers(self, target: WebhookTarget, body: bytes, key: str,
                 kind: str) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(target.secret, body),
            IDEMPOTENCY_HEADER: key,
            "X-Affectlens-Event": kind,
            "X-Affectlens-Delivery": str(uuid.uuid4()),
        }

    def _attempt(self, target: WebhookTarget, body: bytes,
                 headers: dict[str, str]) -> tuple[str | None, bool]:
        """One POST: (None, _) when taken, else (why not, whether to try again)."""
        try:
            response = self.client.post(target.url, content=body, headers=headers,
                                        timeout=target.timeout_s)
        except httpx.HTTPError as exc:
            error, again = f"{type(exc).__name__}: {exc}", True
        else:
            if response.is_success:
                self._failing.discard(target.url)
                return None, False
            error, again = f"HTTP {response.status_code}", _retryable(response.status_code)
        if self._stop.is_set():
            raise Interrupted(f"stopping; {target.url} answered {error}")
        return error, again

    def _deliver(self, target: WebhookTarget, alert: Alert, body: bytes) -> bool:
        headers = self._headers(target, body, alert.key, alert.kind)
        attempts = 1 if target.url in self._failing else target.attempts
        for attempt in range(attempts):
            error, again = self._attempt(target, body, headers)
            if error is None:
                return True
            if not again:
                break
            if attempt < attempts - 1:
                self.sleep(target.backoff_s[attempt])
                if self._stop.is_set():
                    raise Interrupted(f"stopping between attempts to {target.url}")
        self._failing.add(target.url)
        self.store.add_dead_letter(self.channel, target.url, alert.event_id, body.decode(),
                                   attempt + 1, error)
        return False

    def close(self) -> None:
        self.client.close()
