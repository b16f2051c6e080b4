"""Waiting for something a thread or process will do, without sleeping longer than needed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest


def wait_until(condition: Callable[[], object], timeout: float, what: str | None = None,
               ignoring: tuple[type[Exception], ...] = ()) -> object:
    """The condition's first truthy value, polled every 0.1 s; the test fails at ``timeout``.

    ``ignoring``: exceptions that mean "not yet" (a server still starting refuses connections).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := condition():
                return value
        except ignoring:
            pass
        time.sleep(0.1)
    pytest.fail(f"not within {timeout} s: {what or getattr(condition, '__name__', condition)}")


def now_clear_of_the_hour(margin_s: float = 30.0) -> datetime:
    """Now, after waiting out the hour's last ``margin_s`` seconds: for tests of "this hour"
    figures, which would otherwise fail when the hour turns while they run."""
    now = datetime.now(UTC)
    left = 3600 - (now.minute * 60 + now.second + now.microsecond / 1e6)
    if left < margin_s:
        time.sleep(left + 1)
        now = datetime.now(UTC)
    return now
