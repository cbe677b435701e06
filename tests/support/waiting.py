"""Polling until something is true, for tests that watch another process or a background task."""

from __future__ import annotations

import asyncio
import time


def wait_until(predicate, timeout: float = 3.0, interval: float = 0.01):
    """Poll `predicate` until it returns something truthy; returns it, or fails the test at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


async def eventually(check, within: float = 5.0, interval: float = 0.02):
    """Await `check()` (sync or async) until truthy; returns the value, or the last falsy one at the timeout."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)
