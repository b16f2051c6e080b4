"""Alerts by webhook: an event as signed JSON, POSTed with retries; a dead letter at the end.

The body is ``{"event": {...}, "idempotency_key": "..."}``, signed with HMAC-SHA256 over the
exact bytes sent, in the header ``X-Affectlens-Signature: sha256=<hex>``, so a receiver can
check that the alert came from this installation and was not altered. The idempotency key is
also the ``Idempotency-Key`` header: one per alert (an event's start, its end), the same on
every retry and on a resend after a crash, so a receiver that has seen it can drop the copy.
Connection failures, timeouts, 429 and 5xx are retried with growing waits; any other 4xx
means the request itself is wrong and is not retried. After the last attempt the alert is
kept in the store's dead letters.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from affectlens.store import Store
from affectlens.store.db import Alert

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
    def __init__(self, store: Store, targets: list[WebhookTarget],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.targets = targets
        self.sleep = sleep
        self.client = httpx.Client(follow_redirects=False)

    def send(self, alert: Alert) -> dict[str, bool]:
        """Deliver to every target; returns url -> delivered."""
        body = json.dumps(alert.body(), separators=(",", ":")).encode()
        return {t.url: self._deliver(t, alert, body) for t in self.targets}

    def _deliver(self, target: WebhookTarget, alert: Alert, body: bytes) -> bool:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(target.secret, body),
            IDEMPOTENCY_HEADER: alert.key,
            "X-Affectlens-Event": alert.kind,
            "X-Affectlens-Delivery": str(uuid.uuid4()),
        }
        error = ""
        for attempt in range(target.attempts):
            try:
                response = self.client.post(target.url, content=body, headers=headers,
                                            timeout=target.timeout_s)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return True
                error = f"HTTP {response.status_code}"
                if not _retryable(response.status_code):
                    break
            if attempt < len(target.backoff_s):
                self.sleep(target.backoff_s[attempt])
        self.store.add_dead_letter("webhook", target.url, alert.event_id, body.decode(),
                                   attempt + 1, error)
        return False

    def close(self) -> None:
        self.client.close()
