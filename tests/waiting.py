"""Waiting for something a thread or process will do, without sleeping longer than needed."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_until(condition: Callable[[], object], timeout: float) -> object:
    """The condition's first truthy value, polled every 0.1 s; the test fails at ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    pytest.fail(f"not within {timeout} s: {getattr(condition, '__name__', condition)}")
