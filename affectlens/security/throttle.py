"""Login attempts per client address in a sliding minute, in memory: the first brake on a
password-guessing client, before the per-name lockout kept in the database."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class AttemptLimiter:
    """At most ``per_minute`` attempts per key in any 60 seconds."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.max_keys = max_keys
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, key: str) -> float:
        """0 if this attempt may go ahead (and counts it), else seconds to wait."""
        at = self.clock()
        with self._lock:
            if len(self._seen) > self.max_keys:  # bounded memory under a spray of addresses
                self._seen = {k: q for k, q in self._seen.items() if q and q[-1] > at - 60}
            times = self._seen.setdefault(key, deque())
            while times and times[0] <= at - 60:
                times.popleft()
            if len(times) >= self.per_minute:
                return times[0] + 60 - at
            times.append(at)
            return 0.0
