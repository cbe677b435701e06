"""Data-cap usage across a window boundary (pure)."""

from __future__ import annotations

from datetime import datetime


def octets_before(octets: int, started: datetime, last_seen: datetime, boundary: datetime) -> int:
    """The share of a session's octets from before `boundary`, in proportion to time: all radacct can tell when
    nobody measured the session at the boundary (the radius_policy view splits closed sessions the same way)."""
    if boundary <= started:
        return 0
    if last_seen <= boundary:
        return octets
    return octets * int((boundary - started).total_seconds() * 1e6) // int((last_seen - started).total_seconds() * 1e6)
