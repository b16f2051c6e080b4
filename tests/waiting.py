"""Waiting for something a thread or process will do, without sleeping longer than needed."""

from __future__ import annotations

import time
from collections.abc import Callable

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
