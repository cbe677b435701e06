"""How a session's octets split across a data-cap boundary when nobody measured it there."""

from datetime import UTC, datetime, timedelta

import pytest

from radbill.policy.usage import octets_before

START = datetime(2026, 11, 30, 17, tzinfo=UTC)


@pytest.mark.parametrize(("boundary_after", "last_after", "expected"), [
    (timedelta(hours=1), timedelta(hours=3), 3000),  # one hour of three before the boundary
    (timedelta(0), timedelta(hours=3), 0),  # began at the boundary: all in the new window
    (-timedelta(hours=1), timedelta(hours=3), 0),
    (timedelta(hours=4), timedelta(hours=3), 9000),  # last seen before the boundary: all in the old window
    (timedelta(hours=1), timedelta(hours=1), 9000),
])
def test_octets_split_by_time(boundary_after, last_after, expected):
    assert octets_before(9000, START, START + last_after, START + boundary_after) == expected
