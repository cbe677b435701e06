"""The display state (what badges, filters and the dashboard say) is the policy's own expiry rule, in Python and
in SQL alike, at the boundary instant."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from radbill.policy import DISPLAY_STATES, decide, display_state, display_state_sql, state_condition
from tests.policy.test_decide import REQ, ROW

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EXPIRIES = [None, NOW - timedelta(days=3), NOW - timedelta(microseconds=1), NOW, NOW + timedelta(seconds=1)]
CASES = [(status, expires) for status in ("active", "suspended", "disabled") for expires in EXPIRIES]


@pytest.mark.parametrize("status, expires_at, expected", [
    ("active", None, "active"), ("active", NOW + timedelta(seconds=1), "active"), ("active", NOW, "expired"),
    ("active", NOW - timedelta(days=3), "expired"), ("suspended", NOW - timedelta(days=3), "suspended"),
    ("disabled", NOW - timedelta(days=3), "disabled"),
])
def test_only_an_active_customer_past_its_expiry_shows_as_expired(status, expires_at, expected):
    assert display_state(status, expires_at, NOW) == expected


@pytest.mark.parametrize("expires_at", EXPIRIES)
def test_the_radius_policy_rejects_for_expiry_exactly_when_the_admin_shows_expired(expires_at):
    decision = decide(replace(ROW, expires_at=expires_at), REQ, NOW)
    assert (decision.reason == "expired") == (display_state("active", expires_at, NOW) == "expired")


async def test_the_sql_expression_and_filters_agree_with_the_python_rule(db):
    for status, expires_at in CASES:
        got = await db.fetchrow(
            f"SELECT {display_state_sql('$3')} AS state, "  # noqa: S608 - fixed fragments under test
            + ", ".join(f"{state_condition(s, '$3')} AS {s}" for s in DISPLAY_STATES)
            + " FROM (SELECT $1::text AS status, $2::timestamptz AS expires_at) c", status, expires_at, NOW)
        expected = display_state(status, expires_at, NOW)
        assert got["state"] == expected, (status, expires_at)
        assert [s for s in DISPLAY_STATES if got[s]] == [expected], (status, expires_at)


def test_an_unknown_state_is_refused_not_formatted_into_sql():
    with pytest.raises(ValueError):
        state_condition("active' OR true --", "$1")
